"""`npbackprop check`: the lecture's `cmp` table, and a grader for a learner's backward.

    report = check_builtin(make_setup())                 # our own 26 + 2 gradients
    report = grade("me.py:backward", 1, make_setup())    # a learner's exercise 1
    print(report.text()); exit code 0 if report.ok

The reference is the committed torch fixture at the lecture's size, and
central finite differences in float64 at any other size (or seed). A wrong
gradient is diagnosed where it matches a known mistake: a branch of a tensor
used twice forgotten, a factor n or n/(n-1) off, an unsummed broadcast, a
transposed matmul, repeated indices lost in the embedding scatter.
Nothing here prints or exits; user mistakes raise NpbackpropError.
"""

import ast
import textwrap
import traceback
import types
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from npbackprop import chunked, fixture, layers, model
from npbackprop.broadcast import unbroadcast
from npbackprop.chunked import GRAD_NAMES, INTERMEDIATES, PARAM_NAMES
from npbackprop.errors import NpbackpropError
from npbackprop.gradcheck import EPS, compare
from npbackprop.layers import BN_EPS

EXERCISES = {1: "backward", 2: "cross_entropy_backward", 3: "batchnorm_backward"}
DEFAULT_SEED = 42

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
# each gradient of exercise 1 as a sum of branches, one per use of its tensor:
# (the tensor the gradient comes back from, rule(v, g) with v the cache, g the gradients)

def _dlogprobs(v, g):
    d = np.zeros_like(v["logprobs"])
    d[np.arange(v["n"]), v["Yb"]] = -1.0 / v["n"]
    return d


def _onehot(index, shape):
    out = np.zeros(shape)
    out[np.arange(shape[0]), index] = 1.0
    return out


def _dC(v, g):
    dC = np.zeros_like(v["C"])
    np.add.at(dC, v["Xb"].reshape(-1), g["emb"].reshape(-1, dC.shape[1]))
    return dC


def _ub(x, v, name):
    # every sum over a broadcast axis is an unbroadcast to the tensor's shape
    return unbroadcast(x, v[name].shape)


BRANCHES = {
    "logprobs": (("loss", _dlogprobs),),
    "probs": (("logprobs", lambda v, g: g["logprobs"] / v["probs"]),),
    "counts_sum_inv": (("probs", lambda v, g: _ub(v["counts"] * g["probs"], v,
                                                  "counts_sum_inv")),),
    "counts_sum": (("counts_sum_inv", lambda v, g: -v["counts_sum"] ** -2 * g["counts_sum_inv"]),),
    "counts": (("probs", lambda v, g: v["counts_sum_inv"] * g["probs"]),
               ("counts_sum", lambda v, g: np.broadcast_to(g["counts_sum"], v["counts"].shape))),
    "norm_logits": (("counts", lambda v, g: v["counts"] * g["counts"]),),
    "logit_maxes": (("norm_logits", lambda v, g: _ub(-g["norm_logits"], v, "logit_maxes")),),
    "logits": (("norm_logits", lambda v, g: g["norm_logits"]),
               ("logit_maxes", lambda v, g: _onehot(v["logits"].argmax(1), v["logits"].shape)
                * g["logit_maxes"])),
    "h": (("logits", lambda v, g: g["logits"] @ v["W2"].T),),
    "W2": (("logits", lambda v, g: v["h"].T @ g["logits"]),),
    "b2": (("logits", lambda v, g: _ub(g["logits"], v, "b2")),),
    "hpreact": (("h", lambda v, g: (1.0 - v["h"] ** 2) * g["h"]),),
    "bngain": (("hpreact", lambda v, g: _ub(v["bnraw"] * g["hpreact"], v, "bngain")),),
    "bnbias": (("hpreact", lambda v, g: _ub(g["hpreact"], v, "bnbias")),),
    "bnraw": (("hpreact", lambda v, g: v["bngain"] * g["hpreact"]),),
    "bnvar_inv": (("bnraw", lambda v, g: _ub(v["bndiff"] * g["bnraw"], v, "bnvar_inv")),),
    "bnvar": (("bnvar_inv", lambda v, g: -0.5 * (v["bnvar"] + BN_EPS) ** -1.5 * g["bnvar_inv"]),),
    "bndiff2": (("bnvar", lambda v, g: np.broadcast_to(g["bnvar"] / (v["n"] - 1),
                                                       v["bndiff2"].shape)),),
    "bndiff": (("bnraw", lambda v, g: v["bnvar_inv"] * g["bnraw"]),
               ("bndiff2", lambda v, g: 2.0 * v["bndiff"] * g["bndiff2"])),
    "bnmeani": (("bndiff", lambda v, g: _ub(-g["bndiff"], v, "bnmeani")),),
    "hprebn": (("bndiff", lambda v, g: g["bndiff"]),
               ("bnmeani", lambda v, g: np.broadcast_to(g["bnmeani"] / v["n"],
                                                        v["hprebn"].shape))),
    "embcat": (("hprebn", lambda v, g: g["hprebn"] @ v["W1"].T),),
    "W1": (("hprebn", lambda v, g: v["embcat"].T @ g["hprebn"]),),
    "b1": (("hprebn", lambda v, g: _ub(g["hprebn"], v, "b1")),),
    "emb": (("embcat", lambda v, g: g["embcat"].reshape(v["emb"].shape)),),
    "C": (("emb", _dC),),
}

