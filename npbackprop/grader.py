"""`npbackprop check`: the lecture's `cmp` table, and a grader for a learner's backward.

    report = check_builtin(make_setup())                 # our own 26 + 2 gradients
    report = grade("me.py:backward", 1, make_setup())    # a learner's exercise 1
    print(report.text()); exit code 0 if report.ok

The reference is the committed torch fixture at the lecture's size, and
central finite differences in float64 at any other size (or seed). This
module owns the setups, the rows and their statuses, the report text and the
grading of each exercise; `diagnose` explains a wrong row, `learner` loads and
calls the learner's FILE.py:FUNC and writes the template (re-exported here
for check_cmd). Nothing here prints or exits; user mistakes raise NpbackpropError.
"""

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from npbackprop import chunked, fixture, layers, model
from npbackprop.chunked import GRAD_NAMES
from npbackprop.diagnose import (close, diagnose_ex1, ex2_terms, ex3_terms,
                                 forgotten_logit_maxes, fused_diagnosis, shape_diagnosis)
from npbackprop.errors import NpbackpropError
from npbackprop.gradcheck import EPS, compare
from npbackprop.learner import call_learner, error_notes, grad_name, load_learner
from npbackprop.learner import template  # noqa: F401 (check_cmd's grader.template)

EXERCISES = {1: "backward", 2: "cross_entropy_backward", 3: "batchnorm_backward"}
DEFAULT_SEED = 42
EXACT_NOTE = "exact: all equal (informational); approximate decides a row"

# row statuses; only OK passes
OK, NOT_ATTEMPTED, NOT_REACHED = "ok", "not attempted", "not reached"
NOT_ARRAY, WRONG_SHAPE, WRONG_DTYPE = "not an array", "wrong shape", "wrong dtype"
NON_FINITE, MISMATCH, ERROR = "non-finite", "mismatch", "error"


class Sizes(NamedTuple):
    """V vocab_size, E n_embd, H n_hidden, T block_size, N batch_size; the lecture's."""

    vocab_size: int = 27
    n_embd: int = 10
    n_hidden: int = 64
    block_size: int = 3
    batch_size: int = 32


LECTURE_SIZES = Sizes()


@dataclass(frozen=True)
class Tolerance:
    """An element passes when |value - reference| <= atol + rtol * |reference|."""

    atol: float
    rtol: float
    source: str

    def describe(self):
        return (f"|value - reference| <= {self.atol:g} + {self.rtol:g} * |reference| "
                f"({self.source})")


# the lecture's `approximate` column is torch.allclose with its defaults
ALLCLOSE = Tolerance(1e-8, 1e-5, "torch.allclose defaults, the lecture's `approximate`")
# tighter than gradcheck's atol 1e-5: gradients here are as small as 3e-4 (bndiff2),
# where 1e-5 would pass Bessel's 3% error; central differences are good to ~1e-9 here
FINITE_DIFF = Tolerance(1e-7, 1e-4, f"central differences, eps {EPS:g}, float64")


class Setup(NamedTuple):
    """One batch through the lecture's net, and where its reference gradients come from."""

    params: dict
    Xb: np.ndarray
    Yb: np.ndarray
    sizes: Sizes
    seed: object            # None: the lecture's torch fixture
    cache: dict             # chunked.forward's cache: intermediates, params, Xb, Yb, n
    torch_grads: object     # the fixture's 26 float64 gradients, or None

    def describe(self):
        s = self.sizes
        dims = (f"N {s.batch_size}, T {s.block_size}, E {s.n_embd}, H {s.n_hidden}, "
                f"V {s.vocab_size}; float64")
        if self.torch_grads is not None:
            return (f"the lecture's setup ({dims}); reference: the committed torch "
                    f"{fixture.torch_version()} fixture")
        return f"seed {self.seed} ({dims}); reference: finite differences"

    @property
    def tolerance(self):
        return ALLCLOSE if self.torch_grads is not None else FINITE_DIFF


def lecture_setup():
    """The lecture's exercise-1 batch and parameters, from the torch fixture (float64)."""
    ref = fixture.load_reference(np.float64)
    _, cache = chunked.forward(ref.params, ref.Xb, ref.Yb)
    s = Sizes(ref.params["C"].shape[0], ref.params["C"].shape[1], ref.params["W1"].shape[1],
              ref.Xb.shape[1], ref.Xb.shape[0])
    return Setup(ref.params, ref.Xb, ref.Yb, s, None, cache, dict(ref.grads))


def random_setup(sizes, seed):
    """model.init_params in float64 and a uniformly random batch, both from `seed`."""
    if min(sizes) < 1:
        raise NpbackpropError(f"sizes must be positive, got {sizes._asdict()}")
    if sizes.batch_size < 2:
        raise NpbackpropError("--batch-size must be at least 2: the batch variance divides by n-1")
    rng = np.random.default_rng(seed)
    params = model.init_params(sizes.vocab_size, sizes.n_embd, sizes.n_hidden,
                               sizes.block_size, rng=rng, dtype=np.float64)
    Xb = rng.integers(0, sizes.vocab_size, (sizes.batch_size, sizes.block_size))
    Yb = rng.integers(0, sizes.vocab_size, sizes.batch_size)
    _, cache = chunked.forward(params, Xb, Yb)
    return Setup(params, Xb, Yb, sizes, seed, cache, None)


