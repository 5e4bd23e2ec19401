"""The fast training step against the layered one: same numbers up to rounding."""

import numpy as np
import pytest
from hypothesis import given

from npbackprop import fast, model
from npbackprop.names import PARAM_NAMES
from strategies import make_case, seeds, sizes

LR = 0.1


def layered_step(params, Xb, Yb, lr=LR):
    """forward_backward and the update, on a copy: (loss, grads, new params)."""
    loss, grads = model.forward_backward(params, Xb, Yb)
    return float(loss), grads, {k: params[k] - lr * grads[k] for k in PARAM_NAMES}


def assert_step_matches(params, Xb, Yb, rtol):
    loss, grads, after = layered_step(params, Xb, Yb)
    ws = fast.Workspace(params, Xb.shape[0])
    fast_loss, finite = fast.fast_sgd_step(ws, Xb, Yb, LR)
    assert finite
    assert fast_loss == pytest.approx(loss, rel=rtol)
    biggest = max(np.abs(grads[k]).max() for k in PARAM_NAMES)
    for k in PARAM_NAMES:
        assert ws.params[k].dtype == params[k].dtype and ws.params[k].shape == params[k].shape
        scale = np.abs(after[k]).max()
        np.testing.assert_allclose(ws.params[k], after[k], rtol=rtol, atol=rtol * scale,
                                   err_msg=f"{k} after the update")
        # ws.grads holds lr * grad. Gradients behind batchnorm are differences of larger
        # terms (at N=2 all but eps cancels; db1 is exactly 0 here and rounding noise
        # there), so they are judged at the scale of the largest gradient
        np.testing.assert_allclose(ws.grads[k] / LR, grads[k], rtol=rtol, atol=rtol * biggest,
                                   err_msg=f"d{k}")
    assert not ws.grads["b1"].any()


@given(seeds, sizes())
def test_fast_step_equals_layered_float64(seed, sz):
    assert_step_matches(*make_case(seed, **sz), rtol=1e-12)


@given(seeds, sizes())
def test_fast_step_is_close_to_layered_float32(seed, sz):
    assert_step_matches(*make_case(seed, **sz, dtype=np.float32), rtol=2e-4)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-4)])
