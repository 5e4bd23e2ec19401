"""Verdicts and diagnoses that are true, on the code learners actually write.

Real-style mistakes, written into the lecture's own cells (tests/learners/
lecture_cells.py) run in a namespace: aliasing without .copy(), wrong-shaped
upstream gradients, the lecture's (64,) dbnmeani, a biased batchnorm, code
that raises; then a Hypothesis fuzz over every kind of returned value.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npbackprop.check import grader, namespace, report
from npbackprop.check.learner import learner_from_callable
from npbackprop.names import GRAD_NAMES
from learners import lecture_cells
from strategies import FakeTensor

RIGHT_DBNMEANI = ("dbnmeani = (-dbndiff).sum(0)", "dbnmeani = (-dbndiff).sum(0, keepdims=True)")


def graded(*edits, cells=(lecture_cells.EX1,), exercise=1, seed=None, **sizes):
    """The report of the lecture's cells with each (old, new) edit made, and its rows."""
    ns = namespace.lecture_setup(seed, **sizes)
    for cell in cells:
        for old, new in edits:
            assert old in cell or old not in lecture_cells.EX1, old
            cell = cell.replace(old, new)
        lecture_cells.run_cells(ns, cell)
    rep = namespace.grade_namespace(ns, exercise, file=None)
    return rep, {r.name: r for s in rep.sections for r in s.rows}


def test_the_lectures_own_answer_is_right_values_in_one_wrong_shape():
    rep, rows = graded()
    assert rows["bnmeani"].status == report.RIGHT_VALUES
    assert rows["bnmeani"].problem == "right values, shape (64,) should be (1, 64)"
    assert sum(r.ok for r in rows.values()) == 25 and not rep.ok
    assert rep.summary == "26/26 attempted, 25 correct, 1 right values in the wrong shape"
    rep, rows = graded(RIGHT_DBNMEANI)
    assert rep.ok and rep.summary == "26/26 correct"


def test_right_values_as_1_by_h_for_a_bias_of_h():
    keep = ("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum(0, keepdims=True)")
    rep, rows = graded(RIGHT_DBNMEANI, keep)
    assert rows["b1"].status == report.RIGHT_VALUES and "shape (1, 64) should be (64,)" in (
        rows["b1"].problem)
    # wrong values in a squeezable shape stay wrong values (db1 is ~0: batchnorm follows)
    rep, rows = graded(RIGHT_DBNMEANI, ("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum(0)[None] + 1"))
    assert rows["b1"].status == report.WRONG_SHAPE


def test_aliasing_dhprebn_names_the_missing_copy():
    rep, rows = graded(RIGHT_DBNMEANI, ("dhprebn = dbndiff.copy()", "dhprebn = dbndiff"))
    assert rows["bndiff"].status == report.MISMATCH
    assert rows["bndiff"].diagnosis == ("dhprebn and dbndiff are one array: dhprebn = dbndiff "
                                        "needs a .copy(), else dhprebn += ... changes dbndiff too")
    assert rows["hprebn"].ok and not rep.ok


def test_aliasing_dlogits_is_not_called_a_forgotten_branch():
    rep, rows = graded(RIGHT_DBNMEANI, ("dlogits = dnorm_logits.copy()", "dlogits = dnorm_logits"))
    text = rep.text()
    assert "looks forgotten" not in text
    assert "dlogits = dnorm_logits needs a .copy()" in text
    # the branch really forgotten still gets its note
    rep, rows = graded(RIGHT_DBNMEANI, ("dlogits += ", "_unused = "))
    assert "looks forgotten" in rows["logits"].diagnosis


def test_a_wrong_shaped_upstream_invents_no_cause():
    rep, rows = graded(RIGHT_DBNMEANI,
                       ("dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)",
                        "dcounts_sum_inv = (counts * dprobs)"))
    said = rows["counts_sum_inv"].diagnosis
    assert "not summed over the broadcast: counts_sum_inv (32, 1)" in said
    assert rows["counts_sum"].status == report.WRONG_SHAPE
    assert rows["counts_sum"].diagnosis == "follows from the wrong shape of dcounts_sum_inv above"
    assert "was broadcast" not in rows["counts_sum"].diagnosis
    assert "fix the rows in order" in rows["counts"].diagnosis


