"""Exercise 1 against PyTorch: the stored reference without torch, then, when
torch is installed, the reference regenerated live and a small random net
checked against autograd.

The fixture is npbackprop/torch_reference.npz, written by
tests/fixtures/make_torch_reference.py. Elementwise tolerance
|ours - torch| <= atol + rtol * |torch|: float64 rtol 1e-10, atol 1e-13;
float32 rtol 1e-5, atol 1e-7.
"""

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from npbackprop import chunked, model
from npbackprop.check.fixture import FIXTURE_PATH, load_reference
from npbackprop.gradcheck import compare
from npbackprop.names import GRAD_NAMES, INTERMEDIATES, PARAM_NAMES

TOL = {"f64": dict(rtol=1e-10, atol=1e-13), "f32": dict(rtol=1e-5, atol=1e-7)}
DTYPES = {"f64": np.float64, "f32": np.float32}
SCRIPT = Path(__file__).parent / "fixtures" / "make_torch_reference.py"

# float32 forward values: a value that lands near zero after a sum (a matmul, or
# logits minus their max) carries the rounding of its summands, which numpy and
# torch add in different orders (each ~1e-7 from the float64 truth at
# |hprebn| ~ 0.01). Its error scales with the tensor's magnitude, not its own,
# so values get a few float32 ulps of the tensor's largest element as atol.
F32_ULPS = 4 * float(np.finfo(np.float32).eps)


@functools.cache
def reference(tag):
    return load_reference(DTYPES[tag])


@functools.cache
def ours(tag):
    """(cache, grads, fused grads) of our code on the fixture's inputs; computed once."""
    ref = reference(tag)
    _, cache = chunked.forward(ref.params, ref.Xb, ref.Yb)
    grads = chunked.backward(cache)
    _, fused = model.forward_backward(ref.params, ref.Xb, ref.Yb)
    return cache, grads, fused


def check(name, got, want, tag, **tol):
    """Shape, dtype and elementwise values; the message names the tensor."""
    result = compare(f"{tag} {name}", got, want, dtype=want.dtype, **(tol or TOL[tag]))
    assert result.ok, result.report()


def cases(names):
    return [pytest.param(tag, name, id=f"{tag}-{name}") for tag in DTYPES for name in names]


# -----------------------------------------------------------------------------
# the stored reference, no torch needed

@pytest.mark.parametrize("tag", DTYPES)
def test_fixture_holds_the_lecture_setup(tag):
    ref = reference(tag)
    assert tuple(ref.params) == PARAM_NAMES
    assert tuple(ref.values) == INTERMEDIATES
    assert tuple(ref.grads) == GRAD_NAMES
    assert ref.Xb.shape == (32, 3) and ref.Xb.dtype == np.int64
    assert ref.Yb.shape == (32,) and ref.Yb.dtype == np.int64
    assert ref.params["C"].shape == (27, 10) and ref.params["W1"].shape == (30, 64)
    for d in (ref.params, ref.values, ref.grads):
        assert all(a.dtype == DTYPES[tag] for a in d.values())
    # every gradient is shaped like its tensor
    tensors = {**ref.values, **ref.params}
    assert all(g.shape == tensors[k].shape for k, g in ref.grads.items())


def test_fixture_dtypes_share_their_inputs():
    f64, f32 = reference("f64"), reference("f32")
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(f32.params[k].astype(np.float64), f64.params[k])
    np.testing.assert_array_equal(f32.Xb, f64.Xb)
    np.testing.assert_array_equal(f32.Yb, f64.Yb)


@pytest.mark.parametrize("tag", DTYPES)
def test_shapes_and_dtypes_match_the_fixture(tag):
    # every intermediate, gradient and parameter, in both dtypes
    ref = reference(tag)
    cache, grads, fused = ours(tag)
    for mine, theirs in ((cache, ref.values), (grads, ref.grads), (fused, ref.params)):
        for k, want in theirs.items():
            assert (mine[k].shape, mine[k].dtype) == (want.shape, want.dtype), k


@pytest.mark.parametrize("tag, name", cases(INTERMEDIATES))
def test_chunked_forward_value_matches_torch(tag, name):
    cache, _, _ = ours(tag)
    want = reference(tag).values[name]
    tol = TOL[tag]
    if tag == "f32":
        tol = dict(tol, atol=max(tol["atol"], F32_ULPS * float(np.abs(want).max())))
    check(name, np.asarray(cache[name]), want, tag, **tol)