@pytest.mark.parametrize("N, T, E, H, V", [(32, 3, 10, 200, 27), (7, 2, 3, 5, 4), (2, 1, 1, 1, 2)])
def test_fast_step_at_lecture_and_odd_sizes(dtype, rtol, N, T, E, H, V):
    params, Xb, Yb = make_case(N + H, N, T, E, H, V, dtype=dtype)
    # every character repeated: the scatter into C must add up repeats
    Xb[N // 2:] = Xb[0]
    Xb[0, 0] = (Xb[1, 0] + 1) % V
    assert_step_matches(params, Xb, Yb, rtol)


def test_many_steps_track_the_layered_steps():
    params, _, _ = make_case(0, 16, 3, 4, 12, 9)
    rng = np.random.default_rng(1)
    ws = fast.Workspace(params, 16)
    layered = {k: v.copy() for k, v in params.items()}
    for _ in range(50):
        Xb, Yb = rng.integers(0, 9, (16, 3)), rng.integers(0, 9, 16)
        loss, finite = fast.fast_sgd_step(ws, Xb, Yb, LR)
        ref_loss, ref_finite = model.sgd_step(layered, Xb, Yb, LR)
        assert finite and ref_finite and loss == pytest.approx(ref_loss, rel=1e-11)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(ws.params[k], layered[k], rtol=1e-10,
                                   atol=1e-10 * np.abs(layered[k]).max(), err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", ["overflow", "underflow", "subnormal"])
def test_logits_out_of_exps_range_take_the_shifted_softmax(dtype, where):
    # logits far above exp's range overflow it, far below underflow it to 0, and just
    # below it make every count subnormal, good to a few digits: the step must notice
    # and redo the softmax shifted by each row's max, as the layered one does
    shift = {"overflow": 1e3, "underflow": -1e4,
             "subnormal": -100.0 if dtype == np.float32 else -740.0}[where]
    params, Xb, Yb = make_case(3, 8, 2, 3, 4, 5, dtype=dtype)
    params["b2"] = (params["b2"] + shift).astype(dtype)
    with np.errstate(over="ignore", under="ignore"):
        assert_step_matches(params, Xb, Yb, rtol=1e-12 if dtype == np.float64 else 2e-4)


def test_a_step_carries_nothing_over_in_the_workspace():
    params, Xb, Yb = make_case(4, 6, 3, 4, 5, 7)
    fresh = fast.Workspace(params, 6)
    used = fast.Workspace(params, 6)
    other_X, other_Y = np.roll(Xb, 1, axis=0), np.roll(Yb, 2)
    for _ in range(3):
        fast.fast_sgd_step(used, other_X, other_Y, 0.5)
    used.flat[...] = fresh.flat
    assert fast.fast_sgd_step(used, Xb, Yb, LR) == fast.fast_sgd_step(fresh, Xb, Yb, LR)
    np.testing.assert_array_equal(used.flat, fresh.flat)
    np.testing.assert_array_equal(used.gflat, fresh.gflat)


def test_workspace_copies_params_into_one_flat_buffer():
    params, _, _ = make_case(5, 4, 3, 2, 6, 5, dtype=np.float32)
    ws = fast.Workspace(params, 4)
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(ws.params[k], params[k])
        assert np.shares_memory(ws.params[k], ws.flat)
        assert np.shares_memory(ws.grads[k], ws.gflat)
        assert not np.shares_memory(ws.params[k], params[k])
        assert ws.params[k].shape == ws.grads[k].shape == params[k].shape
        assert ws.params[k].dtype == ws.grads[k].dtype == np.float32
    # the step's own buffers are contiguous: W2 as a (V, Hp) transpose with b2 its column
    # H (tricks "W2 transposed", "b2 row"), W1 (T*E, Hp), the hidden vectors (Hp,)
    H, Hp = 6, 16
    assert ws.Hp == Hp
    for a in ws.step_params[:4] + ws.step_params[5:] + ws.step_grads[:4] + ws.step_grads[5:]:
        assert a.flags.c_contiguous
    w2buf = ws.step_params[3]
    assert w2buf.shape == (5, Hp)
    np.testing.assert_array_equal(w2buf[:, :H], params["W2"].T)
    np.testing.assert_array_equal(w2buf[:, H], params["b2"])
    assert not w2buf[:, H + 1:].any() and not ws.step_params[1][:, H:].any()
    assert ws.flat.dtype == ws.gflat.dtype == np.float32


def test_workspace_buffers_start_on_cache_lines():
    # every buffer and parameter view on a 64-byte boundary: about 1-2 us of the
    # lecture-size step (benchmarks/RESULTS.md), lost silently if one slips
    for dtype in (np.float32, np.float64):
        params, _, _ = make_case(11, 32, 3, 10, 200, 27, dtype=dtype)
        ws = fast.Workspace(params, 32)
        # but two columns, which the step never reads as arrays: b2 in the W2 buffer and the
        # ones it meets in h (trick "b2 row"); the step reads the whole buffers
        arrays = {k: v for k, v in vars(ws).items() if isinstance(v, np.ndarray) and v.ndim
                  and k != "h_ones"}
        arrays.update({f"params[{k!r}]": ws.params[k] for k in PARAM_NAMES if k != "b2"})
        arrays.update({f"grads[{k!r}]": ws.grads[k] for k in PARAM_NAMES if k != "b2"})
        arrays.update({f"step_params[{i}]": a for i, a in enumerate(ws.step_params) if i != 4})
        assert len(arrays) > 40
        for name, a in arrays.items():
            assert a.ctypes.data % 64 == 0, (name, dtype)


def test_non_finite_gradients_leave_the_params_alone():
    params, Xb, Yb = make_case(6, 5, 2, 3, 4, 5)
    params["W2"][0, 0] = np.nan
    ws = fast.Workspace(params, 5)
    before = ws.flat.copy()
    loss, finite = fast.fast_sgd_step(ws, Xb, Yb, LR)
    assert not finite
    np.testing.assert_array_equal(ws.flat, before)
    assert model.sgd_step({k: v.copy() for k, v in params.items()}, Xb, Yb, LR)[1] is False


@pytest.mark.parametrize("dtype, values, expected", [
    (np.float32, [0.0, -1.5, 2.0], True),
    (np.float32, [3e19, -1e30, 1.0], True),   # finite, though the sum of squares overflows
    (np.float64, [1e200, -1.0], True),        # the same in float64
    (np.float32, [1.0, np.inf], False), (np.float64, [-np.inf, 1.0], False),
    (np.float32, [np.nan, 0.0], False), (np.float64, [0.0, np.nan], False),
])
def test_all_finite_is_exact(dtype, values, expected):
    assert fast.all_finite(np.array(values, dtype)) is expected


def test_a_huge_but_finite_step_is_applied():
    # lr 1e25 makes lr * grad ~1e22: finite, though its sum of squares overflows float32
    params, Xb, Yb = make_case(6, 5, 2, 3, 4, 5)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    ws = fast.Workspace(params, 5)
    assert np.isinf(np.float32(1e22) ** 2)
    loss, finite = fast.fast_sgd_step(ws, Xb, Yb, 1e25)
    assert finite and np.isfinite(ws.gflat).all() and np.abs(ws.gflat).max() > 1e19
    assert not np.array_equal(ws.params["W2"], params["W2"])


def test_refusals():
    params, Xb, Yb = make_case(7, 5, 2, 3, 4, 5)
    ws = fast.Workspace(params, 5)
    with pytest.raises(ValueError, match="made for 5"):
        fast.fast_sgd_step(ws, Xb[:4], Yb[:4], LR)
    with pytest.raises(ValueError, match="one dtype"):
        fast.Workspace({**params, "C": params["C"].astype(np.float32)}, 5)
    # an index out of range raises before any update
    before = ws.flat.copy()
    bad = Xb.copy()
    bad[0, 0] = 99
    with pytest.raises(IndexError):
        fast.fast_sgd_step(ws, bad, Yb, LR)
    np.testing.assert_array_equal(ws.flat, before)


@pytest.mark.parametrize("target", [5, 6, -1, -5])
def test_a_target_out_of_range_raises_before_any_update(target):
    # Yb == V would read the next row's logit through the flat index: refused instead
    params, Xb, Yb = make_case(7, 5, 2, 3, 4, 5)
    ws = fast.Workspace(params, 5)
    before = ws.flat.copy()
    bad = Yb.copy()
    bad[1] = target
    with pytest.raises(IndexError, match=f"target {target} is out of range"):
        fast.fast_sgd_step(ws, Xb, bad, LR)
    np.testing.assert_array_equal(ws.flat, before)
    # int32 targets are checked too, and valid ones train
    with pytest.raises(IndexError):
        fast.fast_sgd_step(ws, Xb, bad.astype(np.int32), LR)
    assert fast.fast_sgd_step(ws, Xb, Yb.astype(np.int32), LR)[1]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 1e-5)])