# the two uses of each tensor the forward pass uses twice
USES = {
    "counts": "probs = counts * counts_sum_inv, counts_sum = counts.sum(1)",
    "logits": "norm_logits = logits - logit_maxes, logit_maxes = logits.max(1)",
    "bndiff": "bnraw = bndiff * bnvar_inv, bndiff2 = bndiff**2",
    "hprebn": "bndiff = hprebn - bnmeani, bnmeani = 1/n * hprebn.sum(0)",
}

MATMUL = {"h": "dh = dlogits @ W2.T", "W2": "dW2 = h.T @ dlogits",
          "embcat": "dembcat = dhprebn @ W1.T", "W1": "dW1 = embcat.T @ dhprebn"}


def ex1_terms(name, v, g):
    """[(label, term, message if forgotten)] whose sum is d`name`, from upstream grads g."""
    branches = BRANCHES[name]
    return [(label, np.asarray(rule(v, g), dtype=np.float64),
             f"a branch is forgotten: {name} is used twice ({USES.get(name)}); "
             f"the gradient through {label} is missing") for label, rule in branches]


def ex2_terms(v):
    """dlogits = softmax(logits)/n - onehot(Yb)/n, as its two terms."""
    n, logits = v["n"], v["logits"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return [("softmax", p / n,
             "only the -1 at the target: the softmax(logits) term is missing"),
            ("the target", -_onehot(v["Yb"], logits.shape) / n,
             "the -1 at the target is missing: dlogits = (softmax(logits) - onehot(Yb)) / n")]


def ex3_terms(v, dhpreact):
    """The fused batchnorm backward, dhprebn, as its direct, mean and variance terms."""
    n, raw = v["n"], v["bnraw"]
    k = v["bngain"] * v["bnvar_inv"]                                   # (1, H)
    # both sums over the batch undo the broadcast of bnmeani and bnvar
    return [("the direct path", k * dhpreact,
             "the direct path bngain * bnvar_inv * dhpreact is missing"),
            ("bnmeani", -k / n * unbroadcast(dhpreact, k.shape),
             "the path through the mean (bnmeani) is missing: the -dhpreact.sum(0)/n term"),
            ("bnvar", -k / (n - 1) * raw * unbroadcast(dhpreact * raw, k.shape),
             "the path through the variance (bnvar) is missing: the bnraw * (dhpreact*bnraw)"
             ".sum(0) term")]


# -----------------------------------------------------------------------------
# rows: one tensor compared with its reference, and what a wrong one looks like

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


def _close(x, y, tol):
    return x.shape == np.shape(y) and bool(np.allclose(x, y, atol=tol.atol, rtol=tol.rtol))


def _usable(x, ref):
    """A learner's array that can stand in for `ref` in a computation."""
    return (isinstance(x, np.ndarray) and x.shape == ref.shape
            and np.issubdtype(x.dtype, np.number) and bool(np.all(np.isfinite(x))))


def _factors(n):
    """Known wrong factors of a gradient, each with what it usually means."""
    return [
        (n, f"{n} times too large (a factor n): the 1/n of the mean is missing"),
        (1 / n, f"{n} times too small (a factor 1/n): the mean's 1/n is applied twice"),
        ((n - 1) / n, f"off by a factor (n-1)/n = {n - 1}/{n}: Bessel's correction, "
                      f"bnvar divides by n-1, not n"),
        (n / (n - 1), f"off by a factor n/(n-1) = {n}/{n - 1}: Bessel's correction where it "
                      f"does not belong (only bnvar divides by n-1; bnmeani by n)"),
        (-1.0, "the sign is flipped"),
        (2.0, "twice too large"),
        (0.5, "half the right value (the 2 of d(x**2) = 2x?)"),
    ]


def known_mistake(x, expected, terms, n, tol, specific=()):
    """The first known mistake that x matches, as one line ("" if none).

    expected: the right answer; terms: [(label, term, forgot)] summing to it;
    specific: (alternative, message) pairs tried first. An alternative counts
    only if it is itself distinguishable from the right answer.
    """
    def matches(alt):
        return _close(x, alt, tol) and not _close(np.asarray(alt), expected, tol)

    if not np.any(x) and np.any(expected):
        return "all zeros: a placeholder left in?"
    for alt, message in specific:
        if alt is not None and matches(alt):
            return message
    several = len(terms) > 1
    for label, term, forgot in terms if several else ():
        if matches(expected - term):
            return forgot
    for f, phrase in _factors(n):
        if matches(f * expected):
            return phrase
    for label, term, _ in terms if several else ():
        for f, phrase in _factors(n):
            if matches(expected + (f - 1) * term):
                return f"the term through {label} is {phrase}"
    return ""


def shape_diagnosis(name, x, ref, tol):
    """What a wrong shape says about the mistake: unsummed broadcast, transpose, keepdims."""
    xs, rs = x.shape, ref.shape
    if x.ndim == 2 and xs == rs[::-1]:
        why = f"{xs} is the transpose of {rs}"
        why += f": {MATMUL[name]}" if name in MATMUL else ""
        return why + ("; its transpose is right" if _close(x.T, ref, tol) else "")
    if x.size == ref.size:
        how = ("keepdims=True missing?" if x.ndim < ref.ndim
               else "a keepdims=True too many?" if x.ndim > ref.ndim else "reshape it")
        right = _close(x.reshape(rs), ref, tol)
        return (f"the right number of elements in the wrong shape: {name} is {rs} ({how})"
                + ("; the values are right" if right else ""))
    try:
        summed = unbroadcast(x, rs)
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
                + ("; summed, it is right" if _close(summed, ref, tol) else ""))
    if x.ndim == ref.ndim:
        wrong = [i for i in range(x.ndim) if xs[i] == 1 and rs[i] != 1]
        right = [i for i in range(x.ndim) if rs[i] == 1 and xs[i] != 1]
        if wrong and right:
            return (f"summed over the wrong axis: {name} {rs} was broadcast along axis "
                    f"{right[0]}, so sum over axis {right[0]}, not axis {wrong[0]}")
        if wrong and not right and xs == tuple(1 if i in wrong else s for i, s in enumerate(rs)):
            return (f"{name} is {rs}: its gradient has that full shape (broadcast it back)"
                    + ("; broadcast, it is right"
                       if _close(np.broadcast_to(x, rs), ref, tol) else ""))
    return ""


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
                 and _close(x.astype(np.float64), ref, tol))
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
        terms = ex2_terms(v)
        row = grade_row("logits", dlogits, ours["logits"], ALLCLOSE, lambda x: known_mistake(
            x, sum(t for _, t, _ in terms), terms, v["n"], ALLCLOSE))
        sections.append(Section("exercise 2: fused cross-entropy backward vs chunked dlogits",
                                ALLCLOSE, (row,)))
    if 3 in exercises:
        _, bn_cache = layers.batchnorm_forward(v["hprebn"], v["bngain"], v["bnbias"])
        dhprebn, _, _ = layers.batchnorm_backward(ours["hpreact"], bn_cache)
        terms = ex3_terms(v, ours["hpreact"])
        row = grade_row("hprebn", dhprebn, ours["hprebn"], ALLCLOSE, lambda x: known_mistake(
            x, sum(t for _, t, _ in terms), terms, v["n"], ALLCLOSE))
        sections.append(Section("exercise 3: fused batchnorm backward vs chunked dhprebn",
                                ALLCLOSE, (row,)))
    rows = [r for s in sections for r in s.rows]
    ok = all(r.ok for r in rows)
    summary = f"{sum(r.ok for r in rows)}/{len(rows)} rows within tolerance: " + (
        "OK" if ok else "NOT OK")
    header = ("npbackprop check: our own backward passes", f"setup: {setup.describe()}",
              "exact: all equal (informational); approximate decides a row")
    return Report(header, tuple(sections), (), summary, ok)


