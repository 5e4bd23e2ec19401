"""Grading where learners write: notebook cells with the lecture's names as globals.

    globals().update(lecture_setup())           # C, W1, ..., Xb, Yb, n, emb, ..., loss
    dlogprobs = np.zeros_like(logprobs)         # the learner's cells, the lecture's names
    ...
    report = grade_namespace(globals())         # exercise 1: prints the table, returns it
    report = grade_namespace(globals(), exercise=2)   # dlogits; exercise=3: dhprebn

A gradient is picked up by the lecture's name for it: d + the tensor's name
(dlogprobs, dW1, ..., dC); the ones not written yet are rows "not attempted".
Torch tensors are read as arrays (without importing torch). The namespace
keeps the setup it came from (`npbackprop_setup`), so the grade is against
the same batch the cells computed on.
"""

import sys

import numpy as np

from npbackprop.check.diagnose import ex2_terms, ex3_terms, fused_diagnosis
from npbackprop.check.grader import _ref_name, ex1_rows
from npbackprop.check.report import EXACT_NOTE, Report, Section, _count_summary, grade_row
from npbackprop.check.setups import make_setup, reference_grads
from npbackprop.errors import NpbackpropError
from npbackprop.names import GRAD_NAMES

SETUP_KEY = "npbackprop_setup"
EXERCISE_NAMES = {1: GRAD_NAMES, 2: ("logits",), 3: ("hprebn",)}


def lecture_setup(seed=None, **sizes):
    """The exercise-1 starting point as a namespace: parameters, the batch Xb, Yb of n
    examples and every forward intermediate by the lecture's name (float64 arrays).

    With nothing given, the lecture's batch (the committed torch fixture); with a
    seed or sizes (vocab_size, n_embd, n_hidden, block_size, batch_size), a random
    one. The setup itself rides along under "npbackprop_setup" for the grader.
    """
    setup = make_setup(seed, **sizes)
    names = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in setup.cache.items()}
    return {**names, SETUP_KEY: setup}


def as_array(x):
    """A learner's value as numpy sees it: a torch tensor (duck-typed) becomes its array;
    anything else is returned as it is, for the table to say what is wrong with it."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        try:
            return x.detach().cpu().numpy()
        except Exception:  # a tensor-like object that is not one: graded as what it is
            return x
    return x


def grade_namespace(namespace, exercise=1, setup=None, file=sys.stdout):
    """Grade the gradients in `namespace` (e.g. globals()) on exercise 1, 2 or 3.

    Prints the table to `file` (None: print nothing) and returns the Report
    (.text(), .ok). setup: default the namespace's own, else the lecture's.
    """
    if exercise not in EXERCISE_NAMES:
        raise NpbackpropError(f"no exercise {exercise!r}: choose 1, 2 or 3")
    if not hasattr(namespace, "get"):
        raise NpbackpropError(f"grade_namespace takes a dict of names such as globals(), "
                              f"not a {type(namespace).__name__}")
    setup = setup or namespace.get(SETUP_KEY) or make_setup()
    v, tol = setup.cache, setup.tolerance
    yours = {name: as_array(namespace.get("d" + name)) for name in EXERCISE_NAMES[exercise]}
    if exercise == 1:
        ref = reference_grads(setup, GRAD_NAMES)
        rows = ex1_rows(yours, ref, v, tol)
        title = "exercise 1: your cells vs"
    elif exercise == 2:
        ref = reference_grads(setup, ("logits",))
        rows = (grade_row("logits", yours["logits"], ref["logits"], tol,
                          fused_diagnosis(ex2_terms(v), v["n"], tol)),)
        title = "exercise 2: your fused cross-entropy backward (dlogits) vs"
    else:
        ref = reference_grads(setup, ("hpreact", "hprebn"))
        rows = (grade_row("hprebn", yours["hprebn"], ref["hprebn"], tol,
                          fused_diagnosis(ex3_terms(v, ref["hpreact"]), v["n"], tol)),)
        title = "exercise 3: your fused batchnorm backward (dhprebn) vs"
    section = Section(f"{title} {_ref_name(setup)}", tol, rows)
    report = Report((f"npbackprop check: exercise {exercise}, the names in your namespace",
                     f"setup: {setup.describe()}", EXACT_NOTE), (section,), (),
                    _count_summary(rows), all(r.ok for r in rows))
    if file is not None:
        print(report.text(), file=file)
    return report
