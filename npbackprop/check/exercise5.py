"""A part-5 exercise: a learner's backward for the 3-D batchnorm and for FlattenConsecutive.

    setup = make_setup5()                                    # float64, N 4, T 4, H 5, seed 0
    report = grade5("mine.py", setup)                        # or grade5_funcs(bn, flat, setup)
    print(report.text()); exit code 0 if report.ok

The learner writes, in one file (template5() prints a start):
    batchnorm3d_backward(dout, x, gain, bias) -> (dx, dgain, dbias)
        batchnorm over dims (0, 1) of x (N, T, H), Bessel-corrected; gain, bias (H,)
    flatten_backward(dout, x_shape, k) -> dx
        the backward of FlattenConsecutive(k): (N, T, E) -> (N, T/k, k*E)
Rows use the same table as exercises 1-3; the diagnoses name part 5's
mistakes: normalising over dim 0 only, n taken as N instead of N*T, gain
and bias not summed over the time axis, the k neighbours and the channels
swapped. `npbackprop check --exercise 5 --impl mine.py` runs grade5 (the
learner's code in a child process, as exercises 1-3); `--template --exercise 5`
prints the starting file.
"""

from dataclasses import dataclass

import numpy as np

from npbackprop import layers
from npbackprop.check.diagnose import close
from npbackprop.check.child import DEFAULT_TIMEOUT, MEMORY_LIMIT, run_apart
from npbackprop.check.learner import call_learner
from npbackprop.check.report import (ERROR, NOT_REACHED, WRONG_SHAPE, Report, Row, Section,
                                     _count_summary, grade_row)
from npbackprop.check.setups import FINITE_DIFF

TEMPLATE = '''"""Part 5's exercise: fill in both functions, then grade this file."""
import numpy as np


def batchnorm3d_backward(dout, x, gain, bias):
    """x (N, T, H) was normalised over dims (0, 1) with the unbiased variance (eps 1e-5):
    out = gain * (x - mean) / sqrt(var + eps) + bias, gain and bias (H,).
    Return (dx (N, T, H), dgain (H,), dbias (H,))."""
    dx = dgain = dbias = None
    return dx, dgain, dbias


def flatten_backward(dout, x_shape, k):
    """FlattenConsecutive(k) made (N, T, E) into (N, T/k, k*E) (squeezed to (N, k*E) when
    T/k == 1). Return dx of shape x_shape."""
    dx = None
    return dx
'''


@dataclass(frozen=True)
class Setup5:
    x: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    dout: np.ndarray
    flat_x_shape: tuple
    k: int
    flat_dout: np.ndarray
    seed: int


def make_setup5(seed=0, N=4, T=4, H=5, E=3, k=2):
    """Inputs and random upstream gradients (never ones), float64, from one seed."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, H)) * 2 + 1
    gain, bias = 1 + 0.3 * rng.standard_normal(H), 0.3 * rng.standard_normal(H)
    out_shape = (N, T // k, k * E) if T // k > 1 else (N, k * E)
    return Setup5(x, gain, bias, rng.standard_normal(x.shape), (N, T, E), k,
                  rng.standard_normal(out_shape), seed)


def _bn_wrong(s, axes, n):
    """The exercise-3 formula with other axes or another n: what part 5's mistakes give."""
    _, (raw, var_inv, *_) = layers.batchnorm_forward(s.x, s.gain, s.bias, axes=axes)
    d = s.dout
    return s.gain * var_inv / n * (n * d - d.sum(axes, keepdims=True)
                                   - n / (n - 1) * raw * (d * raw).sum(axes, keepdims=True))


def _diagnose_dx(s, tol):
    N, T = s.x.shape[:2]

    def diagnose(dx):
        if close(dx, _bn_wrong(s, (0,), N), tol):
            return ("normalised over dim 0 only: part 5's BatchNorm1d takes the mean and "
                    "variance over dims (0, 1) of an (N, T, H) input")
        if close(dx, _bn_wrong(s, (0, 1), N), tol):
            return (f"n taken as the batch size N = {N}: over dims (0, 1) each statistic "
                    f"averages N*T = {N * T} values")
        return ""
    return diagnose


def _param_row(name, g, ref, tol):
    """gain/bias: an (T, H) or (1, T, H) answer is the sum over the batch only."""
    if (isinstance(g, np.ndarray) and g.shape != ref.shape and g.ndim >= 2
            and g.shape[-1] == len(ref) and close(g.reshape(-1, len(ref)).sum(0), ref, tol)):
        return Row(name, WRONG_SHAPE, problem=f"wrong shape {g.shape}, expected {ref.shape}",
                       diagnosis="the sum over the time axis is missing: gain and bias are "
                       "broadcast over dims (0, 1), so sum over both")
    return grade_row(name, g, ref, tol)


