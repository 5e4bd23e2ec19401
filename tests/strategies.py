"""Every Hypothesis strategy the tests use.

Sizes are small (sides 1-5, batch 2-6) so repeated indices are common;
array values come from a drawn seed rather than from Hypothesis directly,
because arrays of one repeated value make a batch variance zero.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from npbackprop import model

seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def broadcast_pairs(draw):
    """(shape, grad_shape): `shape` broadcasts to `grad_shape`."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=5))
    return draw(st.sampled_from(shapes.input_shapes)), shapes.result_shape


@st.composite
def non_broadcast_pairs(draw):
    """(shape, grad_shape) where `shape` does NOT broadcast to `grad_shape`."""
    grad_shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    kind = draw(st.sampled_from(["more dims", "side mismatch"]))
    if kind == "more dims":
        # an extra leading axis, even of size 1, cannot be summed away into shape
        return (draw(st.integers(1, 5)),) + grad_shape, grad_shape
    axis = draw(st.integers(0, len(grad_shape) - 1))
    shape = list(grad_shape)
    # a side that is neither 1 nor the grad's side cannot broadcast
    shape[axis] = grad_shape[axis] + draw(st.integers(1, 3))
    return tuple(shape), grad_shape


@st.composite
def sizes(draw):
    """Network sizes: N batch 2-6, T, E, H 1-5, V 2-6."""
    return dict(N=draw(st.integers(2, 6)), T=draw(st.integers(1, 5)),
                E=draw(st.integers(1, 5)), H=draw(st.integers(1, 5)),
                V=draw(st.integers(2, 6)))


def make_case(seed, N, T, E, H, V, dtype=np.float64):
    """Parameters (the lecture's init), a batch Xb (N, T), Yb (N,), from one seed."""
    rng = np.random.default_rng(seed)
    params = model.init_params(V, n_embd=E, n_hidden=H, block_size=T, rng=rng, dtype=dtype)
    # larger weights than the lecture's so every gradient is well away from zero
    params["W2"] = (params["W2"] * 10).astype(dtype)
    params["b1"] = (params["b1"] * 10).astype(dtype)
    Xb = rng.integers(0, V, size=(N, T))
    # a batch of identical contexts has zero variance: batchnorm then divides by
    # sqrt(eps) and finite differences become noise, so make two rows differ
    Xb[0, 0] = (Xb[1, 0] + 1) % V
    Yb = rng.integers(0, V, size=N)
    return params, Xb, Yb


@st.composite
def graph_cases(draw, dtype=np.float64):
    """(params, Xb, Yb) for the whole network at a small random size."""
    return make_case(draw(seeds), **draw(sizes()), dtype=dtype)


@st.composite
def arrays_from_seed(draw, shape, dtype=np.float64, scale=1.0):
    """A standard-normal array of `shape` from a drawn seed."""
    rng = np.random.default_rng(draw(seeds))
    return (rng.standard_normal(shape) * scale).astype(dtype)


@st.composite
def nd_sizes(draw):
    """Part 5's shapes: N 2-6, k 1-3, T = k * (1-3) (T/k == 1, k == T occur), E, H 1-4."""
    k = draw(st.integers(1, 3))
    return dict(N=draw(st.integers(2, 6)), k=k, T=k * draw(st.integers(1, 3)),
                E=draw(st.integers(1, 4)), H=draw(st.integers(1, 4)))


# the shape of a batchnorm's gain and bias over (N, T, H): every form the lecture's broadcast takes
bn_param_shapes = st.sampled_from(["H", "1H", "11H"])


class FakeTensor:
    """What a learner's torch tensor offers the grader: .detach().cpu().numpy(); no torch."""

    def __init__(self, array):
        self.array = array

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array
