"""Why a gradient has the wrong shape, from the broadcasts the forward pass really does.

    shape_diagnosis("bngain", x, ref, tol, cache)                 # one line, or ""
    ex1_shape_diagnosis("counts_sum", x, cache, ref, rows, tol)   # upstream first

A missing sum is named only for a tensor the forward pass broadcasts
(BROADCAST); a wrong shape that follows from a wrong-shaped upstream
gradient says so instead of inventing a cause.
"""

import numpy as np

from npbackprop.broadcast import unbroadcast
from npbackprop.check.diagnose import BRANCHES, MATMUL, close

# the tensors the forward pass broadcasts, and the tensor each is broadcast against
BROADCAST = {"counts_sum_inv": "counts", "logit_maxes": "logits", "b2": "logits",
             "bngain": "bnraw", "bnbias": "bnraw", "bnvar_inv": "bndiff",
             "bnmeani": "hprebn", "b1": "hprebn"}


def ex1_shape_diagnosis(name, x, v, ref, rows, tol):
    """shape_diagnosis for exercise 1, after the rows above: a wrong-shaped upstream first."""
    for up, _ in BRANCHES[name]:
        if up in rows and rows[up].status == "wrong shape":
            return f"follows from the wrong shape of d{up} above"
    return shape_diagnosis(name, x, ref[name], tol, v)


def shape_diagnosis(name, x, ref, tol, v=None):
    """What a wrong shape says about the mistake: unsummed broadcast, transpose, keepdims.

    v: the cache; a broadcast is named only where the forward pass does one.
    """
    xs, rs = x.shape, ref.shape
    if x.ndim == 2 and xs == rs[::-1]:
        why = f"{xs} is the transpose of {rs}"
        why += f": {MATMUL[name]}" if name in MATMUL else ""
        return why + ("; its transpose is right" if close(x.T, ref, tol) else "")
    if x.size == ref.size:
        how = ("keepdims=True missing?" if x.ndim < ref.ndim
               else "a keepdims=True too many?" if x.ndim > ref.ndim else "reshape it")
        right = close(x.reshape(rs), ref, tol)
        return (f"the right number of elements in the wrong shape: {name} is {rs} ({how})"
                + ("; the values are right" if right else ""))
    against = BROADCAST.get(name)
    target = np.shape(v[against]) if v is not None and against else None
    try:
        summed = unbroadcast(x, rs) if xs == target or (v is None and against) else None
    except ValueError:
        summed = None
    if summed is not None:
        # rs broadcasts to xs: the gradient of a broadcast tensor was not summed
        lead = x.ndim - len(rs)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(rs)
                                          if s == 1 and xs[lead + i] != 1)
        axes = axes[0] if len(axes) == 1 else axes
        return (f"not summed over the broadcast: {name} {rs} was broadcast to {xs}, so its "
                f"gradient is summed over axis {axes}" + (" (keepdims=True)" if lead == 0 else "")
                + ("; summed, it is right" if close(summed, ref, tol) else ""))
    if x.ndim == ref.ndim and against:
        wrong = [i for i in range(x.ndim) if xs[i] == 1 and rs[i] != 1]
        right = [i for i in range(x.ndim) if rs[i] == 1 and xs[i] != 1]
        if wrong and right:
            return (f"summed over the wrong axis: {name} {rs} was broadcast along axis "
                    f"{right[0]}, so sum over axis {right[0]}, not axis {wrong[0]}")
    if x.ndim == ref.ndim:
        wrong = [i for i in range(x.ndim) if xs[i] == 1 and rs[i] != 1]
        right = [i for i in range(x.ndim) if rs[i] == 1 and xs[i] != 1]
        if wrong and not right and xs == tuple(1 if i in wrong else s for i, s in enumerate(rs)):
            return (f"{name} is {rs}: its gradient has that full shape (broadcast it back)"
                    + ("; broadcast, it is right"
                       if close(np.broadcast_to(x, rs), ref, tol) else ""))
    return ""
