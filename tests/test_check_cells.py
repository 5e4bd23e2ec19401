"""Grading where learners work: a notebook's namespace, the lecture's cells, torch tensors.

The lecture's own answers, cell by cell in numpy, are tests/learners/lecture_cells.py;
they run in a namespace from lecture_setup(), as in a notebook after
`globals().update(lecture_setup())`.
"""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npbackprop as nb
from npbackprop.check import namespace as notebook
from npbackprop.check import setups
from npbackprop.errors import NpbackpropError
from npbackprop.names import GRAD_NAMES, INTERMEDIATES, PARAM_NAMES

sys.path.insert(0, str(Path(__file__).parent))
from learners import lecture_cells, mistakes, ninja  # noqa: E402

import strategies  # noqa: E402

ROOT = Path(__file__).parents[1]


def row(text, name):
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(f"{name:15s} | exact:"))
    after = lines[i + 1].strip() if i + 1 < len(lines) else ""
    return lines[i], (after[3:] if after.startswith("->") else "")


@pytest.fixture()
def ns():
    return notebook.lecture_setup()


def test_lecture_setup_holds_the_lectures_names(ns):
    setup = setups.make_setup()
    for name in PARAM_NAMES + INTERMEDIATES + ("Xb", "Yb"):
        np.testing.assert_array_equal(ns[name], setup.cache[name], err_msg=name)
        assert ns[name].dtype == setup.cache[name].dtype
    assert ns["n"] == 32 and ns["n_hidden"] == 64 and ns["block_size"] == 3
    assert ns["vocab_size"] == 27 and ns["batch_size"] == 32 and ns["n_embd"] == 10
    assert callable(ns["cmp"]) and ns[notebook.SETUP_KEY].torch_grads is not None


def test_lecture_setup_gives_copies(ns):
    # a learner's cell may change its arrays in place; the grader's setup stays
    ns["hprebn"][:] = 0
    ns["C"] += 1
    setup = ns[notebook.SETUP_KEY]
    assert np.any(setup.cache["hprebn"]) and not np.array_equal(setup.cache["C"], ns["C"])


def test_lecture_setup_at_other_sizes():
    ns = notebook.lecture_setup(seed=3, batch_size=4, n_hidden=5)
    assert ns["hprebn"].shape == (4, 5) and ns["n"] == 4
    assert "seed 3" in ns[notebook.SETUP_KEY].describe()


def test_a_partial_namespace_is_graded_as_far_as_it_goes(ns):
    lines = lecture_cells.EX1.splitlines()
    upto = next(i for i, line in enumerate(lines) if line.startswith("dh = "))
    lecture_cells.run_cells(ns, "\n".join(lines[:upto]))
    out = io.StringIO()
    report = notebook.grade_namespace(ns, file=out)
    text = out.getvalue()
    assert text == report.text() + "\n" and not report.ok
    for name in GRAD_NAMES[:8]:
        assert "approximate: True" in row(text, name)[0]
    for name in GRAD_NAMES[8:]:
        assert row(text, name)[0].endswith("| not computed yet")
    assert "8/26 attempted, 8 correct" in text
    assert "your namespace" in text.splitlines()[0]
    assert repr(report) == "<Report: 8/26 attempted, 8 correct>"


def test_an_empty_namespace_is_not_computed_yet_everywhere():
    report = notebook.grade_namespace({}, file=None)
    assert report.text().count("| not computed yet") == 26 and not report.ok
    assert "0/26 attempted, 0 correct" in report.summary
    for exercise in (2, 3):
        report = notebook.grade_namespace({}, exercise, file=None)
        assert "| not computed yet" in report.text() and not report.ok


def test_the_fused_cells_from_the_namespace(ns):
    lecture_cells.run_cells(ns, lecture_cells.EX1, lecture_cells.EX2, lecture_cells.EX3)
    for exercise, name in ((2, "logits"), (3, "hprebn")):
        report = notebook.grade_namespace(ns, exercise, file=None)
        assert report.ok, report.text()
        assert "approximate: True" in row(report.text(), name)[0]


def test_a_wrong_fused_cell_is_diagnosed(ns):
    lecture_cells.run_cells(ns, lecture_cells.EX1)
    ns["dlogits"] = mistakes.ce_no_target(ns["logits"], ns["Yb"])
    report = notebook.grade_namespace(ns, 2, file=None)
    assert not report.ok and "the -1 at the target is missing" in row(report.text(), "logits")[1]