def make_setup(seed=None, **sizes):
    """The lecture's fixture when nothing is given; else a seeded random setup.

    sizes: vocab_size, n_embd, n_hidden, block_size, batch_size; None (or
    absent) means the lecture's value.
    """
    given = {k: v for k, v in sizes.items() if v is not None}
    if seed is None and not given:
        return lecture_setup()
    return random_setup(LECTURE_SIZES._replace(**given),
                        DEFAULT_SEED if seed is None else seed)


def reference_grads(setup, names):
    """{name: reference gradient}: torch's if the setup has them, else finite differences."""
    if setup.torch_grads is not None:
        return {k: setup.torch_grads[k] for k in names}
    return chunked.numerical_grads(setup.params, setup.Xb, setup.Yb, names)


# -----------------------------------------------------------------------------
# rows: one tensor compared with its reference (`diagnose` says why a wrong one is wrong)

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
        return self.status not in (NOT_ATTEMPTED, NOT_REACHED)


def grade_row(name, x, ref, tol, diagnose=None):
    """Compare a learner's x with ref; diagnose(x) explains a numeric mismatch."""
    if x is None:
        return Row(name, NOT_ATTEMPTED)
    if not isinstance(x, np.ndarray):
        return Row(name, NOT_ARRAY, problem=f"not a numpy array but a {type(x).__name__}")
    if x.shape != ref.shape:
        return Row(name, WRONG_SHAPE, problem=f"wrong shape {x.shape}, expected {ref.shape}",
                   diagnosis=shape_diagnosis(name, x, ref, tol))
    if x.dtype != ref.dtype:
        right = (np.issubdtype(x.dtype, np.number)
                 and close(x.astype(np.float64), ref, tol))
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
               diagnosis=diagnose(x) if diagnose else "")


# -----------------------------------------------------------------------------
# reports

@dataclass(frozen=True)
class Section:
    title: str
    tolerance: Tolerance
    rows: tuple


@dataclass(frozen=True)
class Report:
    """What `npbackprop check` shows: header lines, tables, notes, a summary."""

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
    return f"{tried}/{total} attempted, {correct} correct"


# -----------------------------------------------------------------------------
# our own backward passes, the lecture's table

def check_builtin(setup, exercises=(1, 2, 3)):
    """Exercise 1's chunked backward against torch (if any) and finite differences,
    then the fused exercises 2 and 3 against the chunked result. Returns a Report."""
    v = setup.cache
    ours = chunked.backward(v)
    sections = []
    if 1 in exercises:
        if setup.torch_grads is not None:
            sections.append(Section("exercise 1: chunked backward vs torch (float64)", ALLCLOSE,
                                    ex1_rows(ours, setup.torch_grads, v, ALLCLOSE)))
        fd = chunked.numerical_grads(setup.params, setup.Xb, setup.Yb, GRAD_NAMES)
        sections.append(Section("exercise 1: chunked backward vs finite differences (float64)",
                                FINITE_DIFF, ex1_rows(ours, fd, v, FINITE_DIFF)))
    if 2 in exercises:
        _, ce_cache = layers.cross_entropy_forward(v["logits"], v["Yb"])
        dlogits = layers.cross_entropy_backward(1.0, ce_cache)
        row = grade_row("logits", dlogits, ours["logits"], ALLCLOSE,
                        fused_diagnosis(ex2_terms(v), v["n"], ALLCLOSE))
        sections.append(Section("exercise 2: fused cross-entropy backward vs chunked dlogits",
                                ALLCLOSE, (row,)))
    if 3 in exercises:
        _, bn_cache = layers.batchnorm_forward(v["hprebn"], v["bngain"], v["bnbias"])
        dhprebn, _, _ = layers.batchnorm_backward(ours["hpreact"], bn_cache)
        row = grade_row("hprebn", dhprebn, ours["hprebn"], ALLCLOSE,
                        fused_diagnosis(ex3_terms(v, ours["hpreact"]), v["n"], ALLCLOSE))
        sections.append(Section("exercise 3: fused batchnorm backward vs chunked dhprebn",
                                ALLCLOSE, (row,)))
    rows = [r for s in sections for r in s.rows]
    ok = all(r.ok for r in rows)
    summary = f"{sum(r.ok for r in rows)}/{len(rows)} rows within tolerance: " + (
        "OK" if ok else "NOT OK")
    header = ("npbackprop check: our own backward passes", f"setup: {setup.describe()}",
              EXACT_NOTE)
    return Report(header, tuple(sections), (), summary, ok)


def _error_row(name, err):
    return Row(name, ERROR, problem=f"raised {err.exc_type} at line {err.lineno} "
               f"(traceback below)")


