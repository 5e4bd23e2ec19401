import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npbackprop import unbroadcast
from strategies import broadcast_pairs, dtypes, non_broadcast_pairs, seeds


@given(broadcast_pairs(), seeds, dtypes)
def test_adjoint_of_broadcast_to(pair, seed, dtype):
    # <broadcast_to(u), v> == <u, unbroadcast(v)> for every u, v
    shape, grad_shape = pair
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(shape)
    v = rng.standard_normal(grad_shape)
    lhs = np.sum(np.broadcast_to(u, grad_shape) * v)
    rhs = np.sum(u * unbroadcast(v, shape))
    assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)
    out = unbroadcast(v.astype(dtype), shape)
    assert out.shape == tuple(shape)
    assert out.dtype == dtype


@given(broadcast_pairs(), seeds)
def test_matches_a_loop_over_broadcast_elements(pair, seed):
    # each element of u collects the grad of every element it was copied to
    shape, grad_shape = pair
    v = np.random.default_rng(seed).standard_normal(grad_shape)
    index = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), grad_shape)
    expected = np.zeros(int(np.prod(shape)))
    for i, g in zip(index.ravel(), v.ravel()):
        expected[i] += g
    np.testing.assert_allclose(unbroadcast(v, shape), expected.reshape(shape), rtol=1e-12,
                               atol=1e-12)


@given(non_broadcast_pairs())
def test_refuses_shapes_that_do_not_broadcast(pair):
    shape, grad_shape = pair
    with pytest.raises(ValueError) as err:
        unbroadcast(np.zeros(grad_shape), shape)
    assert str(tuple(shape)) in str(err.value) and str(tuple(grad_shape)) in str(err.value)


@given(st.lists(st.integers(1, 4), max_size=3).map(tuple))
def test_same_shape_is_a_copy_not_a_view(shape):
    g = np.arange(float(np.prod(shape))).reshape(shape)
    out = unbroadcast(g, shape)
    np.testing.assert_array_equal(out, g)
    assert not np.shares_memory(out, g)


def test_scalar_target_and_right_alignment():
    g = np.arange(6.0).reshape(2, 3)
    assert unbroadcast(g, ()).shape == ()
    assert unbroadcast(g, ()) == 15.0
    # axes align from the right: (3,) is the last axis, not the first
    np.testing.assert_array_equal(unbroadcast(g, (3,)), [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(unbroadcast(g, (2, 1)), [[3.0], [12.0]])
    with pytest.raises(ValueError):
        unbroadcast(g, (2,))