def test_calibrate_equals_the_statistics_of_the_preactivations(dtype, rtol):
    # fast.calibrate never forms the (M, H) pre-activations; here they are, in float64
    params, _, _ = make_case(8, 2, 3, 4, 30, 9, dtype=dtype)
    X = np.random.default_rng(9).integers(0, 9, (5000, 3))
    bnmean, bnvar = fast.calibrate(params, X)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    hpreact = p64["C"][X].reshape(len(X), -1) @ p64["W1"] + p64["b1"]
    assert bnmean.dtype == bnvar.dtype == dtype and bnmean.shape == bnvar.shape == (1, 30)
    np.testing.assert_allclose(bnmean, hpreact.mean(0, keepdims=True), rtol=rtol,
                               atol=rtol * np.abs(hpreact).max())
    np.testing.assert_allclose(bnvar, hpreact.var(0, ddof=1, keepdims=True), rtol=rtol)


def test_workspace_needs_two_rows():
    params, _, _ = make_case(10, 2, 1, 2, 3, 4)
    with pytest.raises(ValueError, match="at least 2"):
        fast.Workspace(params, 1)


def test_fast_calibration_equals_the_lectures():
    # fast.calibrate (covariance) against model.calibrate (the lecture's cell), float64
    params, _, _ = make_case(11, 2, 3, 4, 20, 9)
    X = np.random.default_rng(12).integers(0, 9, (3000, 3))
    for a, b in zip(fast.calibrate(params, X), model.calibrate(params, X)):
        assert a.shape == b.shape == (1, 20) and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("T, H", [(3, 20), (8, 6)])      # T*E = 12 < H, and 32 > H (direct)
