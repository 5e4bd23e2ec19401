"""Grading a learner's notebook cells: the lecture's names in a namespace such as globals()."""

import io
import sys
from pathlib import Path

import numpy as np
import pytest

import npbackprop as nb
from npbackprop.check.namespace import SETUP_KEY, as_array
from npbackprop.errors import NpbackpropError
from npbackprop.names import GRAD_NAMES

sys.path.insert(0, str(Path(__file__).parent / "learners"))
import ninja  # noqa: E402
from strategies import FakeTensor  # noqa: E402


def cells(ns):
    """What a learner's cells leave in the namespace: d<name> for every gradient."""
    return {"d" + k: g for k, g in ninja.backward(ns).items()}


def test_the_setup_has_the_lecture_names_and_its_own_setup():
    ns = nb.lecture_setup()
    for name in ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias", "Xb", "Yb", "n", "emb",
                 "embcat", "hprebn", "bnmeani", "bndiff", "bnvar_inv", "hpreact", "h",
                 "logits", "logprobs", "loss"):
        assert name in ns, name
    assert ns["n"] == 32 and ns["hprebn"].shape == (32, 64)
    # the namespace's arrays are its own: a learner's in-place edit leaves the grader's alone
    ns["h"][...] = 0
    assert np.any(ns[SETUP_KEY].cache["h"] != 0)


def test_the_lecture_answer_in_cells_is_all_correct():
    ns = nb.lecture_setup()
    ns.update(cells(ns))
    out = io.StringIO()
    report = nb.grade_namespace(ns, file=out)
    assert report.ok and f"{len(GRAD_NAMES)}/{len(GRAD_NAMES)} correct" in report.summary
    assert out.getvalue().strip() == report.text().strip()
    assert "logprobs" in out.getvalue()


def test_cells_written_so_far_are_graded_and_the_rest_not_attempted():
    ns = nb.lecture_setup()
    mine = cells(ns)
    ns.update({k: mine[k] for k in ("dlogprobs", "dprobs", "dcounts_sum_inv")})
    report = nb.grade_namespace(ns, file=None)
    status = {r.name: r.status for s in report.sections for r in s.rows}
    assert status["logprobs"] == status["probs"] == status["counts_sum_inv"] == "ok"
    assert status["C"] == status["W1"] == "not computed yet"
    assert not report.ok and "3 correct" in report.summary


def test_a_wrong_gradient_in_a_cell_is_caught():
    ns = nb.lecture_setup()
    ns.update(cells(ns))
    ns["dW1"] = ns["dW1"] * 1.001
    report = nb.grade_namespace(ns, file=None)
    bad = [r.name for s in report.sections for r in s.rows if not r.ok]
    assert bad == ["W1"] and not report.ok


def test_exercises_two_and_three_read_dlogits_and_dhprebn():
    ns = nb.lecture_setup()
    ns["dlogits"] = ninja.cross_entropy_backward(ns["logits"], ns["Yb"])
    assert nb.grade_namespace(ns, exercise=2, file=None).ok
    dhpreact = cells(ns)["dhpreact"]
    ns["dhprebn"] = ninja.batchnorm_backward(dhpreact, ns)
    assert nb.grade_namespace(ns, exercise=3, file=None).ok
    # the lecture's classic mistake: n instead of n - 1 in the fused batchnorm
    n = ns["n"]
    ns["dhprebn"] = ns["bngain"] * ns["bnvar_inv"] / n * (
        n * dhpreact - dhpreact.sum(0) - ns["bnraw"] * (dhpreact * ns["bnraw"]).sum(0))
    report = nb.grade_namespace(ns, exercise=3, file=None)
    assert not report.ok and report.sections[0].rows[0].name == "hprebn"


def test_a_random_setup_is_graded_against_itself():
    ns = nb.lecture_setup(seed=3, n_hidden=20, batch_size=8)
    assert ns["hprebn"].shape == (8, 20)
    ns.update(cells(ns))
    assert nb.grade_namespace(ns, file=None).ok
    # the same cells against the lecture's batch are wrong: the setup rides with the names
    assert not nb.grade_namespace(ns, setup=nb.make_setup(), file=None).ok


def test_torch_tensors_are_read_as_arrays_without_torch():
    ns = nb.lecture_setup()
    ns.update({k: FakeTensor(g) for k, g in cells(ns).items()})
    assert nb.grade_namespace(ns, file=None).ok
    assert as_array(5) == 5 and as_array("x") == "x"


def test_bad_calls_are_one_line_errors():
    with pytest.raises(NpbackpropError, match="no exercise 4"):
        nb.grade_namespace(nb.lecture_setup(), exercise=4)
    with pytest.raises(NpbackpropError, match="takes a dict of names such as globals"):
        nb.grade_namespace([1, 2, 3])


def test_wrong_values_get_a_row_not_a_traceback():
    ns = nb.lecture_setup()
    ns.update(cells(ns))
    ns.update(dW1="oops", dh=None, dC=ns["dC"].T, db1=np.float64(1.0))
    report = nb.grade_namespace(ns, file=None)
    status = {r.name: r.status for s in report.sections for r in s.rows}
    assert status["W1"] == "not an array" and status["h"] == "not computed yet"
    assert status["C"] == "wrong shape" and status["b1"] == "not an array"


def test_a_notebook_that_calls_the_lecture_setup_is_graded_on_the_lecture_batch(tmp_path):
    # the notebook's own nb.lecture_setup() is the fixture batch, whatever setup was asked for
    import json
    body = (Path(__file__).parent.parent / "notebooks" / "backprop_ninja.ipynb").read_text()
    code = [c for c in json.loads(body)["cells"] if c["cell_type"] == "code"]
    cells = [code[0], code[1], code[2], code[4]]  # imports, setup, all of exercise 1's cells
    path = tmp_path / "mine.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    report = nb.grade(str(path), 1, nb.make_setup(seed=3, n_hidden=20, batch_size=8))
    assert report.ok, report.text()
    assert "the lecture's setup" in report.text()
