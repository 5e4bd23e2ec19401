"""`npbackprop check`: the lecture's `cmp` table, and a grader for a learner's backward.

    report = check_builtin(make_setup())                 # our own 26 + 2 gradients
    report = grade("me.py:backward", 1, make_setup())    # a learner's exercise 1
    print(report.text()); exit code 0 if report.ok

The reference is the committed torch fixture at the lecture's size, and
complex-step derivatives in float64 at any other size (or seed): reference.py.
This module grades each exercise; report.py owns the rows and the text,
diagnose.py explains a wrong row, learner.py loads and calls the learner's
FILE.py:FUNC. Nothing here prints or exits; user mistakes raise NpbackpropError.
"""

from dataclasses import replace

from npbackprop import chunked, layers
from npbackprop.check.diagnose import (biased_batchnorm, diagnose_ex1, ex2_terms, ex3_terms,
                                       forgotten_logit_maxes, fused_diagnosis)
from npbackprop.check.child import DEFAULT_TIMEOUT, MEMORY_LIMIT, run_apart
from npbackprop.check.learner import (call_learner, closest_name, error_notes, from_torch,
                                      grad_name, parse_spec)
from npbackprop.check.report import (ERROR, EXACT_NOTE, NOT_ATTEMPTED, NOT_REACHED, Report, Row,
                                     Section,
                                     _count_summary, grade_row)
from npbackprop.check.reference import complex_step_grads
from npbackprop.check.shapes import ex1_shape_diagnosis
from npbackprop.check.setups import ALLCLOSE, COMPLEX_STEP, fill_sampled, reference_grads
from npbackprop.check.values import alias_diagnosis, aliases
from npbackprop.errors import NpbackpropError
from npbackprop.names import GRAD_NAMES

EXERCISES = {1: "backward", 2: "cross_entropy_backward", 3: "batchnorm_backward"}


# -----------------------------------------------------------------------------
# our own backward passes, the lecture's table

def check_builtin(setup, exercises=(1, 2, 3), progress=None):
    """Exercise 1's chunked backward against torch (if any) and complex steps,
    then the fused exercises 2 and 3 against the chunked result. Returns a Report."""
    v = setup.cache
    ours = chunked.backward(v)
    sections = []
    if 1 in exercises:
        if setup.torch_grads is not None:
            sections.append(Section("exercise 1: chunked backward vs torch (float64)", ALLCLOSE,
                                    ex1_rows(ours, setup.torch_grads, v, ALLCLOSE)))
        cs = fill_sampled(v, complex_step_grads(v, GRAD_NAMES, setup.budget, progress=progress),
                          ours)
        sections.append(Section("exercise 1: chunked backward vs complex-step derivatives "
                                "(float64)", COMPLEX_STEP, ex1_rows(ours, cs, v, COMPLEX_STEP)))
    if 2 in exercises:
        _, ce_cache = layers.cross_entropy_forward(v["logits"], v["Yb"])
        dlogits, _ = layers.cross_entropy_backward(1.0, ce_cache)
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
    out, err = call_learner(learner, (setup.cache,), "cache")
    return backward_report(learner.label, setup, out, err)


def backward_report(label, setup, out, err=None, notes=()):
    """Exercise 1's report of what FUNC returned (out) or raised (err)."""
    if err is not None:
        return report_ex1(label, setup, err.local_grads, notes, err)
    if not isinstance(out, dict):
        what = "None" if out is None else f"a {type(out).__name__}"
        raise NpbackpropError(
            f"{label} returned {what}, not a dict of gradients by name such as "
            f"{{'logprobs': dlogprobs, ...}}")
    yours, more = read_grads(out)
    return report_ex1(label, setup, yours, list(notes) + more)


