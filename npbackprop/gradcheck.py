"""Gradient checking against central finite differences, in float64.

The defaults are torch.autograd.gradcheck's: eps 1e-6, atol 1e-5, rtol 1e-3,
an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
Finite differences refuse float32: with eps 1e-6 its rounding error is about
the size of the gradient itself.

- numerical_gradient(f, x): d f(x) / dx for a scalar-valued f
- compare(name, analytic, numeric): a GradResult (no exception)
- check_layer(forward, backward, inputs): checks a forward/backward pair
  (layers.py's contract) against a seeded random upstream gradient; raises
  GradcheckError on failure
- check_named(f, arrays, analytic): checks a dict of gradients (a Sequential's
  {"3.weight": ...}) of a scalar f() that reads the arrays; raises likewise
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3


class GradcheckError(AssertionError):
    """An analytic gradient that disagrees with finite differences."""

    def __init__(self, result):
        super().__init__(result.report())
        self.result = result


@dataclass(frozen=True)
class GradResult:
    """One tensor's comparison; `ok` says whether it passed."""

    name: str
    shape: tuple
    dtype: str
    ok: bool
    n_bad: int = 0
    size: int = 0
    maxdiff: float = 0.0
    worst_index: tuple = ()
    worst_analytic: float = 0.0
    worst_numeric: float = 0.0
    problem: str = ""           # a shape or dtype mismatch, or a non-finite value
    eps: float = EPS
    atol: float = ATOL
    rtol: float = RTOL
    seed: object = None

    def report(self):
        """A one-paragraph account fit for an assertion message."""
        head = f"{self.name}: shape {self.shape}, dtype {self.dtype}"
        if self.ok:
            return f"{head}: OK (maxdiff {self.maxdiff:.3g})"
        if self.problem:
            return f"{head}: NOT OK: {self.problem}"
        return (
            f"{head}: NOT OK: {self.n_bad} of {self.size} elements off; worst at "
            f"index {self.worst_index}: analytic {self.worst_analytic!r}, numeric "
            f"{self.worst_numeric!r} (maxdiff {self.maxdiff:.3g}; eps {self.eps:g}, "
            f"atol {self.atol:g}, rtol {self.rtol:g}; reproduce with seed={self.seed!r})"
        )


def require_float64(name: str, x) -> None:
    """Refuse finite differences on anything but float64, saying why."""
    if np.asarray(x).dtype != np.float64:
        raise TypeError(
            f"finite differences need float64, but {name} is {np.asarray(x).dtype}: "
            f"in float32 the rounding error at eps=1e-6 is as large as the gradient; "
            f"check with .astype(np.float64) and compare float32 against that"
        )


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Central differences of a scalar function: (f(x + eps) - f(x - eps)) / 2eps.

    Inputs: f, called with no arguments, reads x (which this perturbs in place
    and restores); x a float64 array of any shape. Returns an array like x.
    """
    require_float64("x", x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fplus = float(f())
        x[i] = old - eps
        fminus = float(f())
        x[i] = old
        grad[i] = (fplus - fminus) / (2 * eps)
    return grad


def compare(name: str, analytic, numeric, *, atol: float = ATOL, rtol: float = RTOL,
            eps: float = EPS, seed=None, dtype=None) -> GradResult:
    """Compare an analytic gradient with a reference one, elementwise.

    `numeric` is the reference (finite differences or a fixture); its shape,
    and `dtype` if given, are what the analytic gradient must have.
    Returns a GradResult.
    """
    numeric = np.asarray(numeric)
    meta = dict(name=name, shape=tuple(numeric.shape),
                dtype=str(dtype or numeric.dtype), eps=eps, atol=atol, rtol=rtol, seed=seed)
    if not isinstance(analytic, np.ndarray):
        return GradResult(ok=False, problem=f"expected an array, got {type(analytic).__name__}",
                          **meta)
    if analytic.shape != numeric.shape:
        return GradResult(ok=False, problem=f"wrong shape {analytic.shape}, "
                          f"expected {numeric.shape}", **meta)
    if dtype is not None and analytic.dtype != np.dtype(dtype):
        return GradResult(ok=False, problem=f"wrong dtype {analytic.dtype}, expected {dtype}",
                          **meta)
    if not np.all(np.isfinite(analytic)):
        return GradResult(ok=False, problem="non-finite values (nan or inf)", **meta)
    # nan compares False and inf - x is inf <= inf: either would let any value pass
    if not np.all(np.isfinite(numeric)):
        return GradResult(ok=False, problem="the reference has non-finite values (nan or inf): "
                          "nothing can be checked against it; recompute the reference", **meta)
    a = analytic.astype(np.float64)
    b = numeric.astype(np.float64)
    diff = np.abs(a - b)
    bad = diff > atol + rtol * np.abs(b)
    maxdiff = float(diff.max()) if diff.size else 0.0
    # the worst element is the one furthest beyond its own tolerance
    excess = diff - (atol + rtol * np.abs(b))
    worst = np.unravel_index(int(np.argmax(excess)), diff.shape) if diff.size else ()
    return GradResult(
        ok=not bad.any(), n_bad=int(bad.sum()), size=int(diff.size), maxdiff=maxdiff,
        worst_index=tuple(int(i) for i in worst),
        worst_analytic=float(a[worst]) if diff.size else 0.0,
        worst_numeric=float(b[worst]) if diff.size else 0.0, **meta)


def _as_input(name, x):
    """A copy of an array input; a (nested) list or tuple as the array it spells."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, (list, tuple)):
        a = np.asarray(x)
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"{name} is a {type(x).__name__} that makes a numpy array of "
                            f"dtype {a.dtype}, not of numbers: pass np.array(...) of floats "
                            f"(float64) or of integer indices")
        return a
    return x