# -----------------------------------------------------------------------------
# a learner's file

class Learner(NamedTuple):
    func: object
    label: str              # FILE.py:FUNC as given
    path: Path              # resolved, as in the learner's tracebacks
    tree: ast.AST


def load_learner(spec, default_func="backward"):
    """Import FUNC from FILE.py given as "FILE.py:FUNC" (or "FILE.py" for default_func).

    Raises NpbackpropError, one line, for a missing or non-Python file, a
    syntax error, an exception while loading, or a FUNC absent or not callable.
    """
    file, sep, name = spec.rpartition(":")
    # no FUNC given, or the colon is the path's own (a Windows drive)
    if not sep or not file or not name.isidentifier():
        file, name = spec, default_func
    path = Path(file)
    if not path.exists():
        raise NpbackpropError(f"learner file not found: {file}")
    if path.is_dir() or path.suffix != ".py":
        raise NpbackpropError(f"not a Python file: {file} (expected FILE.py:FUNC)")
    resolved = path.resolve()
    try:
        source = resolved.read_text(encoding="utf-8")
        tree = ast.parse(source, str(resolved))
        code = compile(tree, str(resolved), "exec")
    except SyntaxError as e:
        raise NpbackpropError(f"{file} is not valid Python: line {e.lineno}: {e.msg}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise NpbackpropError(f"not a Python file: {file} ({e})") from None
    module = types.ModuleType(f"npbackprop_learner_{path.stem}")
    module.__file__ = str(resolved)
    try:
        exec(code, module.__dict__)
    except Exception as e:  # the learner's module-level code
        line = _learner_frames(e, resolved)[-1:]
        at = f" at line {line[0].lineno}" if line else ""
        raise NpbackpropError(f"{file} raised {type(e).__name__}{at} while loading: "
                              f"{_first_line(e)}") from None
    if not hasattr(module, name):
        defined = sorted(k for k, f in vars(module).items()
                         if isinstance(f, types.FunctionType) and f.__module__ == module.__name__)
        also = f" (it defines: {', '.join(defined)})" if defined else " (it defines no functions)"
        raise NpbackpropError(f"{file} has no function {name!r}{also}")
    func = getattr(module, name)
    if not callable(func):
        raise NpbackpropError(f"{file}:{name} is not a function: it is of type "
                              f"{type(func).__name__}")
    return Learner(func, f"{file}:{name}", resolved, tree)


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def _learner_frames(exc, path):
    """The traceback entries of exc that are in the learner's file."""
    return [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]


def _assigned_grad(tree, lineno):
    """The gradient a statement at lineno assigns (dX = ..., d["X"] = ...), or None."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            continue
        if not node.lineno <= lineno <= (node.end_lineno or node.lineno):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            for name in _target_names(t):
                grad = _grad_name(name)
                if grad:
                    return grad
    return None


def _target_names(t):
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        return [n for e in t.elts for n in _target_names(e)]
    if isinstance(t, ast.Subscript):
        key = t.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return [key.value]
        return _target_names(t.value)
    return []


def _grad_name(name):
    """"dW1" or "W1" -> "W1"; anything else -> None."""
    if not isinstance(name, str):
        return None
    if name in GRAD_NAMES:
        return name
    return name[1:] if name.startswith("d") and name[1:] in GRAD_NAMES else None


class LearnerError(NamedTuple):
    """An exception raised by the learner's FUNC."""

    exc_type: str
    message: str
    lineno: object          # the learner's innermost line, or None
    row: object             # the gradient being computed, or None
    traceback: tuple        # lines, frames from the learner's file only
    local_grads: dict       # the gradients computed so far, from the learner's frames


def call_learner(learner, args, call_text):
    """Run FUNC(*args). Returns (result, None) or (None, LearnerError).

    A TypeError with no frame in the learner's file means FUNC could not be
    called that way: NpbackpropError.
    """
    try:
        return learner.func(*args), None
    except Exception as exc:  # the learner's code; shown as their traceback
        frames = _learner_frames(exc, learner.path)
        if not frames:
            raise NpbackpropError(f"{learner.label} could not be called as {call_text}: "
                                  f"{type(exc).__name__}: {_first_line(exc)}") from None
        grads, func_line = _grads_so_far(exc, learner, args), None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is getattr(learner.func, "__code__", None):
                func_line = tb.tb_lineno
            tb = tb.tb_next
        row = _assigned_grad(learner.tree, frames[-1].lineno)
        if row is None and func_line is not None:
            row = _assigned_grad(learner.tree, func_line)
        if row is None:
            # the first gradient, in the lecture's order, not yet computed
            row = next((k for k in GRAD_NAMES if k not in grads), None)
        lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
        text = tuple(x for chunk in lines for x in chunk.rstrip("\n").split("\n"))
        return None, LearnerError(type(exc).__name__, _first_line(exc), frames[-1].lineno, row,
                                  text, grads)


def _grads_so_far(exc, learner, args):
    """The gradients the learner's frames held when exc was raised.

    From each frame in the learner's file, outermost first: variables named
    dX, and dicts keyed by gradient names (not the cache passed in).
    """
    passed = {id(a) for a in args}
    grads = {}
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if Path(frame.f_code.co_filename) == learner.path:
            for k, x in frame.f_locals.items():
                if isinstance(x, dict) and id(x) not in passed and "Xb" not in x:
                    grads.update({_grad_name(j): y for j, y in x.items()
                                  if _grad_name(j) and y is not None})
                elif _grad_name(k) and k != _grad_name(k) and x is not None:
                    grads[_grad_name(k)] = x
        tb = tb.tb_next
    return grads


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x


def _error_notes(learner, err):
    at = f" while computing d{err.row}" if err.row else ""
    notes = [f"{learner.label} raised {err.exc_type}{at}:"] + list(err.traceback)
    if err.exc_type == "ValueError" and "matmul" in err.message:
        notes.append("hint: a matmul gradient needs a transpose: for y = a @ b, "
                     "da = dy @ b.T and db = a.T @ dy")
    return notes


def _error_row(name, err):
    return Row(name, ERROR, problem=f"raised {err.exc_type} at line {err.lineno} "
               f"(traceback below)")


def grade_backward(learner, setup):
    """Exercise 1: FUNC(cache) -> {name: gradient}; 26 rows against the reference."""
    v, tol = setup.cache, setup.tolerance
    ref = reference_grads(setup, GRAD_NAMES)
    cache = {k: _copy(x) for k, x in v.items()}
    out, err = call_learner(learner, (cache,), f"{learner.label.rpartition(':')[2]}(cache)")
    notes = []
    if err is None:
        if not isinstance(out, dict):
            what = "None" if out is None else f"a {type(out).__name__}"
            raise NpbackpropError(
                f"{learner.label} returned {what}, not a dict of gradients by name such as "
                f"{{'logprobs': dlogprobs, ...}}")
        yours, ignored, renamed = {}, [], False
        for k, x in out.items():
            name = _grad_name(k)
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

    rows = ex1_rows(yours, ref, v, tol, err)
    if err is not None:
        notes += _error_notes(learner, err)
    summary = _count_summary(rows)
    if err is not None:
        summary = f"{learner.label} raised {err.exc_type}; {summary}"
    section = Section(f"exercise 1: your backward vs {_ref_name(setup)}", tol, rows)
    return _learner_report(learner, 1, setup, section, notes, summary)


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
                                   lambda x, name=name: _diagnose_ex1(name, x, v, ref, yours,
                                                                      rows, tol))
        rows[name] = _logits_note(rows[name], yours, v)
    return tuple(rows[k] for k in GRAD_NAMES)