@pytest.mark.parametrize("tag, name", cases(GRAD_NAMES))
def test_chunked_backward_matches_torch(tag, name):
    _, grads, _ = ours(tag)
    check("d" + name, grads[name], reference(tag).grads[name], tag)


@pytest.mark.parametrize("tag, name", cases(PARAM_NAMES))
def test_fused_backward_matches_torch(tag, name):
    _, _, fused = ours(tag)
    check("d" + name, fused[name], reference(tag).grads[name], tag)


def test_reference_catches_the_classic_mistakes():
    ref = reference("f64")
    cache, grads, _ = ours("f64")
    n, Xb = cache["n"], cache["Xb"]
    # dC[ix] += demb keeps one row per repeated character instead of their sum
    dC = np.zeros_like(cache["C"])
    dC[Xb.reshape(-1)] += grads["emb"].reshape(-1, dC.shape[1])
    assert not compare("C", dC, ref.grads["C"], **TOL["f64"]).ok
    # batchnorm with the biased variance (1/n where the lecture has 1/(n-1))
    biased = cache["bndiff2"].sum(0, keepdims=True) / n
    _, wrong = chunked.forward(ref.params, ref.Xb, ref.Yb, given={"bnvar": biased})
    assert not compare("W1", chunked.backward(wrong)["W1"], ref.grads["W1"], **TOL["f64"]).ok
    # a float32 gradient is no stand-in for a float64 one at float64 tolerance
    f32 = ours("f32")[1]["W1"].astype(np.float64)
    assert not compare("W1", f32, ref.grads["W1"], **TOL["f64"]).ok


# -----------------------------------------------------------------------------
# live torch

@functools.cache
def script():
    """The fixture's own script, imported as a module (it needs torch)."""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("make_torch_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_live_torch_redraws_the_stored_parameters_and_batch():
    torch, mk = pytest.importorskip("torch"), script()
    g = torch.Generator().manual_seed(mk.SEED)
    params = mk.lecture_params(g)
    with np.load(FIXTURE_PATH) as f:
        ix = torch.randint(0, int(f["n_train"]), (mk.BATCH_SIZE,), generator=g).numpy()
        np.testing.assert_array_equal(ix, f["ix"])
    for tag, dtype in DTYPES.items():
        for k in PARAM_NAMES:
            np.testing.assert_array_equal(params[k].astype(dtype), reference(tag).params[k],
                                          err_msg=f"{tag} {k}")


@functools.cache
def live(tag):
    ref = reference(tag)
    return script().lecture_forward_backward(ref.params, ref.Xb, ref.Yb)


@pytest.mark.parametrize("kind", ["value", "grad"])
def test_live_torch_reproduces_the_float64_fixture(kind):
    # same computation, same inputs: only a different CPU kernel could move a bit
    values, grads = live("f64")
    ref = reference("f64")
    mine, theirs = (values, ref.values) if kind == "value" else (grads, ref.grads)
    assert tuple(mine) == tuple(theirs)
    for k in theirs:
        check(k, mine[k], theirs[k], "f64", rtol=1e-12, atol=1e-15)


N, T, E, H, V = 5, 2, 3, 4, 6


@functools.cache
def small_net():
    """A random float64 net of odd small sizes: (our grads, torch's grads)."""
    rng = np.random.default_rng(20240607)
    params = {
        "C": rng.standard_normal((V, E)),
        "W1": rng.standard_normal((T * E, H)) / (T * E) ** 0.5,
        "b1": rng.standard_normal(H) * 0.1,
        "W2": rng.standard_normal((H, V)) * 0.5,
        "b2": rng.standard_normal(V) * 0.1,
        "bngain": 1.0 + 0.3 * rng.standard_normal((1, H)),
        "bnbias": 0.3 * rng.standard_normal((1, H)),
    }
    # 10 picks from 6 characters: some repeat, so dC must add rows
    Xb = rng.integers(0, V, size=(N, T))
    Yb = rng.integers(0, V, size=N)
    _, cache = chunked.forward(params, Xb, Yb)
    _, torch_grads = script().lecture_forward_backward(params, Xb, Yb)
    return chunked.backward(cache), torch_grads


@pytest.mark.parametrize("name", GRAD_NAMES)
def test_small_random_net_matches_autograd(name):
    grads, torch_grads = small_net()
    check("d" + name, grads[name], torch_grads[name], "f64")