def check_layer(forward: Callable, backward: Callable, inputs: Sequence, *,
                names: Sequence[str] | None = None, seed: int = 0, eps: float = EPS,
                atol: float = ATOL, rtol: float = RTOL) -> list[GradResult]:
    """Check a forward/backward pair against finite differences.

    Inputs:
    - forward(*inputs) -> (out, cache); backward(dout, cache) -> a tuple with
      one entry per input, in order: None for an integer input, else its gradient
    - inputs: the forward's arguments; the float ones must be float64 (a list
      of Python floats or ints becomes a float64 or int64 array)
    - names: a name per input, for messages
    The upstream gradient dout is random (standard normal, `seed`), never all
    ones, and the scalar checked is the fake loss sum(out * dout).
    Returns the list of GradResult; raises GradcheckError on the first failure.
    """
    names = names or [f"input{i}" for i in range(len(inputs))]
    inputs = [_as_input(name, x) for name, x in zip(names, inputs)]
    floats = [i for i, x in enumerate(inputs)
              if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)]
    for i in floats:
        require_float64(names[i], inputs[i])
    out, cache = forward(*inputs)
    dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, tuple) or len(grads) != len(inputs):
        got = f"{len(grads)} entries" if isinstance(grads, tuple) else type(grads).__name__
        raise GradcheckError(GradResult(
            name="backward", shape=(), dtype="", ok=False,
            problem=f"returned {got}, expected a tuple of {len(inputs)}, one per input "
                    f"({', '.join(names)}), None for an integer input"))
    for i, grad in enumerate(grads):
        if i not in floats and grad is not None:
            raise GradcheckError(GradResult(
                name=names[i], shape=np.shape(inputs[i]), dtype=str(np.asarray(inputs[i]).dtype),
                ok=False, problem="a gradient for an integer input; it should be None"))
    results = []
    for i in floats:
        numeric = numerical_gradient(
            lambda: np.sum(forward(*inputs)[0] * dout), inputs[i], eps)
        result = compare(names[i], grads[i], numeric, atol=atol, rtol=rtol, eps=eps, seed=seed,
                         dtype=inputs[i].dtype)
        if not result.ok:
            raise GradcheckError(result)
        results.append(result)
    return results


def check_named(f: Callable[[], float], arrays: dict, analytic: dict, *, seed=None,
                eps: float = EPS, atol: float = ATOL, rtol: float = RTOL) -> list[GradResult]:
    """Check analytic[name] against finite differences of f in arrays[name], for each name.

    Inputs: f, called with no arguments, reads the float64 arrays (each is
    perturbed in place and restored); analytic, a gradient per name of arrays.
    Returns the list of GradResult; raises GradcheckError on the first failure,
    a missing gradient included.
    """
    results = []
    for name, x in arrays.items():
        require_float64(name, x)
        if name not in analytic:
            raise GradcheckError(GradResult(name=name, shape=x.shape, dtype=str(x.dtype),
                                            ok=False, problem="no gradient was returned"))
        result = compare(name, analytic[name], numerical_gradient(f, x, eps), atol=atol,
                         rtol=rtol, eps=eps, seed=seed, dtype=x.dtype)
        if not result.ok:
            raise GradcheckError(result)
        results.append(result)
    return results