def _ref_name(setup):
    return "torch (float64)" if setup.torch_grads is not None else "finite differences (float64)"


def _learner_report(learner, exercise, setup, section, notes, summary):
    header = (f"npbackprop check: exercise {exercise}, {learner.label}",
              f"setup: {setup.describe()}",
              "exact: all equal (informational); approximate decides a row")
    ok = all(r.ok for r in section.rows)
    return Report(header, (section,), tuple(notes), summary, ok)


def _diagnose_ex1(name, x, v, ref, yours, rows, tol):
    """Why the learner's d`name` is wrong, judged line by line.

    The right value of this line is computed from the learner's own upstream
    gradients where they are wrong but usable, so a mistake upstream reads as
    "follows from", and a mistake here is named even below another one.
    """
    g, wrong = dict(ref), []
    for up, _ in BRANCHES[name]:
        if up in rows and rows[up].attempted and not rows[up].ok:
            wrong.append(up)
            if _usable(yours.get(up), ref[up]):
                g[up] = yours[up].astype(np.float64)
    terms = ex1_terms(name, v, g)
    expected = sum(t for _, t, _ in terms)
    if wrong and _close(x, expected, tol):
        return f"follows from the wrong d{wrong[0]} above (this line is right given it)"
    specific = []
    if name == "C":
        lost = np.zeros_like(v["C"])
        lost[v["Xb"]] += g["emb"]  # numpy's buffered += keeps one row per repeated index
        specific.append((lost, "repeated characters lost in the scatter: dC[Xb] += demb keeps "
                               "one row per repeated index; use np.add.at(dC, Xb, demb)"))
    if name in MATMUL and x.ndim == 2 and x.shape[0] == x.shape[1]:
        specific.append((expected.T, f"equals the transpose of the right answer: {MATMUL[name]}"))
    if name == "h" and v["W2"].shape[0] == v["W2"].shape[1]:
        specific.append((g["logits"] @ v["W2"], f"equals dlogits @ W2: {MATMUL['h']}"))
    if name == "embcat" and v["W1"].shape[0] == v["W1"].shape[1]:
        specific.append((g["hprebn"] @ v["W1"], f"equals dhprebn @ W1: {MATMUL['embcat']}"))
    found = known_mistake(x, expected, terms, v["n"], tol, specific)
    if found:
        return found + (f" (and d{wrong[0]} above is wrong too)" if wrong else "")
    return f"d{wrong[0]} above is wrong too: fix the rows in order" if wrong else ""


