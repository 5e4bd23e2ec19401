"""What a learner handed in, before any number is compared: its kind, and its aliases.

    problem = value_problem(x, ref)     # (status, problem, diagnosis) or None for an array
    pairs = aliases(yours)              # {name: the earlier gradient it is the same array as}

Every value gets a row that says what it is (a scalar, a tuple, a list, an
array of strings ...); nothing here raises on a learner's value.
"""

import numpy as np

from npbackprop.names import GRAD_NAMES

NOT_ARRAY, WRONG_DTYPE = "not an array", "wrong dtype"


def _shape(ref):
    return f"an array of shape {ref.shape}"


def value_problem(x, ref):
    """(status, problem, diagnosis) for a value that is not a numeric numpy array, else None."""
    if isinstance(x, tuple):
        return NOT_ARRAY, f"a tuple of {len(x)}, expected {_shape(ref)}", _tuple_hint(x, ref)
    if isinstance(x, (bool, int, float, complex, np.generic)):
        return (NOT_ARRAY, f"a scalar ({type(x).__name__}), expected {_shape(ref)}",
                "a .sum() or .mean() too many? the gradient has its tensor's shape")
    if not isinstance(x, np.ndarray):
        hint = ""
        if isinstance(x, list):
            hint = "np.array(...) it, or compute it with numpy operations"
        elif hasattr(x, "detach"):
            hint = "a tensor that would not convert: .detach().cpu().numpy() it"
        return NOT_ARRAY, f"not a numpy array but a {type(x).__name__}", hint
    if x.ndim == 0:
        return (NOT_ARRAY, f"a 0-d array (a scalar), expected {_shape(ref)}",
                "a .sum() or .mean() too many? the gradient has its tensor's shape")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        return (WRONG_DTYPE, f"an array of dtype {x.dtype}, expected {ref.dtype}",
                "a gradient holds real numbers" if x.dtype.kind in "OUSVb" else "")
    return None


def _tuple_hint(x, ref):
    """Which element of a tuple the gradient is: CS231n's (dx, dgamma, dbeta), (loss, dx)."""
    fits = [i for i, e in enumerate(x) if isinstance(e, np.ndarray) and e.shape == ref.shape]
    if not fits:
        return ""
    if fits[0] == 0:
        return "return dx alone, not a CS231n-style (dx, dgamma, dbeta) tuple"
    if fits[0] == 1 and len(x) == 2 and np.ndim(x[0]) == 0:
        return "return dx alone, not a (loss, dx) pair: the loss is not graded"
    return f"return dx alone: element {fits[0]} of the tuple has the gradient's shape"


def aliases(yours):
    """{name: earlier} for gradients that are one array with an earlier one (no .copy()).

    Only arrays of one shape that share memory count: a broadcast view
    (np.broadcast_to) of a smaller gradient is not an alias.
    """
    arrays = [(k, yours[k]) for k in GRAD_NAMES if isinstance(yours.get(k), np.ndarray)]
    found = {}
    for i, (name, x) in enumerate(arrays):
        for earlier, y in arrays[:i]:
            if x.shape == y.shape and x.size and np.shares_memory(x, y):
                found[name] = earlier
                break
    return found


def alias_diagnosis(name, yours, pairs):
    """The line for a wrong row whose array is another gradient's, or ""."""
    for later, earlier in pairs.items():
        if name in (later, earlier):
            return (f"d{later} and d{earlier} are one array: d{later} = d{earlier} needs a "
                    f".copy(), else d{later} += ... changes d{earlier} too")
    return ""
