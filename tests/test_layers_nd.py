"""The layers part 5 composes: linear over (..., D), batchnorm over (0, 1), flatten
consecutive, running statistics; finite differences in float64, shapes and dtypes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npbackprop import layers
from npbackprop.gradcheck import GradcheckError, check_layer
from strategies import bn_param_shapes, dtypes, nd_sizes, seeds


def param_shape(kind, H):
    return {"H": (H,), "1H": (1, H), "11H": (1, 1, H)}[kind]


def nd_cases(rng, N, k, T, E, H, kind="11H", dtype=np.float64):
    """(name, forward, backward, inputs, names) for each N-D use of a layer."""
    x3 = (rng.standard_normal((N, T, H)) * 2 + 1).astype(dtype)
    p = param_shape(kind, H)
    gain = (1 + 0.3 * rng.standard_normal(p)).astype(dtype)
    bias = rng.standard_normal(p).astype(dtype)
    return [
        ("linear3d", layers.linear_forward, layers.linear_backward,
         (rng.standard_normal((N, T, E)).astype(dtype), rng.standard_normal((E, H)).astype(dtype),
          rng.standard_normal(H).astype(dtype)), ("x", "W", "b")),
        ("linear_nobias", layers.linear_forward, layers.linear_backward,
         (rng.standard_normal((N, T, E)).astype(dtype), rng.standard_normal((E, H)).astype(dtype),
          None), ("x", "W", "b")),
        ("batchnorm3d", lambda x, g, b: layers.batchnorm_forward(x, g, b, axes=(0, 1)),
         layers.batchnorm_backward, (x3, gain, bias), ("x", "gain", "bias")),
        ("batchnorm_eval3d", layers.batchnorm_eval_forward, layers.batchnorm_eval_backward,
         (x3, gain, bias, rng.standard_normal(H).astype(dtype),
          (np.abs(rng.standard_normal(H)) + 0.5).astype(dtype)),
         ("x", "gain", "bias", "mean", "var")),
        ("flatten", layers.flatten_consecutive_forward, layers.flatten_consecutive_backward,
         (rng.standard_normal((N, T, E)).astype(dtype), k), ("x", "k")),
    ]


NAMES = [c[0] for c in nd_cases(np.random.default_rng(0), 2, 1, 1, 1, 1)]


def case(name, seed, sz, kind="11H", dtype=np.float64):
    return next(c for c in nd_cases(np.random.default_rng(seed), **sz, kind=kind, dtype=dtype)
                if c[0] == name)


@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, sz=nd_sizes(), kind=bn_param_shapes)
def test_against_finite_differences(name, seed, sz, kind):
    _, fwd, bwd, inputs, names = case(name, seed, sz, kind)
    results = check_layer(fwd, bwd, inputs, names=names, seed=seed)
    assert results and all(r.ok for r in results)


@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, sz=nd_sizes(), kind=bn_param_shapes, dtype=dtypes)
def test_gradients_have_their_inputs_shapes_and_dtypes(name, seed, sz, kind, dtype):
    _, fwd, bwd, inputs, _ = case(name, seed, sz, kind, dtype)
    out, cache = fwd(*inputs)
    assert out.dtype == dtype
    dout = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    dout_before = dout.copy()
    grads = bwd(dout, cache)
    assert isinstance(grads, tuple) and len(grads) == len(inputs)
    for g, x in zip(grads, inputs):
        if isinstance(x, np.ndarray):
            assert g.shape == x.shape and g.dtype == x.dtype
            assert not np.shares_memory(g, dout)
        else:
            assert g is None
    np.testing.assert_array_equal(dout, dout_before)


@given(seed=seeds, sz=nd_sizes())
def test_flatten_consecutive_shapes_and_squeeze(seed, sz):
    N, k, T, E = sz["N"], sz["k"], sz["T"], sz["E"]
    x = np.random.default_rng(seed).standard_normal((N, T, E))
    out, _ = layers.flatten_consecutive_forward(x, k)
    # the lecture's view(B, T//n, C*n), squeezed when one group is left
    want = x.reshape(N, T // k, k * E)
    np.testing.assert_array_equal(out, want[:, 0] if T == k else want)
    # k == T flattens the whole context, as part 4's emb.view(N, -1)
    whole, _ = layers.flatten_consecutive_forward(x, T)
    np.testing.assert_array_equal(whole, x.reshape(N, T * E))


@pytest.mark.parametrize("T, k", [(3, 2), (4, 3), (2, 0)])
def test_flatten_consecutive_refuses_a_k_that_does_not_divide_T(T, k):
    with pytest.raises(ValueError, match="does not divide"):
        layers.flatten_consecutive_forward(np.zeros((2, T, 3)), k)


def test_batchnorm_refuses_a_single_value_per_statistic():
    with pytest.raises(ValueError, match="at least 2"):
        layers.batchnorm_forward(np.ones((1, 1, 3)), np.ones(3), np.zeros(3), axes=(0, 1))


@given(seed=seeds, sz=nd_sizes(), kind=bn_param_shapes)
def test_batchnorm3d_positions_have_mean_bias_and_std_gain(seed, sz, kind):
    rng = np.random.default_rng(seed)
    N, T, H = sz["N"], sz["T"], sz["H"]
    x = rng.standard_normal((N, T, H)) * 3 + 2
    gain, bias = (rng.standard_normal(param_shape(kind, H)) for _ in range(2))
    out, cache = layers.batchnorm_forward(x, gain, bias, eps=0.0, axes=(0, 1))
    flat = out.reshape(N * T, H)
    np.testing.assert_allclose(flat.mean(0), bias.reshape(H), atol=1e-10)
    np.testing.assert_allclose(flat.std(0, ddof=1), np.abs(gain).reshape(H), rtol=1e-8)
    # the statistics it reports are the batch's over (0, 1), the variance unbiased
    mean, var = cache[5:]
    np.testing.assert_allclose(mean.reshape(H), x.reshape(-1, H).mean(0), rtol=1e-12)
    np.testing.assert_allclose(var.reshape(H), x.reshape(-1, H).var(0, ddof=1), rtol=1e-12)


@given(seed=seeds, h=st.integers(1, 5), momentum=st.sampled_from([0.1, 0.001]), dtype=dtypes)
def test_running_update_is_the_lectures_momentum_update(seed, h, momentum, dtype):
    rng = np.random.default_rng(seed)
    mean, var = rng.standard_normal(h).astype(dtype), rng.random(h).astype(dtype)
    bmean, bvar = rng.standard_normal((1, 1, h)).astype(dtype), rng.random((1, 1, h)).astype(dtype)
    before = [a.copy() for a in (mean, var, bmean, bvar)]
    new_mean, new_var = layers.running_update(mean, var, bmean, bvar, momentum)
    assert new_mean.shape == new_var.shape == (h,) and new_mean.dtype == new_var.dtype == dtype
    tol = dict(rtol=1e-6) if dtype == np.float32 else dict(rtol=1e-15)
    np.testing.assert_allclose(new_mean, (1 - momentum) * before[0] + momentum * before[2][0, 0],
                               **tol)
    np.testing.assert_allclose(new_var, (1 - momentum) * before[1] + momentum * before[3][0, 0],
                               **tol)
    for a, b in zip((mean, var, bmean, bvar), before):
        np.testing.assert_array_equal(a, b)


# -----------------------------------------------------------------------------
# the checker catches the mistakes part 5's layers invite

def bn3d_wrong(mistake):
    def backward(dout, cache):
        raw, var_inv, gain, bias_shape, axes, _, _ = cache
        if mistake == "dim 0 only":     # each position normalised on its own
            axes = (0,)
        n = dout.shape[0] if mistake == "n = N" else dout.shape[0] * dout.shape[1]
        dx = gain * var_inv / n * (n * dout - dout.sum(axes, keepdims=True)
                                   - n / (n - 1) * raw * (dout * raw).sum(axes, keepdims=True))
        dgain, dbias = (raw * dout).sum(0), dout.sum(0)
        if mistake == "no time sum":    # sums over N only, then keeps position 0
            return dx, dgain[:1].reshape(gain.shape), dbias[:1].reshape(bias_shape)
        return dx, dgain.sum(0).reshape(gain.shape), dbias.sum(0).reshape(bias_shape)
    return backward


def bn3d_case():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2, 3)) * 2 + 1
    inputs = (x, 1 + 0.3 * rng.standard_normal((1, 1, 3)), rng.standard_normal((1, 1, 3)))
    return (lambda x, g, b: layers.batchnorm_forward(x, g, b, axes=(0, 1))), inputs


def test_the_written_out_3d_batchnorm_backward_is_right():
    # so that what fails below is each mistake, not the way the backward is written
    fwd, inputs = bn3d_case()
    assert all(r.ok for r in check_layer(fwd, bn3d_wrong("none"), inputs, seed=1))


@pytest.mark.parametrize("mistake", ["dim 0 only", "n = N", "no time sum"])
def test_checker_catches_wrong_3d_batchnorm_backwards(mistake):
    fwd, inputs = bn3d_case()
    with pytest.raises(GradcheckError):
        check_layer(fwd, bn3d_wrong(mistake), inputs, seed=1)


def test_checker_catches_a_flatten_backward_that_swaps_the_neighbours():
    def wrong(dout, cache):
        N, T, E = cache
        # the mistake: undo the flatten with E and k swapped
        return dout.reshape(N, T // 2, E, 2).transpose(0, 1, 3, 2).reshape(cache).copy(), None
    x = np.random.default_rng(2).standard_normal((3, 4, 2))
    with pytest.raises(GradcheckError):
        check_layer(layers.flatten_consecutive_forward, wrong, (x, 2))


def test_checker_catches_a_3d_linear_dW_from_the_first_position_only():
    def wrong(dout, cache):
        x, W, b_shape = cache
        dx, _, db = layers.linear_backward(dout, cache)
        return dx, x[:, 0].T @ dout[:, 0], db
    rng = np.random.default_rng(3)
    inputs = (rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5))
    with pytest.raises(GradcheckError):
        check_layer(layers.linear_forward, wrong, inputs)