def _logits_note(row, yours, v):
    """dlogits passes without the logit_maxes branch (it is ~0); say so when it is absent."""
    dl, dn, dm = (yours.get(k) for k in ("logits", "norm_logits", "logit_maxes"))
    if row.name != "logits" or not row.ok or not all(isinstance(a, np.ndarray) for a in (dn, dm)):
        return row
    try:
        with_branch = dn + _onehot(v["logits"].argmax(1), dn.shape) * dm
    except ValueError:
        return row
    if np.array_equal(dl, dn) and not np.array_equal(with_branch, dn):
        return replace(row, diagnosis="passes, but the branch through logit_maxes looks "
                       "forgotten (dlogits == dnorm_logits exactly); harmless here since "
                       "dlogit_maxes is ~0")
    return row


def grade_cross_entropy(learner, setup):
    """Exercise 2: FUNC(logits, Yb) -> dlogits, one row against the reference."""
    v, tol = setup.cache, setup.tolerance
    ref = reference_grads(setup, ("logits",))["logits"]
    out, err = call_learner(learner, (v["logits"].copy(), v["Yb"].copy()),
                            f"{learner.label.rpartition(':')[2]}(logits, Yb)")
    terms = ex2_terms(v)
    expected = sum(t for _, t, _ in terms)
    return _grade_one(learner, 2, setup, "logits", out, err, ref,
                      lambda x: known_mistake(x, expected, terms, v["n"], tol))


