"""Grading where learners write: notebook cells with the lecture's names as globals.

    globals().update(lecture_setup())        # C, W1, ..., Xb, Yb, n, emb, ..., loss, cmp
    dlogprobs = np.zeros_like(logprobs)      # the learner's cells, the lecture's names
    ...
    report = grade_namespace(globals())      # exercise 1: prints the table, returns it
    grade_namespace(globals(), exercise=2)   # dlogits; exercise=3: dhprebn
    grade_namespace(my_backward)             # or a function, called as --impl calls it

A gradient is picked up by the lecture's name for it, d + the tensor's name
(dlogprobs, dW1, ..., dC); a name not written yet is "not computed yet".
Torch tensors are read as arrays (duck-typed, torch is never imported). The
namespace keeps the setup it came from (`npbackprop_setup`), so the grade is
against the same batch the cells computed on.
"""

import sys
from collections.abc import Mapping

import numpy as np

from npbackprop.check import grader
from npbackprop.check.cells import SETUP_KEY, make_cmp
from npbackprop.check.child import DEFAULT_TIMEOUT, MEMORY_LIMIT, run_apart
from npbackprop.check.diagnose import close
from npbackprop.check.learner import as_array, from_torch, learner_from_callable, misspelled
from npbackprop.check.report import NOT_COMPUTED
from npbackprop.check.setups import make_setup, reference_grads
from npbackprop.errors import NpbackpropError
from npbackprop.names import GRAD_NAMES

LABEL = "the names in your namespace"
__all__ = ["SETUP_KEY", "as_array", "grade", "grade_namespace", "lecture_setup", "make_cmp"]


def lecture_setup(seed=None, **sizes):
    """The lecture's exercise-1 namespace: parameters, batch, every forward intermediate.

    For `globals().update(lecture_setup())` in a notebook: C, W1, b1, W2, b2,
    bngain, bnbias, Xb, Yb, n, emb, ..., logprobs, loss by the lecture's
    names (float64 numpy arrays, copies: change them freely), the sizes
    (vocab_size, n_embd, n_hidden, block_size, batch_size), the lecture's
    `cmp(name, dt, t)` printing one row, and SETUP_KEY for grade_namespace.
    seed and sizes as make_setup: none given is the lecture's torch fixture.
    """
    return lecture_namespace(make_setup(seed, **sizes))


def lecture_namespace(setup, cmp=True):
    """lecture_setup's namespace for a Setup (cmp=False: without cmp, to pickle)."""
    ns = {k: np.array(x) if isinstance(x, np.ndarray) else x for k, x in setup.cache.items()}
    ns.update(setup.sizes._asdict())
    if cmp:
        ns["cmp"] = make_cmp(setup)
    ns[SETUP_KEY] = setup
    return ns


def grade_namespace(namespace, exercise=1, setup=None, file=sys.stdout):
    """Grade a notebook's namespace (a dict such as globals()) or a function.

    A namespace gives its gradients by the lecture's names: dlogprobs, ...,
    dC (exercise 1), dlogits (2), dhprebn (3). A function is called as
    `npbackprop check --impl` calls one: FUNC(cache) -> {name: grad},
    FUNC(logits, Yb) -> dlogits, FUNC(dhpreact, cache) -> dhprebn.
    setup: the Setup graded on; by default the one lecture_setup put in the
    namespace, else the lecture's. Prints the table to `file` (None: print
    nothing); returns the Report (.ok, .text()).
    """
    if exercise not in grader.EXERCISES:
        raise NpbackpropError(f"no exercise {exercise!r}: choose 1, 2 or 3")
    if isinstance(namespace, Mapping):
        if setup is None:
            setup = namespace.get(SETUP_KEY)
        setup = make_setup() if setup is None else setup
        report = grade_values(namespace, exercise, setup)
    elif callable(namespace):
        learner = learner_from_callable(namespace)
        setup = make_setup() if setup is None else setup
        report = {1: grader.grade_backward, 2: grader.grade_cross_entropy,
                  3: grader.grade_batchnorm}[exercise](learner, setup)
    else:
        raise NpbackpropError(f"grade_namespace takes a dict of names such as globals() or a "
                              f"function, not an object of type {type(namespace).__name__}")
    if file is not None:
        print(report.text(), file=file, flush=True)
    return report


