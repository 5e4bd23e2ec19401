"""The grader's table: one row per tensor, the lecture's `cmp` columns, a summary.

    row = grade_row("W1", dW1, reference, tolerance, diagnose)
    print(Report(header, sections, notes, summary, ok).text())

A row's status says what is wrong (only OK passes); `diagnose` explains a
numeric mismatch. Nothing here prints.
"""

from dataclasses import dataclass

import numpy as np

from npbackprop.check.diagnose import close
from npbackprop.check.shapes import shape_diagnosis
from npbackprop.check.setups import Tolerance
from npbackprop.check.values import value_problem
from npbackprop.gradcheck import compare

EXACT_NOTE = "exact: all equal (informational); approximate decides a row"

# row statuses; only OK passes
OK, NOT_ATTEMPTED, NOT_REACHED = "ok", "not attempted", "not reached"
NOT_COMPUTED = "not computed yet"      # a name a notebook's namespace does not hold
NOT_ARRAY, WRONG_SHAPE, WRONG_DTYPE = "not an array", "wrong shape", "wrong dtype"
NON_FINITE, MISMATCH, ERROR = "non-finite", "mismatch", "error"
# the lecture's cmp would accept it (it broadcasts): right values, in the wrong shape
RIGHT_VALUES = "right values, wrong shape"


@dataclass(frozen=True)
class Row:
    """One tensor's line in the table; `problem` fills the status column."""

    name: str
    status: str
    exact: object = None        # bool, or None when not compared
    approximate: object = None
    maxdiff: object = None
    problem: str = ""
    diagnosis: str = ""

    @property
    def ok(self):
        return self.status == OK

    @property
    def attempted(self):
        return self.status not in (NOT_ATTEMPTED, NOT_REACHED, NOT_COMPUTED)


def grade_row(name, x, ref, tol, diagnose=None, shape_diagnose=None):
    """Compare a learner's x with ref; diagnose(x) explains a numeric mismatch,
    shape_diagnose(x) a wrong shape (default: shape_diagnosis without the cache)."""
    if x is None:
        return Row(name, NOT_ATTEMPTED)
    kind = value_problem(x, ref)
    if kind is not None:
        status, problem, diagnosis = kind
        return Row(name, status, problem=problem, diagnosis=diagnosis)
    if x.shape != ref.shape:
        if _squeezed(x.shape) == _squeezed(ref.shape) and _close(x.reshape(ref.shape), ref, tol):
            return Row(name, RIGHT_VALUES, problem=f"right values, shape {x.shape} should be "
                       f"{ref.shape}", diagnosis="the lecture's cmp broadcasts and accepts it; "
                       f"{name} is {ref.shape}, so is its gradient" + _keepdims(x, ref))
        return Row(name, WRONG_SHAPE, problem=f"wrong shape {x.shape}, expected {ref.shape}",
                   diagnosis=_safe(lambda: shape_diagnose(x) if shape_diagnose
                                   else shape_diagnosis(name, x, ref, tol)))
    if x.dtype != ref.dtype:
        right = _close(x, ref, tol)
        return Row(name, WRONG_DTYPE, problem=f"wrong dtype {x.dtype}, expected {ref.dtype}",
                   diagnosis=f"the values are right once cast to {ref.dtype}: keep the tensor's "
                   f"dtype (a {x.dtype} array crept in)" if right else "")
    r = compare(name, x, ref, atol=tol.atol, rtol=tol.rtol)
    exact = bool(np.array_equal(x, ref))
    if r.problem:
        return Row(name, NON_FINITE, exact, False, None, problem=r.problem)
    if r.ok:
        return Row(name, OK, exact, True, r.maxdiff)
    problem = (f"mismatch: {r.n_bad}/{r.size} off, worst at {list(r.worst_index)}: "
               f"{r.worst_analytic:.4g}, expected {r.worst_numeric:.4g}")
    return Row(name, MISMATCH, exact, False, r.maxdiff, problem=problem,
               diagnosis=_safe(lambda: diagnose(x)) if diagnose else "")


def _squeezed(shape):
    return tuple(s for s in shape if s != 1)


def _keepdims(x, ref):
    return " (keepdims=True)" if x.ndim < ref.ndim else ""


def _close(x, ref, tol):
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(x))) and close(x.astype(np.float64), ref, tol)


def _safe(explain):
    """A diagnosis, or "" when explaining a learner's odd value fails: never a traceback."""
    try:
        with np.errstate(all="ignore"):
            return explain()
    except (ValueError, TypeError, IndexError, ArithmeticError):
        return ""


# -----------------------------------------------------------------------------
# reports

@dataclass(frozen=True)
class Section:
    title: str
    tolerance: Tolerance
    rows: tuple


@dataclass(frozen=True, repr=False)
class Report:
    """What `npbackprop check` shows: header lines, tables, notes, a summary; .ok passes."""

    header: tuple
    sections: tuple
    notes: tuple
    summary: str
    ok: bool

    def text(self):
        lines = list(self.header)
        for s in self.sections:
            lines += ["", s.title, f"approximate: {s.tolerance.describe()}"]
            lines += [format_row(r) for r in s.rows]
        if self.notes:
            lines += [""] + list(self.notes)
        return "\n".join(lines + ["", self.summary])

    def __repr__(self):
        # short: a notebook shows it under the printed table
        return f"<Report: {self.summary}>"


def _fmt(x):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    return "0.0" if x == 0 else f"{x:.3g}"


def format_row(row):
    """The lecture's cmp line, plus a status column and a diagnosis line when not OK."""
    line = (f"{row.name:15s} | exact: {_fmt(row.exact):5s} | approximate: "
            f"{_fmt(row.approximate):5s} | maxdiff: {_fmt(row.maxdiff):8s}")
    line = line + f" | {row.problem or row.status}" if not row.ok else line.rstrip()
    if row.diagnosis:
        line += f"\n{'':15s}   -> {row.diagnosis}"
    return line


def _count_summary(rows):
    total, tried = len(rows), sum(r.attempted for r in rows)
    correct = sum(r.ok for r in rows)
    if correct == total:
        return f"{correct}/{total} correct"
    shaped = sum(r.status == RIGHT_VALUES for r in rows)
    also = f", {shaped} right values in the wrong shape" if shaped else ""
    return f"{tried}/{total} attempted, {correct} correct{also}"