def grade_batchnorm(learner, setup):
    """Exercise 3: FUNC(dhpreact, cache) -> dhprebn, one row against the reference."""
    v, tol = setup.cache, setup.tolerance
    ref = reference_grads(setup, ("hpreact", "hprebn"))
    cache = {k: _copy(x) for k, x in v.items()}
    out, err = call_learner(learner, (ref["hpreact"].copy(), cache),
                            f"{learner.label.rpartition(':')[2]}(dhpreact, cache)")
    terms = ex3_terms(v, ref["hpreact"])
    expected = sum(t for _, t, _ in terms)
    return _grade_one(learner, 3, setup, "hprebn", out, err, ref["hprebn"],
                      lambda x: known_mistake(x, expected, terms, v["n"], setup.tolerance))


def _grade_one(learner, exercise, setup, name, out, err, ref, diagnose):
    notes = []
    if err is None:
        row = grade_row(name, out, ref, setup.tolerance, diagnose)
    else:
        row = _error_row(name, err)
        notes = _error_notes(learner, err)
    what = {2: "fused cross-entropy backward", 3: "fused batchnorm backward"}[exercise]
    section = Section(f"exercise {exercise}: your {what} vs {_ref_name(setup)}",
                      setup.tolerance, (row,))
    summary = _count_summary((row,))
    if err is not None:
        summary = f"{learner.label} raised {err.exc_type}; {summary}"
    return _learner_report(learner, exercise, setup, section, notes, summary)