def grade_values(ns, exercise, setup, label=LABEL, notes=(), err=None):
    """The report of the names in ns {name: value} (a namespace, or what a notebook run
    sent back); err: the exception that stopped the notebook, if any."""
    wanted = {1: [f"d{k}" for k in GRAD_NAMES], 2: ["dlogits"], 3: ["dhprebn"]}[exercise]
    notes = list(notes) + _foreign_forward(ns, setup) + misspelled(list(ns), wanted)
    if exercise == 1:
        yours = {k: ns[f"d{k}"] for k in GRAD_NAMES if ns.get(f"d{k}") is not None}
        return grader.report_ex1(label, setup, yours, notes, err, missing=NOT_COMPUTED)
    if exercise == 2:
        report = grader.report_fused(label, 2, setup, ns.get("dlogits"), err,
                                     missing=NOT_COMPUTED)
    else:
        dhpreact, why = _upstream(ns.get("dhpreact"), setup)
        notes += why
        report = grader.report_fused(label, 3, setup, ns.get("dhprebn"), err,
                                     missing=NOT_COMPUTED, dhpreact=dhpreact)
    return grader.with_notes(report, notes)


def _upstream(theirs, setup):
    """Exercise 3's dhpreact: the namespace's own when usable and not the reference's."""
    (theirs,), _ = from_torch([theirs])
    ref = reference_grads(setup, ("hpreact",))["hpreact"]
    if (not isinstance(theirs, np.ndarray) or theirs.shape != ref.shape
            or not np.issubdtype(theirs.dtype, np.number) or not np.all(np.isfinite(theirs))
            or close(theirs.astype(np.float64), ref, setup.tolerance)):
        return None, []
    return theirs.astype(np.float64), [
        "your dhpreact is not the reference's: dhprebn is graded as the fused formula "
        "applied to your own dhpreact"]


def _foreign_forward(ns, setup):
    """A note when the namespace's forward values are not the setup's (another batch)."""
    for name in ("hprebn", "logits", "loss"):
        if name not in ns:
            continue
        (x,), _ = from_torch([ns[name]])
        want = setup.cache[name]
        try:
            same = np.shape(x) == want.shape and np.allclose(np.asarray(x, np.float64), want,
                                                             rtol=1e-4, atol=1e-6)
        except (TypeError, ValueError):
            same = False
        if not same:
            return [f"your {name} is not the setup's ({setup.describe()}): the gradients "
                    f"are graded on that setup; start from globals().update(lecture_setup(...)) "
                    f"with the same arguments, or pass setup="]
    return []


def grade_notebook(path, exercise, setup, timeout=DEFAULT_TIMEOUT, memory=MEMORY_LIMIT):
    """Run a notebook's code cells in a child, in a namespace from lecture_setup, and
    grade the names they defined (a lecture_setup the notebook calls is the one graded)."""
    ns = lecture_namespace(setup, cmp=False)
    wanted = {1: [f"d{k}" for k in GRAD_NAMES], 2: ["dlogits"], 3: ["dhprebn", "dhpreact"]}
    res = run_apart({"kind": "notebook", "path": path, "namespace": ns,
                     "names": wanted[exercise] + ["hprebn", "logits", "loss"]}, timeout, memory)
    if res.failure:
        return grader.failure_report(path, exercise, setup, res.failure)
    if res.setup_args is not None:
        seed, sizes = res.setup_args
        setup = make_setup(seed, **sizes)
    return grade_values(res.value, exercise, setup, path, res.notes, res.error)


def grade(spec, exercise, setup, timeout=DEFAULT_TIMEOUT, memory=MEMORY_LIMIT):
    """Grade a learner's file: "FILE.py:FUNC" (grader.grade) or "FILE.ipynb" (its cells),
    in a child process limited to timeout seconds and memory bytes."""
    if str(spec).endswith(".ipynb"):
        if exercise not in grader.EXERCISES:
            raise NpbackpropError(f"no exercise {exercise}: choose 1, 2 or 3")
        return grade_notebook(str(spec), exercise, setup, timeout, memory)
    return grader.grade(str(spec), exercise, setup, timeout, memory)