def test_calibration_in_chunks_equals_one_pass(T, H):
    # memory must not grow with the split: chunks of any size give the same statistics
    params, _, _ = make_case(13, 2, T, 4, H, 9)
    X = np.random.default_rng(14).integers(0, 9, (1000, T))
    whole = fast.calibrate(params, X, chunk=10**6)
    for chunk in (1, 7, 333):
        for a, b in zip(fast.calibrate(params, X, chunk=chunk), whole):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("T, H", [(8, 6), (3, 12)])      # T*E 32 > H 6, and 12 == H
def test_calibration_of_a_long_context_sums_the_preactivations(T, H):
    # T*E > H takes the pre-activations' sums (T*E*H a row, not (T*E)^2): the lecture's numbers
    params, _, _ = make_case(15, 2, T, 4, H, 9)
    X = np.random.default_rng(16).integers(0, 9, (3000, T))
    for a, b in zip(fast.calibrate(params, X, chunk=1000), model.calibrate(params, X)):
        assert a.shape == b.shape == (1, H) and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_the_step_exposes_the_batch_statistics_before_its_update(dtype, rtol):
    params, Xb, Yb = make_case(5, 8, 3, 4, 6, 27, dtype)
    hprebn = model._preact(params, Xb)                                         # (N, H)
    plain, keeping = fast.Workspace(params, 8), fast.Workspace(params, 8)
    keeping.keep_stats = True
    fast.fast_sgd_step(plain, Xb, Yb, LR)
    fast.fast_sgd_step(keeping, Xb, Yb, LR)
    scale = np.abs(hprebn).max()
    np.testing.assert_allclose(keeping.bnmean, hprebn.mean(0), rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(keeping.bnvar, hprebn.var(0, ddof=1), rtol=rtol)
    # keeping the mean changes nothing else the step computes
    np.testing.assert_array_equal(plain.flat, keeping.flat)
    np.testing.assert_array_equal(plain.gflat, keeping.gflat)


@pytest.mark.parametrize("char", [-1, 5, -5])
def test_a_character_out_of_range_raises_before_any_update(char):
    # C.take would wrap -1 to row V-1 and train on the wrong embedding: refused instead
    params, Xb, Yb = make_case(7, 5, 2, 3, 4, 5)
    ws = fast.Workspace(params, 5)
    before = ws.flat.copy()
    bad = Xb.copy()
    bad[2, 1] = char
    with pytest.raises(IndexError, match=f"character {char} is out of range for a "
                                         "vocabulary of 5"):
        fast.fast_sgd_step(ws, bad, Yb, LR)
    np.testing.assert_array_equal(ws.flat, before)
    with pytest.raises(IndexError, match=f"character {char} is out"):
        fast.fast_sgd_step(ws, bad.astype(np.int32), Yb, LR)
    np.testing.assert_array_equal(ws.flat, before)
    assert fast.fast_sgd_step(ws, Xb.astype(np.int32), Yb, LR)[1]


@pytest.mark.parametrize("which, shape, message", [
    ("X", (5, 3), r"Xb must have shape \(N, 2\), one context of block_size 2 a row, got \(5, 3\)"),
    ("X", (10,), r"Xb must have shape \(N, 2\), .* got \(10,\)"),
    ("X", (4, 2), "a batch of 4 rows, but the workspace was made for 5"),
    ("Y", (4,), r"Yb must have shape \(5,\), one target per row of Xb, got \(4,\)"),
    ("Y", (5, 1), r"Yb must have shape \(5,\), .* got \(5, 1\)")])
def test_a_batch_of_the_wrong_shape_is_refused_by_name(which, shape, message):
    params, Xb, Yb = make_case(7, 5, 2, 3, 4, 5)
    ws = fast.Workspace(params, 5)
    before = ws.flat.copy()
    bad = np.ones(shape, np.int64)
    with pytest.raises(ValueError, match=message):
        fast.fast_sgd_step(ws, *((bad, Yb) if which == "X" else (Xb, bad)), LR)
    np.testing.assert_array_equal(ws.flat, before)


@pytest.mark.parametrize("which", ["X", "Y"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, bool])
def test_a_batch_of_non_integers_is_refused(which, dtype):
    params, Xb, Yb = make_case(7, 5, 2, 3, 4, 5)
    ws = fast.Workspace(params, 5)
    before = ws.flat.copy()
    what = "characters" if which == "X" else "targets"
    with pytest.raises(TypeError, match=f"{what} must be integers, got {np.dtype(dtype)}"):
        fast.fast_sgd_step(ws, *((Xb.astype(dtype), Yb) if which == "X"
                                 else (Xb, Yb.astype(dtype))), LR)
    np.testing.assert_array_equal(ws.flat, before)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int64])