def test_a_wrong_shaped_dbnmeani_is_not_a_forgotten_branch_of_hprebn():
    rep, rows = graded(("dbnmeani = (-dbndiff).sum(0)", "dbnmeani = -dbndiff * 1.0"))
    assert rows["bnmeani"].status == report.WRONG_SHAPE
    assert "forgotten" not in rows["hprebn"].diagnosis
    assert rows["hprebn"].diagnosis == ("dbnmeani above is wrong (wrong shape): "
                                        "fix the rows in order")


def test_an_upstream_of_the_right_size_is_reshaped_and_used():
    # the lecture's (64,) dbnmeani, and the 1/n forgotten on the hprebn line
    rep, rows = graded(("dhprebn += 1.0/n * (", "dhprebn += 1.0 * ("))
    assert rows["bnmeani"].status == report.RIGHT_VALUES
    assert rows["hprebn"].diagnosis.startswith("the term through bnmeani is 32 times too large")


def biased_batchnorm_backward(dhpreact, cache):
    # CS231n's batchnorm backward, the variance by np.var (divided by n)
    x, gamma = cache["hprebn"], cache["bngain"]
    n = x.shape[0]
    var = np.var(x, axis=0)
    xhat = (x - x.mean(axis=0)) / np.sqrt(var + 1e-5)
    dxhat = dhpreact * gamma
    return (n * dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0)) / (n * np.sqrt(var + 1e-5))


def cs231n_tuple(dhpreact, cache):
    dx = biased_batchnorm_backward(dhpreact, cache)
    return dx, (dhpreact * cache["bnraw"]).sum(0), dhpreact.sum(0)


@pytest.mark.parametrize("n", [32, 5])
def test_a_biased_batchnorm_end_to_end_is_named(n):
    ns = namespace.lecture_setup(None if n == 32 else 1, **({} if n == 32 else {"batch_size": n}))
    rep = namespace.grade_namespace(biased_batchnorm_backward, 3, ns[namespace.SETUP_KEY],
                                    file=None)
    row = rep.sections[0].rows[0]
    assert row.status == report.MISMATCH
    assert f"sqrt(n/(n-1)) = sqrt({n}/{n - 1})" in row.diagnosis


def test_a_cs231n_tuple_is_told_to_return_dx_alone():
    rep = namespace.grade_namespace(cs231n_tuple, 3, file=None)
    row = rep.sections[0].rows[0]
    assert row.status == report.NOT_ARRAY and row.problem == (
        "a tuple of 3, expected an array of shape (32, 64)")
    assert "return dx alone" in row.diagnosis


def loss_and_dlogits(logits, Yb):
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    loss = -np.log(probs[range(logits.shape[0]), Yb]).mean()
    probs[range(logits.shape[0]), Yb] -= 1
    return loss, probs / logits.shape[0]


def test_a_loss_dx_pair_is_told_to_return_dx_alone():
    row = namespace.grade_namespace(loss_and_dlogits, 2, file=None).sections[0].rows[0]
    assert row.status == report.NOT_ARRAY and row.problem == (
        "a tuple of 2, expected an array of shape (32, 27)")
    assert "not a (loss, dx) pair" in row.diagnosis


def test_a_tuple_with_the_gradient_elsewhere_names_its_place_and_one_without_none():
    logits = namespace.lecture_setup()["logits"]
    row = namespace.grade_namespace(lambda lg, Yb: (None, 0.0, lg), 2, file=None)
    assert "element 2 of the tuple" in row.sections[0].rows[0].diagnosis
    row = namespace.grade_namespace(lambda lg, Yb: (lg[:1], lg[:, :1]), 2, file=None)
    assert row.sections[0].rows[0].diagnosis == "" and logits.shape == (32, 27)


def test_a_numpy_scalar_is_a_scalar_with_the_expected_shape():
    row = namespace.grade_namespace(lambda lg, Yb: np.float64(lg.sum()), 2, file=None)
    assert row.sections[0].rows[0].problem == (
        "a scalar (float64), expected an array of shape (32, 27)")


def raising_cross_entropy(logits, Yb):
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs[range(logits.shape[0]), Yb] -= 1
    return probs / logits.shape[0] @ np.ones(3)


def raising_batchnorm(dhpreact, cache):
    mean = dhpreact.sum(axis=3)
    return mean


@pytest.mark.parametrize("exercise, func, name", [(2, raising_cross_entropy, "logits"),
                                                  (3, raising_batchnorm, "hprebn")])
def test_exercises_2_and_3_name_their_own_row_when_the_code_raises(exercise, func, name):
    rep = namespace.grade_namespace(func, exercise, file=None)
    row = rep.sections[0].rows[0]
    assert row.name == name and row.status == report.ERROR
    assert f"while computing d{name}:" in rep.text() and "dlogprobs" not in rep.text()


