"""The broadcasting-aware reduction: the adjoint of np.broadcast_to.

When a forward pass broadcasts an array `u` of shape `shape` up to the shape
of some result, every element of `u` is used many times; its gradient is the
sum of the upstream gradient over all those uses. `unbroadcast` is that sum.
Every `.sum(0)` and `.sum(..., keepdims=True)` in the lecture's backward pass
is one of these. (PyTorch calls it `Tensor.sum_to_size`.)
"""

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` down to `shape`, undoing np.broadcast_to(x, grad.shape).

    Inputs:
    - grad: array, the gradient of a broadcast result, shape G
    - shape: tuple, the shape of the array that was broadcast (may be ())

    Returns an array of exactly `shape` and grad's dtype: `grad` summed over
    the leading axes broadcasting added and over every axis where `shape`
    has 1 and G does not. It is never a view of `grad`.
    Raises ValueError, naming both shapes, if `shape` does not broadcast to G.
    """
    grad = np.asarray(grad)
    shape = tuple(shape)
    lead = grad.ndim - len(shape)
    # axes align from the right, as in numpy's broadcasting rules
    if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, grad.shape[lead:])):
        raise ValueError(
            f"cannot unbroadcast a gradient of shape {grad.shape} to shape {shape}: "
            f"{shape} does not broadcast to {grad.shape}"
        )
    kept = tuple(lead + i for i, (s, g) in enumerate(zip(shape, grad.shape[lead:]))
                 if s == 1 and g != 1)
    out = grad.sum(axis=tuple(range(lead)) + kept, keepdims=True, dtype=grad.dtype)
    # drop the leading axes (now of size 1) so the result has exactly `shape`
    out = out.reshape(shape)
    return out.copy() if np.shares_memory(out, grad) else out