def grade(spec, exercise, setup):
    """Load "FILE.py:FUNC" and grade it on `exercise` (1, 2 or 3). Returns a Report."""
    if exercise not in EXERCISES:
        raise NpbackpropError(f"no exercise {exercise}: choose 1, 2 or 3")
    learner = load_learner(spec, EXERCISES[exercise])
    return {1: grade_backward, 2: grade_cross_entropy, 3: grade_batchnorm}[exercise](
        learner, setup)


# -----------------------------------------------------------------------------
# the learner's starting file

FORWARD = """\
emb = C[Xb]                                           # (N, T, E)
embcat = emb.reshape(n, -1)                           # (N, T*E)
# linear layer 1
hprebn = embcat @ W1 + b1                             # (N, H)
# batchnorm layer, Bessel-corrected variance
bnmeani = 1 / n * hprebn.sum(0, keepdims=True)        # (1, H)
bndiff = hprebn - bnmeani                             # (N, H)
bndiff2 = bndiff ** 2                                 # (N, H)
bnvar = 1 / (n - 1) * bndiff2.sum(0, keepdims=True)   # (1, H)
bnvar_inv = (bnvar + 1e-5) ** -0.5                    # (1, H)
bnraw = bndiff * bnvar_inv                            # (N, H)
hpreact = bngain * bnraw + bnbias                     # (N, H)
# non-linearity
h = np.tanh(hpreact)                                  # (N, H)
# linear layer 2
logits = h @ W2 + b2                                  # (N, V)
# cross-entropy loss
logit_maxes = logits.max(1, keepdims=True)            # (N, 1)
norm_logits = logits - logit_maxes                    # (N, V)
counts = np.exp(norm_logits)                          # (N, V)
counts_sum = counts.sum(1, keepdims=True)             # (N, 1)
counts_sum_inv = counts_sum ** -1                     # (N, 1)
probs = counts * counts_sum_inv                       # (N, V)
logprobs = np.log(probs)                              # (N, V)
loss = -logprobs[np.arange(n), Yb].mean()             # ()
"""