def read_grads(out):
    """{name: gradient} from a learner's dict keyed "W1" or "dW1", and notes on its keys."""
    yours, ignored, renamed, notes = {}, [], False, []
    for k, x in out.items():
        name = grad_name(k)
        if name is None:
            near = closest_name(k)
            ignored.append(repr(k) + (f" (did you mean {near!r}?)" if near else ""))
            continue
        renamed |= name != k
        yours[name] = x
    if renamed:
        notes.append("keys like 'dW1' read as 'W1' (the bare name is the convention)")
    if ignored:
        notes.append(f"ignored keys, not among the 26 names: {', '.join(ignored)}")
    return yours, notes


def report_ex1(label, setup, yours, notes=(), err=None, missing=NOT_ATTEMPTED):
    """Exercise 1's report for the gradients `yours` {name: value} that `label` gave.

    missing: the status of a name absent from yours (not attempted, or not
    computed yet for a notebook's namespace); err: the learner's exception.
    """
    yours, converted = from_torch(yours)
    pairs = aliases(yours)
    notes = list(notes) + converted + [alias_diagnosis(k, yours, pairs) for k in pairs]
    ref = reference_grads(setup, GRAD_NAMES)
    section = Section(f"exercise 1: your backward vs {_ref_name(setup)}", setup.tolerance,
                      ex1_rows(yours, ref, setup.cache, setup.tolerance, err, missing))
    return _learner_report(label, 1, setup, section, notes, err)


def ex1_rows(yours, ref, v, tol, err=None, missing=NOT_ATTEMPTED):
    """The 26 rows of exercise 1, in the lecture's order, each diagnosed if wrong.

    yours: {name: array or None}; after an exception (err), the gradient being
    computed is the error row and the ones never computed are not reached.
    """
    rows, pairs = {}, aliases(yours)
    for name in GRAD_NAMES:
        if err is not None and name == err.row:
            rows[name] = _error_row(name, err)
        elif err is not None and yours.get(name) is None:
            rows[name] = Row(name, NOT_REACHED)
        elif yours.get(name) is None:
            rows[name] = Row(name, missing)
        else:
            rows[name] = grade_row(
                name, yours.get(name), ref[name], tol,
                lambda x, name=name: diagnose_ex1(name, x, v, ref, yours, rows, tol),
                lambda x, name=name: ex1_shape_diagnosis(name, x, v, ref, rows, tol))
        if not rows[name].ok and alias_diagnosis(name, yours, pairs):
            rows[name] = replace(rows[name], diagnosis=alias_diagnosis(name, yours, pairs))
        if name == "logits" and rows[name].ok and "logits" not in pairs:
            note = forgotten_logit_maxes(yours, v)
            rows[name] = replace(rows[name], diagnosis=note) if note else rows[name]
    return tuple(rows[k] for k in GRAD_NAMES)


def _ref_name(setup):
    return ("torch (float64)" if setup.torch_grads is not None
            else "complex-step derivatives (float64)")


def _learner_report(label, exercise, setup, section, notes, err):
    """The report of one exercise: its section, notes, and the learner's error if any."""
    header = (f"npbackprop check: exercise {exercise}, {label}",
              f"setup: {setup.describe()}", EXACT_NOTE)
    summary = _count_summary(section.rows)
    if err is not None:
        notes = list(notes) + error_notes(label, err)
        summary = f"{label} raised {err.exc_type}; {summary}"
    ok = err is None and all(r.ok for r in section.rows)  # a notebook may raise after all 26
    return Report(header, (section,), tuple(notes), summary, ok)


def grade_cross_entropy(learner, setup):
    """Exercise 2: FUNC(logits, Yb) -> dlogits, one row against the reference."""
    v = setup.cache
    out, err = call_learner(learner, (v["logits"], v["Yb"]), "logits, Yb", row="logits")
    return report_fused(learner.label, 2, setup, out, err)


def grade_batchnorm(learner, setup):
    """Exercise 3: FUNC(dhpreact, cache) -> dhprebn, one row against the reference."""
    dhpreact = reference_grads(setup, ("hpreact",))["hpreact"]
    out, err = call_learner(learner, (dhpreact, setup.cache), "dhpreact, cache", row="hprebn")
    return report_fused(learner.label, 3, setup, out, err)


