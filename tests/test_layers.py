"""Each layer pair against finite differences, plus its contract:
shapes, dtypes, purity, no views of dout."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npbackprop import layers
from npbackprop.gradcheck import check_layer
from strategies import dtypes, seeds


def rand(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def layer_cases(rng, N, T, E, H, V, dtype=np.float64):
    """(name, forward, backward, inputs, input names) for every layer."""
    ix = rng.integers(0, V, size=(N, T))
    x = rand(rng, N, H, dtype=dtype) * 2 + 1
    gain = (1 + 0.3 * rand(rng, 1, H)).astype(dtype)
    return [
        ("embedding", layers.embedding_forward, layers.embedding_backward,
         (ix, rand(rng, V, E, dtype=dtype)), ("ix", "C")),
        ("concat", layers.concat_forward, layers.concat_backward,
         (rand(rng, N, T, E, dtype=dtype),), ("emb",)),
        ("linear", layers.linear_forward, layers.linear_backward,
         (rand(rng, N, E, dtype=dtype), rand(rng, E, H, dtype=dtype), rand(rng, H, dtype=dtype)),
         ("x", "W", "b")),
        ("batchnorm", layers.batchnorm_forward, layers.batchnorm_backward,
         (x, gain, rand(rng, 1, H, dtype=dtype)), ("x", "gain", "bias")),
        ("batchnorm_eval", layers.batchnorm_eval_forward, layers.batchnorm_eval_backward,
         (x, rand(rng, H, dtype=dtype), rand(rng, 1, H, dtype=dtype), rand(rng, 1, H, dtype=dtype),
          (np.abs(rand(rng, H)) + 0.5).astype(dtype)), ("x", "gain", "bias", "mean", "var")),
        ("tanh", layers.tanh_forward, layers.tanh_backward, (rand(rng, N, H, dtype=dtype),),
         ("x",)),
        ("cross_entropy", layers.cross_entropy_forward, layers.cross_entropy_backward,
         (rand(rng, N, V, dtype=dtype) * 3, rng.integers(0, V, size=N)), ("logits", "Y")),
    ]


LAYERS = [c[0] for c in layer_cases(np.random.default_rng(0), 2, 1, 1, 1, 2)]
small = st.fixed_dictionaries(dict(N=st.integers(2, 6), T=st.integers(1, 4),
                                   E=st.integers(1, 5), H=st.integers(1, 5),
                                   V=st.integers(2, 6)))


def case(name, seed, sz, dtype=np.float64):
    return next(c for c in layer_cases(np.random.default_rng(seed), **sz, dtype=dtype)
                if c[0] == name)


@pytest.mark.parametrize("name", LAYERS)
@given(seed=seeds, sz=small)
def test_against_finite_differences(name, seed, sz):
    _, fwd, bwd, inputs, names = case(name, seed, sz)
    results = check_layer(fwd, bwd, inputs, names=names, seed=seed)
    assert results and all(r.ok for r in results)


@pytest.mark.parametrize("name", LAYERS)
@given(seed=seeds, sz=small, dtype=dtypes)
def test_gradient_shapes_and_dtypes_match_inputs(name, seed, sz, dtype):
    _, fwd, bwd, inputs, _ = case(name, seed, sz, dtype)
    out, cache = fwd(*inputs)
    assert out.dtype == dtype
    dout = np.random.default_rng(seed).standard_normal(np.shape(out)).astype(dtype)
    grads = bwd(dout, cache)
    # the contract: a tuple, one entry per forward argument, None for an integer input
    assert isinstance(grads, tuple) and len(grads) == len(inputs)
    for g, x in zip(grads, inputs):
        if x.dtype.kind == "f":
            assert g.shape == x.shape and g.dtype == x.dtype
        else:
            assert g is None


@pytest.mark.parametrize("name", LAYERS)
@given(seed=seeds, sz=small)
def test_backward_is_pure(name, seed, sz):
    # same answer twice; dout, cache and inputs untouched; no result is a view of dout
    _, fwd, bwd, inputs, _ = case(name, seed, sz)
    before = [np.copy(x) for x in inputs]
    out, cache = fwd(*inputs)
    dout = np.random.default_rng(seed + 1).standard_normal(np.shape(out))
    dout_before = dout.copy()
    first = bwd(dout, cache)
    second = bwd(dout, cache)
    for a, b in zip(first, second):
        if a is None:
            assert b is None
            continue
        np.testing.assert_array_equal(a, b)
        assert not np.shares_memory(a, dout)
    np.testing.assert_array_equal(dout, dout_before)
    for x, x0 in zip(inputs, before):
        np.testing.assert_array_equal(x, x0)


@given(seed=seeds, sz=small)
def test_float32_close_to_float64(seed, sz):
    # float32 is checked against the float64 path, never by finite differences
    for c64, c32 in zip(layer_cases(np.random.default_rng(seed), **sz),
                        layer_cases(np.random.default_rng(seed), **sz, dtype=np.float32)):
        _, fwd, bwd, in64, _ = c64
        in32 = c32[3]
        o64, k64 = fwd(*in64)
        o32, k32 = fwd(*in32)
        dout = np.random.default_rng(seed).standard_normal(np.shape(o64))
        g64 = bwd(dout, k64)
        g32 = bwd(dout.astype(np.float32), k32)
        for a, b in zip(g32, g64):
            if b is not None:
                np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4, err_msg=c64[0])


def test_embedding_backward_sums_repeated_indices():
    C = np.zeros((3, 2))
    ix = np.array([[1, 1], [1, 2]])
    demb = np.arange(8.0).reshape(2, 2, 2)
    dix, dC = layers.embedding_backward(demb, layers.embedding_forward(ix, C)[1])
    assert dix is None
    np.testing.assert_array_equal(dC, [[0, 0], [0 + 2 + 4, 1 + 3 + 5], [6, 7]])


@given(seed=seeds, n=st.integers(2, 6), v=st.integers(2, 6), dtype=dtypes)
def test_cross_entropy_rows_of_dlogits_sum_to_zero(seed, n, v, dtype):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, v)) * 3).astype(dtype)
    loss, cache = layers.cross_entropy_forward(logits, rng.integers(0, v, n))
    dlogits, dY = layers.cross_entropy_backward(1.0, cache)
    assert dlogits.dtype == dtype and dY is None
    np.testing.assert_allclose(dlogits.sum(1), 0, atol=1e-6 if dtype == np.float32 else 1e-15)


@given(seed=seeds, n=st.integers(2, 6), h=st.integers(1, 5))
def test_batchnorm_columns_have_mean_bias_and_std_gain(seed, n, h):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h)) * 3 + 2
    gain = rng.standard_normal((1, h))
    bias = rng.standard_normal((1, h))
    out, _ = layers.batchnorm_forward(x, gain, bias, eps=0.0)
    np.testing.assert_allclose(out.mean(0, keepdims=True), bias, atol=1e-10)
    np.testing.assert_allclose(out.std(0, ddof=1, keepdims=True), np.abs(gain), rtol=1e-8)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=np.float32)
    loss, cache = layers.cross_entropy_forward(logits, np.array([0, 1]))
    assert np.isfinite(loss) and abs(float(loss) - 500.0) < 1e-3
    assert np.all(np.isfinite(layers.cross_entropy_backward(1.0, cache)[0]))


@pytest.mark.parametrize("bad", [-1, -4, 4, 7])
def test_embedding_refuses_an_index_outside_the_vocabulary(bad):
    # numpy would wrap -1 to the last row of C; a learner's wrong index must not pass silently
    C = np.ones((4, 3))
    with pytest.raises(IndexError, match=rf"index {bad} is out of range for a vocabulary of 4"):
        layers.embedding_forward(np.array([[0, bad], [1, 2]]), C)
    emb, _ = layers.embedding_forward(np.array([[0, 3]]), C)   # the first and last rows are fine
    assert emb.shape == (1, 2, 3)


@pytest.mark.parametrize("bad", [-1, -3, 3, 9])
def test_cross_entropy_refuses_a_target_outside_the_vocabulary(bad):
    logits = np.zeros((2, 3))
    with pytest.raises(IndexError, match=rf"target {bad} is out of range for a vocabulary of 3"):
        layers.cross_entropy_forward(logits, np.array([0, bad]))
    loss, _ = layers.cross_entropy_forward(logits, np.array([0, 2]))
    assert np.isclose(loss, np.log(3))
