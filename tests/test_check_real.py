"""A real learner's solution (tests/learners/real_port.py, mistakes kept): the grader's
verdicts and diagnoses on it are true, from a namespace and from a notebook file."""

import json

import numpy as np

import npbackprop as nb
from npbackprop.check import command as check_cmd
from npbackprop.check import report
from learners import real_port

BEFORE_HPREACT = ("logprobs", "probs", "counts_sum_inv", "counts_sum", "counts",
                  "norm_logits", "logit_maxes", "logits", "h", "W2", "b2")


def graded(cells):
    ns = nb.lecture_setup()
    ns["np"] = np
    exec(cells, ns)
    rep = nb.grade_namespace(ns, file=None)
    return rep, {r.name: r for r in rep.sections[0].rows}


def test_the_real_solution_is_judged_row_by_row():
    rep, rows = graded(real_port.TYPO_FIXED)
    assert not rep.ok
    # b1 is right whatever dhprebn is: batchnorm makes every column of dhprebn sum to 0
    assert {k for k, r in rows.items() if r.ok} == set(BEFORE_HPREACT) | {"b1"}
    assert rows["hpreact"].diagnosis == ("a + where the chain rule multiplies: "
                                         "dhpreact = (1.0 - h**2) * dh")
    assert rows["bnvar"].diagnosis.startswith("a + where the power rule multiplies")
    for name in ("bngain", "bnbias", "bnraw", "embcat", "W1", "emb", "C"):
        assert rows[name].diagnosis.startswith("follows from the wrong"), name
    assert rows["bnmeani"].status == report.WRONG_SHAPE


def test_the_lines_fixed_one_by_one_reach_all_right():
    fixed = (real_port.TYPO_FIXED.replace("(1 - h**2) + dh", "(1 - h**2) * dh")
             .replace("(-0.5+(bnvar", "(-0.5*(bnvar")
             .replace("(-dbndiff).sum(0)\n", "(-dbndiff).sum(0, keepdims=True)\n"))
    rep, rows = graded(fixed)
    assert rep.ok and all(r.ok for r in rows.values())


def test_the_real_solution_as_written_stops_at_its_typo_with_a_hint(capsys, tmp_path):
    nbk = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["import numpy as np\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": real_port.AS_WRITTEN.splitlines(True)}]}
    path = tmp_path / "generate_words.ipynb"
    path.write_text(json.dumps(nbk))
    code = check_cmd.main(["--impl", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and "raised TypeError" in out and "Traceback" not in err
    assert "hint: a comma where a dot belongs" in out
    assert "dbnvar_inv = (bndiff * dbnraw),sum(0, keepdims=True)" in out  # its own line
    assert "bnvar_inv       | exact: -     | approximate: -     | maxdiff: -        | " in out