def grade_backward(learner, setup):
    """Exercise 1: FUNC(cache) -> {name: gradient}; 26 rows against the reference."""
    v, tol = setup.cache, setup.tolerance
    ref = reference_grads(setup, GRAD_NAMES)
    out, err = call_learner(learner, (v,), "cache")
    notes = []
    if err is None:
        if not isinstance(out, dict):
            what = "None" if out is None else f"a {type(out).__name__}"
            raise NpbackpropError(
                f"{learner.label} returned {what}, not a dict of gradients by name such as "
                f"{{'logprobs': dlogprobs, ...}}")
        yours, ignored, renamed = {}, [], False
        for k, x in out.items():
            name = grad_name(k)
            if name is None:
                ignored.append(repr(k))
                continue
            renamed |= name != k
            yours[name] = x
        if renamed:
            notes.append("keys like 'dW1' read as 'W1' (the bare name is the convention)")
        if ignored:
            notes.append(f"ignored keys, not among the 26 names: {', '.join(ignored)}")
    else:
        yours = err.local_grads

    section = Section(f"exercise 1: your backward vs {_ref_name(setup)}", tol,
                      ex1_rows(yours, ref, v, tol, err))
    return _learner_report(learner, 1, setup, section, notes, err)


def ex1_rows(yours, ref, v, tol, err=None):
    """The 26 rows of exercise 1, in the lecture's order, each diagnosed if wrong.

    yours: {name: array or None}; after an exception (err), the gradient being
    computed is the error row and the ones never computed are not reached.
    """
    rows = {}
    for name in GRAD_NAMES:
        if err is not None and name == err.row:
            rows[name] = _error_row(name, err)
        elif err is not None and yours.get(name) is None:
            rows[name] = Row(name, NOT_REACHED)
        else:
            rows[name] = grade_row(name, yours.get(name), ref[name], tol,
                                   lambda x, name=name: diagnose_ex1(name, x, v, ref, yours,
                                                                     rows, tol))
        if name == "logits" and rows[name].ok:
            note = forgotten_logit_maxes(yours, v)
            rows[name] = replace(rows[name], diagnosis=note) if note else rows[name]
    return tuple(rows[k] for k in GRAD_NAMES)


def _ref_name(setup):
    return "torch (float64)" if setup.torch_grads is not None else "finite differences (float64)"


def _learner_report(learner, exercise, setup, section, notes, err):
    """The report of one exercise: its section, notes, and the learner's error if any."""
    header = (f"npbackprop check: exercise {exercise}, {learner.label}",
              f"setup: {setup.describe()}", EXACT_NOTE)
    summary = _count_summary(section.rows)
    if err is not None:
        notes = list(notes) + error_notes(learner, err)
        summary = f"{learner.label} raised {err.exc_type}; {summary}"
    ok = all(r.ok for r in section.rows)
    return Report(header, (section,), tuple(notes), summary, ok)


def grade_cross_entropy(learner, setup):
    """Exercise 2: FUNC(logits, Yb) -> dlogits, one row against the reference."""
    v = setup.cache
    ref = reference_grads(setup, ("logits",))
    out, err = call_learner(learner, (v["logits"], v["Yb"]), "logits, Yb")
    diagnose = fused_diagnosis(ex2_terms(v), v["n"], setup.tolerance)
    return _grade_one(learner, 2, setup, "logits", out, err, ref["logits"], diagnose)


def grade_batchnorm(learner, setup):
    """Exercise 3: FUNC(dhpreact, cache) -> dhprebn, one row against the reference."""
    v = setup.cache
    ref = reference_grads(setup, ("hpreact", "hprebn"))
    out, err = call_learner(learner, (ref["hpreact"], v), "dhpreact, cache")
    diagnose = fused_diagnosis(ex3_terms(v, ref["hpreact"]), v["n"], setup.tolerance)
    return _grade_one(learner, 3, setup, "hprebn", out, err, ref["hprebn"], diagnose)


def _grade_one(learner, exercise, setup, name, out, err, ref, diagnose):
    """The report of a fused exercise: one row, or the error row if FUNC raised."""
    if err is None:
        row = grade_row(name, out, ref, setup.tolerance, diagnose)
    else:
        row = _error_row(name, err)
    what = {2: "fused cross-entropy backward", 3: "fused batchnorm backward"}[exercise]
    section = Section(f"exercise {exercise}: your {what} vs {_ref_name(setup)}",
                      setup.tolerance, (row,))
    return _learner_report(learner, exercise, setup, section, (), err)


def grade(spec, exercise, setup):
    """Load "FILE.py:FUNC" and grade it on `exercise` (1, 2 or 3). Returns a Report."""
    if exercise not in EXERCISES:
        raise NpbackpropError(f"no exercise {exercise}: choose 1, 2 or 3")
    learner = load_learner(spec, EXERCISES[exercise])
    return {1: grade_backward, 2: grade_cross_entropy, 3: grade_batchnorm}[exercise](
        learner, setup)