def template():
    """A starting file for `check --impl FILE.py:backward`, accepted as it stands."""
    forward = "".join(f"#     {line}\n" if line else "#\n" for line in FORWARD.splitlines())
    inter = [k for k in INTERMEDIATES if k != "loss"]

    def wrap(text, first, rest):
        return textwrap.fill(text, 88, initial_indent=first, subsequent_indent=rest,
                             break_on_hyphens=False)

    names = wrap(", ".join(f'"{k}"' for k in inter), "INTERMEDIATES = (", " " * 17) + ")"
    unpack = wrap(", ".join(inter), "    (", "     ") + ") = (cache[k] for k in INTERMEDIATES)"
    params = ", ".join(f'"{k}"' for k in PARAM_NAMES)
    grads = "".join(f"    d{k} = None\n" for k in GRAD_NAMES)
    ret = "".join(f'        "{k}": d{k},\n' for k in GRAD_NAMES)
    return f'''\
"""Makemore part 4, "becoming a backprop ninja": the backward pass by hand, in NumPy.

Fill in one gradient at a time, in order, and grade them with

    npbackprop check --impl THIS_FILE.py:backward

A gradient left as None shows as "not attempted". Each dX must have exactly
X's shape and dtype (float64). Exercises 2 and 3 are at the bottom:

    npbackprop check --exercise 2 --impl THIS_FILE.py:cross_entropy_backward
    npbackprop check --exercise 3 --impl THIS_FILE.py:batchnorm_backward
"""

import numpy as np

# The forward pass you are undoing; N batch, T block_size, E n_embd,
# H n_hidden, V vocab_size, n = N:
#
{forward}
PARAM_NAMES = ({params})
{names}


def backward(cache):
    """Exercise 1. cache: every intermediate above by name, the parameters,
    Xb, Yb and n (copies: change them freely). Returns {{name: gradient}}."""
    n, Xb, Yb = cache["n"], cache["Xb"], cache["Yb"]
    C, W1, b1, W2, b2, bngain, bnbias = (cache[k] for k in PARAM_NAMES)
{unpack}

{grads}
    return {{
{ret}    }}


def cross_entropy_backward(logits, Yb):
    """Exercise 2: dlogits (N, V) of loss = cross-entropy(logits, Yb), in one go."""
    dlogits = None
    return dlogits


def batchnorm_backward(dhpreact, cache):
    """Exercise 3: dhprebn (N, H) in one expression, given dhpreact (N, H).

    cache as in backward: bngain, bnvar_inv, bnraw, hprebn, n, ...
    """
    dhprebn = None
    return dhprebn
'''