def test_exercise_3_is_graded_given_the_learners_own_dhpreact(ns):
    lecture_cells.run_cells(ns, lecture_cells.EX1)
    ns["dhpreact"] = ns["dhpreact"] * 2          # wrong upstream, from their exercise 1
    lecture_cells.run_cells(ns, lecture_cells.EX3)
    report = notebook.grade_namespace(ns, 3, file=None)
    assert report.ok, report.text()
    assert "applied to your own dhpreact" in report.text()
    ns["dhprebn"] = ns["dhprebn"] * 3            # and a wrong formula is still wrong
    assert not notebook.grade_namespace(ns, 3, file=None).ok


def test_a_function_is_graded_as_the_command_grades_it():
    for exercise, func in ((1, ninja.backward), (2, ninja.cross_entropy_backward),
                           (3, ninja.batchnorm_backward)):
        report = notebook.grade_namespace(func, exercise, file=None)
        assert report.ok, report.text()
        assert "backward()" in report.header[0]
    report = notebook.grade_namespace(mistakes.bessel, file=None)
    assert not report.ok and "Bessel" in row(report.text(), "bndiff2")[1]


def test_a_function_that_raises_shows_its_own_lines():
    def backward(cache):
        dlogprobs = np.zeros_like(cache["logprobs"])
        dprobs = dlogprob / cache["probs"]  # noqa: F821 - the learner's typo
        return {"logprobs": dlogprobs, "probs": dprobs}

    text = notebook.grade_namespace(backward, file=None).text()
    assert "raised NameError" in row(text, "probs")[0]
    assert "dprobs = dlogprob / cache" in text
    assert "check/notebook.py" not in text and "grader.py" not in text


def test_the_setup_in_the_namespace_is_the_one_graded():
    ns = notebook.lecture_setup(seed=1, batch_size=4, n_hidden=3)
    ns.update({f"d{k}": g for k, g in ninja.backward(ns).items()})
    report = notebook.grade_namespace(ns, file=None)
    assert report.ok, report.text()
    assert "seed 1 (N 4" in report.text()


def test_a_namespace_from_another_batch_is_said_to_be(ns):
    lecture_cells.run_cells(ns, lecture_cells.EX1)
    del ns[notebook.SETUP_KEY]
    ns["logits"] = ns["logits"] + 1.0
    text = notebook.grade_namespace(ns, setup=setups.make_setup(), file=None).text()
    assert "your logits is not the setup's" in text
    ns["logits"] = ns["logits"] - 1.0
    assert "not the setup's" not in notebook.grade_namespace(ns, file=None).text()


class FakeTensor(strategies.FakeTensor):
    __module__ = "torch"  # as a torch tensor's class says where it comes from


def test_tensors_are_converted_by_duck_typing(ns):
    lecture_cells.run_cells(ns, lecture_cells.EX1)
    ns["dW1"], ns["dprobs"] = FakeTensor(ns["dW1"]), FakeTensor(ns["dprobs"])
    text = notebook.grade_namespace(ns, file=None).text()
    for name in ("W1", "probs"):
        assert "approximate: True" in row(text, name)[0]
    assert "torch tensors converted with .detach().cpu().numpy(): dprobs, dW1" in text


def test_real_torch_tensors(ns):
    torch = pytest.importorskip("torch")
    lecture_cells.run_cells(ns, lecture_cells.EX1)
    ns["dh"] = torch.from_numpy(ns["dh"]).requires_grad_()
    assert "approximate: True" in row(notebook.grade_namespace(ns, file=None).text(), "h")[0]


def test_grading_a_namespace_never_imports_torch():
    code = ("import sys, numpy as np, npbackprop as nb\n"
            "ns = nb.lecture_setup(); ns['dlogprobs'] = np.zeros_like(ns['logprobs'])\n"
            "nb.grade_namespace(ns, file=None); nb.grade_namespace(ns, 2, file=None)\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


def test_cmp_prints_the_lectures_line(ns, capsys):
    lecture_cells.run_cells(ns, lecture_cells.EX1)
    capsys.readouterr()
    got = ns["cmp"]("logprobs", ns["dlogprobs"], ns["logprobs"])
    assert got.ok and capsys.readouterr().out.startswith("logprobs        | exact: True ")
    wrong = ns["cmp"]("W2", ns["dW2"] * 2, ns["W2"])
    assert not wrong.ok and "| mismatch" in capsys.readouterr().out
    assert ns["cmp"]("nope", ns["dW2"], ns["W2"]) is None
    assert "not one of the 26 names" in capsys.readouterr().out


def test_usage_mistakes_raise_one_line():
    with pytest.raises(NpbackpropError, match="no exercise 4"):
        notebook.grade_namespace({}, exercise=4)
    with pytest.raises(NpbackpropError, match="or a function, not an object of type int"):
        notebook.grade_namespace(42)


def test_the_entry_points_are_public():
    assert nb.lecture_setup is notebook.lecture_setup
    assert nb.grade_namespace is notebook.grade_namespace
    assert nb.check.grade_namespace is notebook.grade_namespace