def test_workspace_takes_only_float32_or_float64(dtype):
    params, _, _ = make_case(7, 5, 2, 3, 4, 5)
    with pytest.raises(TypeError, match=f"float32 or float64, got {np.dtype(dtype)}"):
        fast.Workspace({k: v.astype(dtype) for k, v in params.items()}, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_padding_of_the_b2_row_stays_zero_and_b2_is_what_users_read(dtype):
    # h is [h, 1, 0...] and W2's buffer [W2.T, b2, 0...]: after many steps the padding of
    # every buffer is still exactly zero, in params and grads, and b2 trains as b2
    params, _, _ = make_case(17, 8, 3, 4, 7, 6, dtype=dtype)
    ws = fast.Workspace(params, 8)
    layered = {k: v.copy() for k, v in params.items()}
    rng = np.random.default_rng(18)
    H = 7
    for _ in range(20):
        Xb, Yb = rng.integers(0, 6, (8, 3)), rng.integers(0, 6, 8)
        assert fast.fast_sgd_step(ws, Xb, Yb, LR)[1] and model.sgd_step(layered, Xb, Yb, LR)[1]
        for bufs in (ws.step_params, ws.step_grads):
            C, W1, b1, W2, b2, bngain, bnbias = bufs
            assert not W1[:, H:].any() and not W2[:, H + 1:].any()
            for v in (b1, bngain, bnbias):
                assert not v[H:].any()
        np.testing.assert_array_equal(ws.h[:, H], 1)
        assert not ws.h[:, H + 1:].any()
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for k in ("b2", "W2"):
        np.testing.assert_allclose(ws.params[k], layered[k], rtol=rtol,
                                   atol=rtol * np.abs(layered[k]).max(), err_msg=k)
    # a write through the view a user holds is what the step reads
    ws.params["b2"][...] = 0
    assert not ws.step_params[3][:, H].any()


def test_a_workspace_that_skips_the_batch_checks_takes_the_same_steps():
    # the trainer's (its split checked once): the same numbers over many steps, while the
    # default workspace still refuses a bad batch
    params, _, _ = make_case(3, 6, 3, 4, 5, 7, dtype=np.float32)
    checked, unchecked = fast.Workspace(params, 6), fast.Workspace(params, 6, check_batches=False)
    rng = np.random.default_rng(3)
    for _ in range(20):
        Xb, Yb = rng.integers(0, 7, (6, 3)), rng.integers(0, 7, 6)
        assert fast.fast_sgd_step(checked, Xb, Yb, LR) == fast.fast_sgd_step(unchecked, Xb, Yb,
                                                                               LR)
        np.testing.assert_array_equal(checked.flat, unchecked.flat)
    Xb[0, 0] = -1
    with pytest.raises(IndexError, match="character -1 is out of range"):
        fast.fast_sgd_step(checked, Xb, Yb, LR)
