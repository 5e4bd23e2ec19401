"""The checker itself: it must catch deliberately wrong gradients and say
what, where and how to reproduce."""

import numpy as np
import pytest

from npbackprop import layers
from npbackprop.gradcheck import (GradcheckError, check_layer, check_named, compare,
                                  numerical_gradient)


def bn_inputs(seed=3, n=5, h=4):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, h)) * 2 + 1, 1 + 0.3 * rng.standard_normal((1, h)),
            rng.standard_normal((1, h)))


def bn_backward_no_variance_term(dout, cache):
    raw, var_inv, gain, bias_shape = cache[:4]
    n = dout.shape[0]
    dx = gain * var_inv / n * (n * dout - dout.sum(0))  # the variance's path forgotten
    return dx, (raw * dout).sum(0, keepdims=True), dout.sum(0, keepdims=True)


def bn_backward_n_for_n_minus_1(dout, cache):
    raw, var_inv, gain, bias_shape = cache[:4]
    n = dout.shape[0]
    # Bessel's correction dropped on the way back: n/n instead of n/(n-1)
    dx = gain * var_inv / n * (n * dout - dout.sum(0) - raw * (dout * raw).sum(0))
    return dx, (raw * dout).sum(0, keepdims=True), dout.sum(0, keepdims=True)


def embedding_backward_lost_repeats(demb, cache):
    ix, C_shape = cache
    dC = np.zeros(C_shape)
    dC[ix] += demb  # buffered: a row indexed twice gets only one of its updates
    return None, dC


def test_correct_batchnorm_passes():
    results = check_layer(layers.batchnorm_forward, layers.batchnorm_backward, bn_inputs(),
                          names=["x", "gain", "bias"])
    assert [r.name for r in results] == ["x", "gain", "bias"] and all(r.ok for r in results)


@pytest.mark.parametrize("broken", [bn_backward_no_variance_term, bn_backward_n_for_n_minus_1])
def test_broken_batchnorm_is_caught(broken):
    with pytest.raises(GradcheckError) as err:
        check_layer(layers.batchnorm_forward, broken, bn_inputs(), names=["x", "gain", "bias"],
                    seed=7)
    r = err.value.result
    assert r.name == "x" and not r.ok and r.n_bad > 0
    msg = str(err.value)
    for part in ["x:", "shape (5, 4)", "float64", f"{r.n_bad} of 20 elements", "index",
                 "analytic", "numeric", "eps 1e-06", "atol 1e-05", "rtol 0.001", "seed=7"]:
        assert part in msg, part


def test_all_ones_upstream_would_hide_the_missing_variance_term():
    # why the checker draws a random dout: with ones, both dx are exactly zero
    x, gain, bias = bn_inputs()
    out, cache = layers.batchnorm_forward(x, gain, bias)
    ones = np.ones_like(out)
    np.testing.assert_allclose(layers.batchnorm_backward(ones, cache)[0], 0, atol=1e-12)
    np.testing.assert_allclose(bn_backward_no_variance_term(ones, cache)[0], 0, atol=1e-12)


def test_lost_repeated_indices_are_caught():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((4, 3))
    ix = np.array([[1, 1, 2], [0, 1, 3]])  # 1 repeats
    check_layer(layers.embedding_forward, layers.embedding_backward, (ix, C), names=["ix", "C"])
    with pytest.raises(GradcheckError) as err:
        check_layer(layers.embedding_forward, embedding_backward_lost_repeats, (ix, C),
                    names=["ix", "C"])
    assert err.value.result.worst_index[0] == 1


def test_backward_off_the_contract_is_caught():
    # a bare array, not a tuple: the contract is one entry per forward argument
    x = np.random.default_rng(0).standard_normal((3, 2))
    with pytest.raises(GradcheckError, match="expected a tuple of 1"):
        check_layer(layers.tanh_forward, lambda dh, h: (1 - h * h) * dh, (x,), names=["x"])
    # an integer input must get None, not a gradient
    C, ix = np.ones((4, 3)), np.array([[1, 2]])
    with pytest.raises(GradcheckError, match="integer input"):
        check_layer(layers.embedding_forward,
                    lambda d, cache: (np.zeros(2), layers.embedding_backward(d, cache)[1]),
                    (ix, C), names=["ix", "C"])


