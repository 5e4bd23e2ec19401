"""Hints for torch spellings left in a learner's numpy code: keyed on the error numpy
really raises (each case runs the torch spelling on a numpy array), shown under the
learner's own traceback, for a file, a notebook and a function from Python."""

import io

import numpy as np
import pytest

import npbackprop as nb
from npbackprop.check import command as check_cmd
from npbackprop.check.hints import hint

x = np.ones((4, 3))
ix = np.array([0, 1, 2, 0])

SPELLINGS = [
    ("x.sum(1, keepdim=True)", "numpy spells it keepdims=True"),
    ("x.max(1, keepdim=True)", "numpy spells it keepdims=True"),
    ("x.sum(dim=1)", "numpy calls it axis="),
    ("x.clone()", "x.copy() is numpy's x.clone()"),
    ("x.view(12)", "x.reshape(shape) is numpy's x.view(shape)"),
    ("x.view(4, 3)", "x.reshape(shape) is numpy's x.view(shape)"),
    ("x.max(1).indices", "x.argmax(1) is numpy's x.max(1).indices"),
    ("x.max(1).values", "numpy's x.max(1) is already the values"),
    ("x.t()", "x.T is numpy's x.t()"),
    ("x.float()", "the arrays here are float64 already"),
    ("x.size(0)", "x.shape[0] is numpy's x.size(0)"),
    ("x.shape(1)", "x.shape[1], not x.shape(1)"),
    ("F.one_hot(ix, num_classes=3)", "np.eye(k)[ix] is numpy's F.one_hot"),
    ("torch.zeros_like(x)", "np.zeros_like is numpy's torch.zeros_like"),
    ("torch.nonesuch(x)", "there is no torch here"),
    ("x.unsqueeze(1)", "x[:, None]"),
]


@pytest.mark.parametrize("code, expected", SPELLINGS)
def test_each_torch_spelling_gets_its_numpy_spelling(code, expected):
    with pytest.raises(Exception) as info:
        eval(code)
    assert expected in hint(type(info.value).__name__, str(info.value), code)


@pytest.mark.parametrize("exc", [ValueError("operands could not be broadcast"),
                                 AttributeError("'list' object has no attribute 'clone'"),
                                 NameError("name 'dprobs' is not defined"),
                                 TypeError("unsupported operand type(s)")])
def test_an_error_with_no_torch_in_it_gets_no_hint(exc):
    assert hint(type(exc).__name__, str(exc), "dx = a + b") == ""


def run(capsys, *argv):
    code = check_cmd.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


SOFTMAX = ("    n = logits.shape[0]\n"
           "    p = np.exp(logits) / np.exp(logits).sum(1, keepdim=True)\n"
           "    p[range(n), Yb] -= 1\n    return p / n\n")


def test_a_file_with_keepdim_gets_the_hint_under_its_own_traceback(capsys, tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("import numpy as np\n\ndef cross_entropy_backward(logits, Yb):\n" + SOFTMAX)
    code, out, err = run(capsys, "--exercise", 2, "--impl", path)
    assert code == 1 and 'mine.py", line 5' in out and "keepdim=True" in out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "hint:" in line)
    assert "numpy spells it keepdims=True" in lines[at]
    assert any("unexpected keyword argument 'keepdim'" in line for line in lines[:at])
    assert "Traceback" not in err


def test_a_notebook_with_f_one_hot_gets_the_hint(capsys, tmp_path):
    import nbformat
    cells = ["import numpy as np",
             "dlogits = F.softmax(logits, 1)\ndlogits -= F.one_hot(Yb, num_classes=27)\n"
             "dlogits /= n"]
    nbk = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / "mine.ipynb"
    nbformat.write(nbk, path)
    code, out, _ = run(capsys, "--exercise", 2, "--impl", path)
    assert code == 1 and "raised NameError" in out
    assert "hint: np.exp(x) / np.exp(x).sum(1, keepdims=True) is numpy's F.softmax" in out


def test_a_function_graded_from_python_gets_the_hint():
    def cross_entropy_backward(logits, Yb):
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        p[range(logits.shape[0]), Yb] -= 1
        return p.clone() / logits.shape[0]

    out = io.StringIO()
    report = nb.grade_namespace(cross_entropy_backward, exercise=2, file=out)
    assert not report.ok and "hint: x.copy() is numpy's x.clone()" in out.getvalue()