def report_fused(label, exercise, setup, out, err=None, missing=NOT_ATTEMPTED, dhpreact=None):
    """The report of a fused exercise (2: dlogits, 3: dhprebn): one row, or the error row.

    dhpreact: for exercise 3, the upstream gradient out was computed from
    (the reference's if None).
    """
    v, tol = setup.cache, setup.tolerance
    name, specific = {2: "logits", 3: "hprebn"}[exercise], ()
    if exercise == 2:
        terms = ex2_terms(v)
    else:
        up = reference_grads(setup, ("hpreact",))["hpreact"] if dhpreact is None else dhpreact
        terms, specific = ex3_terms(v, up), biased_batchnorm(v, up)
    ref = (reference_grads(setup, (name,))[name] if dhpreact is None
           else sum(t for _, t, _ in terms))
    (out,), notes = from_torch([out])
    if err is not None:
        row = _error_row(name, err)
    elif out is None:
        row = Row(name, missing)
    else:
        row = grade_row(name, out, ref, tol, fused_diagnosis(terms, v["n"], tol, specific))
    what = {2: "fused cross-entropy backward", 3: "fused batchnorm backward"}[exercise]
    section = Section(f"exercise {exercise}: your {what} vs {_ref_name(setup)}", tol, (row,))
    return _learner_report(label, exercise, setup, section, notes, err)


def grade(spec, exercise, setup, timeout=DEFAULT_TIMEOUT, memory=MEMORY_LIMIT):
    """Grade "FILE.py:FUNC" (or "FILE.ipynb", by namespace.grade_notebook) on `exercise`
    (1, 2 or 3). Returns a Report.

    The learner's code runs in a child process (child.py) with a time limit
    (timeout, seconds) and a memory limit (memory, bytes of address space);
    the reference is computed here, never where learner code ran.
    """
    if exercise not in EXERCISES:
        raise NpbackpropError(f"no exercise {exercise}: choose 1, 2 or 3")
    if spec.endswith(".ipynb"):
        raise NpbackpropError("a notebook is graded by npbackprop.check.grade, not grader.grade")
    file, func = parse_spec(spec, EXERCISES[exercise])
    label = f"{file}:{func}"
    if exercise == 1:
        args, params, row = (setup.cache,), "cache", None
    elif exercise == 2:
        args, params, row = (setup.cache["logits"], setup.cache["Yb"]), "logits, Yb", "logits"
    else:
        dhpreact = reference_grads(setup, ("hpreact",))["hpreact"]
        args, params, row = (dhpreact, setup.cache), "dhpreact, cache", "hprebn"
    res = run_apart({"kind": "call", "spec": spec, "func": func, "args": args,
                     "params": params, "row": row}, timeout, memory)
    if res.failure:
        return failure_report(label, exercise, setup, res.failure)
    if exercise == 1:
        return backward_report(label, setup, res.value, res.error, res.notes)
    return with_notes(report_fused(label, exercise, setup, res.value, res.error), res.notes)


def failure_report(label, exercise, setup, failure):
    """The report when the child exited, hung or was killed: no row passes."""
    names = GRAD_NAMES if exercise == 1 else ({2: "logits", 3: "hprebn"}[exercise],)
    what = {1: "your backward", 2: "your fused cross-entropy backward",
            3: "your fused batchnorm backward"}[exercise]
    section = Section(f"exercise {exercise}: {what} vs {_ref_name(setup)}", setup.tolerance,
                      tuple(Row(k, NOT_REACHED) for k in names))
    report = _learner_report(label, exercise, setup, section, (f"{label}: {failure}",), None)
    return replace(report, summary=f"{label}: {failure}; {report.summary}")


def with_notes(report, notes):
    """report with `notes` put before its own."""
    return replace(report, notes=tuple(notes) + report.notes) if notes else report