def test_wrong_shape_and_dtype_are_reported_as_such():
    r = compare("bnmeani", np.zeros(4), np.zeros((1, 4)))
    assert not r.ok and "wrong shape (4,)" in r.report()
    r = compare("W1", np.zeros((2, 2), np.float32), np.zeros((2, 2)), dtype=np.float64)
    assert not r.ok and "wrong dtype float32" in r.report()
    r = compare("W1", np.full((2, 2), np.nan), np.zeros((2, 2)))
    assert not r.ok and "non-finite" in r.report()


def test_tolerance_is_elementwise_atol_plus_rtol():
    numeric = np.array([1.0, 1e-8])
    assert compare("t", numeric + [1e-5 + 1e-3 * 0.999, 0.0], numeric).ok
    assert not compare("t", numeric + [1e-5 + 1e-3 * 1.001, 0.0], numeric).ok


def test_float32_refused_with_a_reason():
    x = np.ones((2, 2), np.float32)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: x.sum(), x)
    with pytest.raises(TypeError, match="x is float32"):
        check_layer(layers.tanh_forward, layers.tanh_backward, (x,), names=["x"])


def test_numerical_gradient_restores_input():
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    x0 = x.copy()
    g = numerical_gradient(lambda: np.sum(x ** 3), x)
    np.testing.assert_allclose(g, 3 * x0 ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, x0)


def named_case(seed=4):
    rng = np.random.default_rng(seed)
    arrays = {"0.weight": rng.standard_normal((3, 2)), "1.bias": rng.standard_normal(2)}
    x = rng.standard_normal((4, 3))
    f = lambda: float(np.sum(np.tanh(x @ arrays["0.weight"] + arrays["1.bias"]) ** 2))  # noqa: E731
    dpre = 2 * np.tanh(x @ arrays["0.weight"] + arrays["1.bias"]) * (
        1 - np.tanh(x @ arrays["0.weight"] + arrays["1.bias"]) ** 2)
    return f, arrays, {"0.weight": x.T @ dpre, "1.bias": dpre.sum(0)}


def test_check_named_passes_right_gradients_and_names_each():
    f, arrays, grads = named_case()
    results = check_named(f, arrays, grads, seed=4)
    assert [r.name for r in results] == ["0.weight", "1.bias"] and all(r.ok for r in results)


@pytest.mark.parametrize("wrong", ["scaled", "missing", "float32"])
def test_check_named_catches_a_wrong_or_missing_gradient(wrong):
    f, arrays, grads = named_case()
    if wrong == "scaled":
        grads["1.bias"] = grads["1.bias"] * 1.01
    elif wrong == "missing":
        del grads["1.bias"]
    else:
        grads["1.bias"] = grads["1.bias"].astype(np.float32)
    with pytest.raises(GradcheckError) as err:
        check_named(f, arrays, grads, seed=4)
    assert err.value.result.name == "1.bias"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_reference_never_passes(bad):
    ref = np.array([1.0, bad, 2.0])
    for learner in (np.array([1.0, 0.0, 2.0]), np.array([1.0, 1e300, 2.0])):
        r = compare("W1", learner, ref)
        assert not r.ok and "reference" in r.report()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_learners_non_finite_value_against_a_finite_reference_fails(bad):
    r = compare("W1", np.array([1.0, bad]), np.array([1.0, 2.0]))
    assert not r.ok and "non-finite" in r.report()


def test_check_layer_takes_plain_python_lists():
    x, W, b = [[1.0, -2.0], [0.5, 3.0]], [[0.5, 0.1], [0.2, -0.3]], [0.0, 0.1]
    results = check_layer(layers.linear_forward, layers.linear_backward, (x, W, b),
                          names=["x", "W", "b"])
    assert [r.name for r in results] == ["x", "W", "b"] and all(r.ok for r in results)
    # an int list is an index input (no gradient), a float list of the table is checked
    results = check_layer(layers.embedding_forward, layers.embedding_backward,
                          ([[0, 1, 1]], [[1.0, 2.0], [3.0, 4.0]]), names=["ix", "C"])
    assert [r.name for r in results] == ["C"]
    # a list checker still catches a wrong backward
    with pytest.raises(GradcheckError, match="W"):
        check_layer(layers.linear_forward,
                    lambda d, cache: (lambda g: (g[0], 2 * g[1], g[2]))(
                        layers.linear_backward(d, cache)), (x, W, b), names=["x", "W", "b"])


def test_check_layer_refuses_a_list_that_is_not_numbers():
    with pytest.raises(TypeError, match=r"x is a list that makes a numpy array of dtype <U"):
        check_layer(layers.tanh_forward, layers.tanh_backward, (["a", "b"],), names=["x"])