def test_a_transposed_dnorm_logits_beside_a_right_dlogits_is_a_row():
    ns = lecture_cells.run_cells(namespace.lecture_setup(), lecture_cells.EX1)
    ns["dnorm_logits"] = ns["dnorm_logits"].T
    rep = namespace.grade_namespace(ns, file=None)
    rows = {r.name: r for r in rep.sections[0].rows}
    assert rows["norm_logits"].status == report.WRONG_SHAPE and rows["logits"].ok


# -----------------------------------------------------------------------------
# whatever comes back, a row that says what is wrong, never a traceback

def odd_values(ref):
    """Every kind of value a learner returns in place of the gradient `ref`."""
    shapes = st.sampled_from([(), (0,), ref.shape[::-1], ref.shape + (1,), (ref.size,),
                              (ref.shape[0] + 1,) + ref.shape[1:], (1,) * 3, (2, 0, 3)])
    numeric = st.builds(lambda s, k: np.full(s, 0.5).astype(k), shapes,
                        st.sampled_from(["f8", "f4", "i8", "c16", "?", "U3", "O", "u1"]))
    return st.one_of(
        st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3),
        st.builds(np.float64, st.floats()), st.builds(np.int32, st.integers(-5, 5)),
        numeric, st.just(ref.copy()), st.just(ref.T.copy()), st.just(np.full_like(ref, np.nan)),
        st.just(np.full_like(ref, np.inf)), st.just(ref.tolist()), st.just((ref, ref)), st.just(()),
        st.just(FakeTensor(ref)), st.just(FakeTensor(None)), st.just({"x": ref}),
        st.just(np.broadcast_to(ref, (2,) + ref.shape)), st.just(object()))


LECTURE = namespace.lecture_setup()
REF = LECTURE[namespace.SETUP_KEY].torch_grads
KNOWN = {report.OK, report.NOT_COMPUTED, report.NOT_ATTEMPTED, report.NOT_ARRAY,
         report.WRONG_SHAPE, report.WRONG_DTYPE, report.NON_FINITE, report.MISMATCH,
         report.RIGHT_VALUES}


@settings(max_examples=150)
@given(data=st.data(), name=st.sampled_from(GRAD_NAMES))
def test_any_value_in_a_namespace_gets_a_row(data, name):
    ns = lecture_cells.run_cells(dict(LECTURE), lecture_cells.EX1)
    ns["d" + name] = data.draw(odd_values(REF[name]))
    rep = namespace.grade_namespace(ns, file=None)
    for row in rep.sections[0].rows:
        assert row.status in KNOWN
        assert row.ok or not row.attempted or row.problem
    assert rep.text()


@settings(max_examples=80)
@given(data=st.data(), exercise=st.sampled_from([2, 3]))
def test_any_value_returned_by_a_fused_exercise_gets_a_row(data, exercise):
    name = {2: "logits", 3: "hprebn"}[exercise]
    value = data.draw(odd_values(REF[name]))
    learner = learner_from_callable(lambda *args: value)
    setup = LECTURE[namespace.SETUP_KEY]
    rep = (grader.grade_cross_entropy if exercise == 2 else grader.grade_batchnorm)(learner, setup)
    row = rep.sections[0].rows[0]
    assert row.status in KNOWN and (row.ok or not row.attempted or row.problem) and rep.text()


@settings(max_examples=60)
@given(data=st.data(), name=st.sampled_from(GRAD_NAMES))
def test_any_value_returned_in_a_dict_gets_a_row(data, name):
    value = data.draw(odd_values(REF[name]))
    extra = data.draw(st.dictionaries(st.one_of(st.text(max_size=4), st.integers()),
                                      st.none(), max_size=2))
    learner = learner_from_callable(lambda cache: {name: value, **extra})
    rep = grader.grade_backward(learner, LECTURE[namespace.SETUP_KEY])
    assert all(r.status in KNOWN for r in rep.sections[0].rows) and rep.text()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_row_whose_reference_is_not_finite_is_never_ok(bad):
    tol = report.Tolerance(atol=1e-5, rtol=1e-3, source="test")
    ref = np.array([[1.0, bad]])
    for x in (np.array([[1.0, 0.0]]), np.array([[1.0, 1e300]])):
        row = report.grade_row("dW1", x, ref, tol)
        assert not row.ok and row.status == report.NON_FINITE and "reference" in row.problem
