"""A hint keyed on the learner's error for torch spellings left in numpy code: each one
triggered by the line that raises it, in a --impl file and in a notebook's cells."""

import json

import pytest

from npbackprop.check import command as check_cmd

SETUP = "v = cache\n    x, n = v['logits'], v['n']\n"


@pytest.mark.parametrize("line, hint", [
    ("x.sum(1, keepdim=True)", "numpy spells it keepdims=True"),
    ("x.sum(dim=1)", "numpy calls it axis="),
    ("x.clone()", "x.copy() is numpy's x.clone()"),
    ("x.view(v['emb'].shape)", "numpy's .view() reinterprets the dtype: x.reshape(shape)"),
    ("x.max(1).indices", "x.argmax(1) is numpy's x.max(1).indices"),
    ("x.max(1).values", "numpy's x.max(1) is already the values"),
    ("x.t()", "x.T is numpy's x.t()"),
    ("x.float()", "x.astype(np.float64) is numpy's x.float()"),
    ("x.size(0)", "x.shape[0] is numpy's x.size(0)"),
    ("F.one_hot(x.argmax(1), num_classes=27)", "np.eye(k)[ix] is numpy's F.one_hot"),
    ("torch.zeros_like(x)", "np.zeros_like is numpy's torch.zeros_like"),
])
def test_a_torch_spelling_gets_its_hint_after_the_learners_line(capsys, tmp_path, line, hint):
    path = tmp_path / "mine.py"
    path.write_text("import numpy as np\n\ndef backward(cache):\n    " + SETUP
                    + f"    dlogits = {line}\n    return {{'logits': dlogits}}\n")
    code = check_cmd.main(["--impl", str(path)])
    out = capsys.readouterr().out
    lines = out.splitlines()
    i = lines.index(f"    dlogits = {line}")  # the learner's own traceback line stays
    assert code == 1 and f"hint: {hint}" in out
    assert any(x.startswith("hint: ") for x in lines[i:]) and "Traceback" not in out


def test_a_torch_spelling_in_a_notebook_cell_gets_its_hint(capsys, tmp_path):
    cells = ["import numpy as np", "dlogit_maxes = (-logits).sum(1, keepdim=True)"]
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": c} for c in cells]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    code = check_cmd.main(["--impl", str(path)])
    out = capsys.readouterr().out
    assert code == 1 and "hint: numpy spells it keepdims=True" in out
    assert "dlogit_maxes = (-logits).sum(1, keepdim=True)" in out


def test_no_hint_for_an_unrelated_error(capsys, tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("def backward(cache):\n    dlogits = 1 / 0\n")
    check_cmd.main(["--impl", str(path)])
    assert "hint:" not in capsys.readouterr().out