def _diagnose_flatten(s, tol):
    N, T, E = s.flat_x_shape

    def diagnose(dx):
        swapped = (s.flat_dout.reshape(N, T // s.k, E, s.k).transpose(0, 1, 3, 2)
                   .reshape(N, T, E))
        if close(dx, swapped, tol):
            return ("the k neighbours and the channels are swapped: the forward puts the k "
                    "positions side by side, each with its E channels (reshape back, no transpose)")
        return ""
    return diagnose


def _error_row(name, err):
    return Row(name, ERROR, problem=f"{err.exc_type}: {err.message} (line {err.lineno})")


ROWS = ("x (batchnorm)", "gain", "bias", "x (flatten)")


def grade5_funcs(batchnorm3d_backward, flatten_backward, setup=None, labels=None):
    """Grade two callables (or loaded learners) here, in this process. Returns a Report;
    ok when all four rows are. `npbackprop check --exercise 5` uses grade5 instead."""
    s = setup or make_setup5()
    bn = _call(batchnorm3d_backward, _bn_args(s), "dout, x, gain, bias")
    fl = _call(flatten_backward, _flat_args(s), "dout, x_shape, k")
    return grade5_values(s, bn, fl, labels)


def grade5_values(s, bn, fl, labels=None, notes=(), failure=""):
    """The report from what the learner's two functions gave: bn and fl are
    (value, LearnerError or None); failure, a line when the child never answered."""
    tol = FINITE_DIFF
    _, cache = layers.batchnorm_forward(s.x, s.gain, s.bias, axes=(0, 1))
    ref_dx, ref_dgain, ref_dbias = layers.batchnorm_backward(s.dout, cache)
    ref_flat = layers.flatten_consecutive_backward(s.flat_dout, s.flat_x_shape)[0]
    (bn_out, bn_err), (fl_out, fl_err) = bn, fl
    if failure:
        rows = [Row(name, NOT_REACHED) for name in ROWS]
        notes = tuple(notes) + (f"{labels}: {failure}",)
    else:
        if bn_err is not None:
            rows = [_error_row(n, bn_err) for n in ROWS[:3]]
        else:
            dx, dgain, dbias = (tuple(bn_out) + (None,) * 3)[:3] if isinstance(
                bn_out, (tuple, list)) else (bn_out, None, None)
            rows = [grade_row("x (batchnorm)", dx, ref_dx, tol, _diagnose_dx(s, tol)),
                    _param_row("gain", dgain, ref_dgain, tol),
                    _param_row("bias", dbias, ref_dbias, tol)]
        rows.append(_error_row("x (flatten)", fl_err) if fl_err is not None else
                    grade_row("x (flatten)", fl_out, ref_flat, tol, _diagnose_flatten(s, tol)))
    ok = all(r.ok for r in rows)
    section = Section("exercise 5: 3-D batchnorm and FlattenConsecutive backward vs "
                      "npbackprop's layers", tol, tuple(rows))
    summary = _count_summary(rows)                      # as exercises 1-3: "4/4 correct"
    header = (f"part 5 exercise, seed {s.seed}: x {s.x.shape}, FlattenConsecutive({s.k}) of "
              f"{s.flat_x_shape}" + (f"; {labels}" if labels else ""),)
    return Report(header, (section,), tuple(notes), summary, ok)


def _bn_args(s):
    return s.dout, s.x, s.gain, s.bias


def _flat_args(s):
    return s.flat_dout, s.flat_x_shape, s.k


def _call(func, args, params):
    if hasattr(func, "func"):                  # a learner loaded from a file
        return call_learner(func, args, params)
    return func(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]), None


def grade5(path, setup=None, timeout=DEFAULT_TIMEOUT, memory=MEMORY_LIMIT):
    """Grade batchnorm3d_backward and flatten_backward of FILE.py, each run in a child
    process limited to timeout seconds and memory bytes (child.run_apart); the
    reference is computed here."""
    s, path = setup or make_setup5(), str(path)
    answers, notes = [], []
    for func, args, params in (("batchnorm3d_backward", _bn_args(s), "dout, x, gain, bias"),
                               ("flatten_backward", _flat_args(s), "dout, x_shape, k")):
        res = run_apart({"kind": "call", "spec": f"{path}:{func}", "func": func,
                         "args": args, "params": params, "row": None}, timeout, memory)
        if res.failure:
            return grade5_values(s, (None, None), (None, None), f"{path}:{func}",
                                 notes, res.failure)
        answers.append((res.value, res.error))
        notes += res.notes
    return grade5_values(s, *answers, labels=path, notes=notes)


def template5():
    """The learner's starting file, as text."""
    return TEMPLATE
