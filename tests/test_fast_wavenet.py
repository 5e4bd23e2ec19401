"""The fast part-5 step is nets.sgd_step's step: same losses, parameters and statistics."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npbackprop import fast_wavenet, nets
from strategies import seeds


def pair(seed, V, E, H, T, dtype):
    state = nets.init_state("wavenet", V, E, H, T, rng=np.random.default_rng(seed), dtype=dtype)
    return (fast_wavenet.Workspace(state, V, E, H, T),
            nets.Workspace("wavenet", state, V, E, H, T))


@given(seed=seeds, N=st.integers(2, 6), T=st.sampled_from([2, 4, 8]), E=st.integers(1, 4),
       H=st.integers(1, 5), V=st.integers(2, 6))
def test_fast_step_equals_the_readable_step_in_float64(seed, N, T, E, H, V):
    fast, readable = pair(seed, V, E, H, T, np.float64)
    rng = np.random.default_rng(seed + 1)
    for _ in range(3):
        Xb, Yb = rng.integers(0, V, (N, T)), rng.integers(0, V, N)
        Xb[0, 0] = (Xb[1, 0] + 1) % V
        lf, ff = fast_wavenet.fast_sgd_step(fast, Xb, Yb, 0.1)
        lr_, fr = nets.workspace_sgd_step(readable, Xb, Yb, 0.1)
        assert ff == fr and lf == pytest.approx(lr_, rel=1e-12)
    for k, v in readable.params.items():
        np.testing.assert_allclose(fast.params[k], v, rtol=1e-10, atol=1e-12, err_msg=k)


def test_both_forms_of_a_stages_dx_and_the_scattered_one_hot_equal_the_readable_step():
    # at N 20, T 8 the stages have 80, 40, 20 rows: the second takes dx @ W.T, the third
    # (W @ dx.T).T; V = 3 makes every character repeat in each column of the one-hot
    N, T = 20, 8
    fast, readable = pair(3, 3, 2, 4, T, np.float64)
    rng = np.random.default_rng(4)
    for _ in range(3):
        Xb, Yb = rng.integers(0, 3, (N, T)), rng.integers(0, 3, N)
        lf, ff = fast_wavenet.fast_sgd_step(fast, Xb, Yb, 0.1)
        lr_, fr = nets.workspace_sgd_step(readable, Xb, Yb, 0.1)
        assert ff and fr and lf == pytest.approx(lr_, rel=1e-12)
    forms = [dxT is None for dxT in fast.buffers[N].dxT[1:]]
    assert True in forms and False in forms                   # both forms were taken
    for k, v in readable.params.items():
        np.testing.assert_allclose(fast.params[k], v, rtol=1e-10, atol=1e-12, err_msg=k)


def test_fast_step_in_float32_stays_close_and_float32(real_dataset):
    fast, readable = pair(0, 27, 24, 128, 8, np.float32)
    rng = np.random.default_rng(0)
    for _ in range(20):
        Xb, Yb = rng.integers(0, 27, (32, 8)), rng.integers(0, 27, 32)
        lf, _ = fast_wavenet.fast_sgd_step(fast, Xb, Yb, 0.1)
        lr_, _ = nets.workspace_sgd_step(readable, Xb, Yb, 0.1)
        assert lf == pytest.approx(lr_, rel=1e-5)
    for k, v in readable.params.items():
        assert fast.params[k].dtype == np.float32
        np.testing.assert_allclose(fast.params[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


def test_a_non_finite_step_changes_nothing():
    fast, _ = pair(1, 5, 2, 3, 4, np.float64)
    fast.params[fast.out + "weight"][0, 0] = np.inf
    before = fast.flat.copy()
    loss, finite = fast_wavenet.fast_sgd_step(fast, np.zeros((3, 4), int) + [[0, 1, 2, 3]],
                                              np.array([0, 1, 2]), 0.1)
    assert not finite
    np.testing.assert_array_equal(fast.flat, before)


@pytest.mark.parametrize("target", [5, 6, -1])
def test_a_target_out_of_range_raises_before_any_update(target):
    # the target's logit is picked by flat index: Yb == V would read the next row's
    fast, _ = pair(1, 5, 2, 3, 4, np.float64)
    before = fast.flat.copy()
    Xb, Yb = np.zeros((3, 4), int) + [[0, 1, 2, 3]], np.array([0, 1, 2])
    Yb[0] = target
    with pytest.raises(IndexError, match=f"target {target} is out of range"):
        fast_wavenet.fast_sgd_step(fast, Xb, Yb, 0.1)
    np.testing.assert_array_equal(fast.flat, before)


def test_logits_past_exps_range_take_the_shifted_softmax_and_stay_equal():
    fast, readable = pair(2, 5, 2, 3, 4, np.float32)
    for ws in (fast, readable):
        ws.params[fast.out + "bias"][...] = [200.0, -200.0, 0.0, 90.0, 1.0]   # exp overflows
    Xb, Yb = np.array([[0, 1, 2, 3], [4, 3, 2, 1], [1, 1, 0, 2]]), np.array([0, 3, 1])
    lf, ff = fast_wavenet.fast_sgd_step(fast, Xb, Yb, 0.1)
    lr_, fr = nets.workspace_sgd_step(readable, Xb, Yb, 0.1)
    assert ff and fr and np.isfinite(lf) and lf == pytest.approx(lr_, rel=1e-5)
    for k, v in readable.params.items():
        np.testing.assert_allclose(fast.params[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


def a_batch():
    return np.zeros((3, 4), int) + [[0, 1, 2, 3]], np.array([0, 1, 2])


@pytest.mark.parametrize("char", [-1, 5])
def test_a_character_out_of_range_raises_before_any_update(char):
    # the forward's gather would wrap -1 to row V-1 and the scattered one-hot put its 1
    # in another block's column: refused before anything changes
    fast, _ = pair(1, 5, 2, 3, 4, np.float64)
    before = fast.flat.copy()
    Xb, Yb = a_batch()
    Xb[1, 3] = char
    with pytest.raises(IndexError, match=f"character {char} is out of range for a "
                                         "vocabulary of 5"):
        fast_wavenet.fast_sgd_step(fast, Xb, Yb, 0.1)
    np.testing.assert_array_equal(fast.flat, before)


@pytest.mark.parametrize("which, shape, message", [
    ("X", (3, 5), r"Xb must have shape \(N, 4\), one context of block_size 4 a row, got \(3, 5\)"),
    ("X", (12,), r"Xb must have shape \(N, 4\), .* got \(12,\)"),
    ("Y", (2,), r"Yb must have shape \(3,\), one target per row of Xb, got \(2,\)")])
def test_a_batch_of_the_wrong_shape_is_refused_by_name(which, shape, message):
    fast, _ = pair(1, 5, 2, 3, 4, np.float64)
    before = fast.flat.copy()
    Xb, Yb = a_batch()
    bad = np.ones(shape, np.int64)
    with pytest.raises(ValueError, match=message):
        fast_wavenet.fast_sgd_step(fast, *((bad, Yb) if which == "X" else (Xb, bad)), 0.1)
    np.testing.assert_array_equal(fast.flat, before)


@pytest.mark.parametrize("which", ["X", "Y"])
def test_a_batch_of_floats_is_refused(which):
    fast, _ = pair(1, 5, 2, 3, 4, np.float64)
    before = fast.flat.copy()
    Xb, Yb = a_batch()
    what = "characters" if which == "X" else "targets"
    with pytest.raises(TypeError, match=f"{what} must be integers, got float64"):
        fast_wavenet.fast_sgd_step(fast, *((Xb.astype(float), Yb) if which == "X"
                                           else (Xb, Yb.astype(float))), 0.1)
    np.testing.assert_array_equal(fast.flat, before)


def test_a_batch_of_one_is_refused():
    # batchnorm's Bessel-corrected variance divides by N*T' - 1, at the last stage N - 1
    fast, _ = pair(1, 5, 2, 3, 4, np.float64)
    before = fast.flat.copy()
    Xb, Yb = a_batch()
    with pytest.raises(ValueError, match="batch_size must be at least 2 .* got 1"):
        fast_wavenet.fast_sgd_step(fast, Xb[:1], Yb[:1], 0.1)
    np.testing.assert_array_equal(fast.flat, before)
    assert fast_wavenet.fast_sgd_step(fast, Xb[:2], Yb[:2], 0.1)[1]


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_workspace_takes_only_float32_or_float64(dtype):
    state = nets.init_state("wavenet", 5, 2, 3, 4, rng=np.random.default_rng(0),
                            dtype=np.float64)
    with pytest.raises(TypeError, match=f"all float32 or all float64, got {np.dtype(dtype)}"):
        fast_wavenet.Workspace({k: v.astype(dtype) for k, v in state.items()}, 5, 2, 3, 4)
    mixed = dict(state, **{k: v.astype(np.float32) for k, v in list(state.items())[:1]})
    with pytest.raises(TypeError, match="got float32, float64"):
        fast_wavenet.Workspace(mixed, 5, 2, 3, 4)


def test_a_workspace_that_skips_the_batch_checks_takes_the_same_steps():
    # the trainer's (its split checked once); the default one still refuses a bad batch
    V, E, H, T = 5, 2, 3, 4
    state = nets.init_state("wavenet", V, E, H, T, rng=np.random.default_rng(2),
                            dtype=np.float64)
    checked = fast_wavenet.Workspace(state, V, E, H, T)
    unchecked = fast_wavenet.Workspace(state, V, E, H, T, check_batches=False)
    rng = np.random.default_rng(2)
    for _ in range(10):
        Xb, Yb = rng.integers(0, V, (6, T)), rng.integers(0, V, 6)
        assert (fast_wavenet.fast_sgd_step(checked, Xb, Yb, 0.1)
                == fast_wavenet.fast_sgd_step(unchecked, Xb, Yb, 0.1))
        np.testing.assert_array_equal(checked.flat, unchecked.flat)
    Yb[0] = V
    with pytest.raises(IndexError, match="target 5 is out of range"):
        fast_wavenet.fast_sgd_step(checked, Xb, Yb, 0.1)
