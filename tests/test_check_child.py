"""Learner code runs apart, in a child process: exits, hangs, crashes, monkeypatching,
and notebooks (`--impl my_solution.ipynb`) run cell by cell there."""

import json
import time

from npbackprop.check import command as check_cmd
from learners import lecture_cells

KEEPDIMS = ("dbnmeani = (-dbndiff).sum(0)", "dbnmeani = (-dbndiff).sum(0, keepdims=True)")
RIGHT_EX1 = lecture_cells.EX1.replace(*KEEPDIMS)


def run(capsys, *argv):
    code = check_cmd.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def learner(tmp_path, body, name="mine.py"):
    path = tmp_path / name
    path.write_text("import numpy as np\nimport os, signal, sys\n\n" + body)
    return path


def test_sys_exit_is_not_a_pass(capsys, tmp_path):
    path = learner(tmp_path, "def backward(cache):\n    sys.exit(0)\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "called sys.exit(0)" in out
    assert out.count("| not reached") == 26 and "0/26 attempted" in out


def test_sys_exit_while_loading_is_not_a_pass(capsys, tmp_path):
    path = learner(tmp_path, "sys.exit(0)\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "called sys.exit(0)" in out


def test_os_exit_is_not_a_pass(capsys, tmp_path):
    path = learner(tmp_path, "def backward(cache):\n    os._exit(0)\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "ended the process (exit code 0) before returning" in out


def test_a_hang_is_stopped_at_the_timeout(capsys, tmp_path):
    path = learner(tmp_path, "def cross_entropy_backward(logits, Yb):\n    while True:\n"
                             "        pass\n")
    start = time.monotonic()
    code, out, _ = run(capsys, "--exercise", 2, "--impl", path, "--timeout", 2)
    assert time.monotonic() - start < 30
    assert code == 1 and "did not finish within 2 s and was stopped (--timeout" in out
    assert "logits          | exact: -" in out and "| not reached" in out


def test_a_crash_is_a_line(capsys, tmp_path):
    path = learner(tmp_path, "def backward(cache):\n    os.kill(os.getpid(), signal.SIGSEGV)\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "killed by SIGSEGV" in out


def test_running_out_of_memory_is_the_learners_error(capsys, tmp_path):
    path = learner(tmp_path, "def backward(cache):\n    dW1 = np.ones(10**11)\n"
                             "    return {'W1': dW1}\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "raised MemoryError" in out and 'mine.py", line 5' in out


def test_monkeypatching_the_grader_changes_nothing(capsys, tmp_path):
    path = learner(tmp_path, "import npbackprop.check.report as r\n"
                             "r.Row.ok = property(lambda self: True)\n"
                             "r.grade_row = lambda *a, **k: None\n"
                             "def backward(cache):\n    return {}\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and out.count("| not attempted") == 26


def test_the_learners_prints_go_to_stderr(capsys, tmp_path):
    path = learner(tmp_path, "def backward(cache):\n    print('hello from backward')\n"
                             "    return {}\n")
    code, out, err = run(capsys, "--impl", path)
    assert "hello from backward" in err and "hello from backward" not in out


# -----------------------------------------------------------------------------
# notebooks

def notebook(tmp_path, *cells, name="my_solution.ipynb"):
    """A small .ipynb: a markdown cell, then the given code cells."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# my solution"]}] + [
              {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
               "source": cell.splitlines(True)} for cell in cells]}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


def test_a_notebook_is_graded_by_the_names_it_defines(capsys, tmp_path):
    path = notebook(tmp_path, "import numpy as np\n%matplotlib inline\n!pip install nothing",
                    RIGHT_EX1, "%%time\nraise SystemExit", "cmp('W1', dW1, W1)")
    code, out, err = run(capsys, "--impl", path)
    assert code == 0, out
    assert "26/26 correct" in out and "exercise 1, " + str(path) in out
    assert "cell 1: skipped line 2: %matplotlib, line 3: !pip" in out
    assert "skipped a cell magic %%time" in out
    assert "W1              | exact:" in err  # cmp's own line, printed by the cell


def test_a_partial_notebook_and_the_lectures_own_answer(capsys, tmp_path):
    path = notebook(tmp_path, "import numpy as np", lecture_cells.EX1)
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "25 correct, 1 right values in the wrong shape" in out
    cut = RIGHT_EX1[:RIGHT_EX1.index("dh = ")]
    code, out, _ = run(capsys, "--impl", notebook(tmp_path, "import numpy as np", cut))
    assert code == 1 and out.count("| not computed yet") == 18 and "8/26 attempted" in out


def test_a_cell_that_raises_stops_the_run_with_its_traceback(capsys, tmp_path):
    bad = RIGHT_EX1.replace("dh = dlogits @ W2.T", "dh = dlogits @ W2")
    path = notebook(tmp_path, "import numpy as np", bad, "print('never')")
    code, out, err = run(capsys, "--impl", path)
    assert code == 1 and "raised ValueError at line 12" in out
    assert "(cell 2)\", line 12" in out and "dh = dlogits @ W2" in out
    assert "never" not in err and "| not reached" in out


def test_a_notebook_that_makes_its_own_setup_is_graded_on_it(capsys, tmp_path):
    path = notebook(tmp_path, "import numpy as np\nimport npbackprop as nb\n"
                    "globals().update(nb.lecture_setup(seed=2, batch_size=4, n_hidden=5))",
                    RIGHT_EX1)
    code, out, _ = run(capsys, "--impl", path)
    assert code == 0, out
    assert "seed 2 (N 4, T 3, E 10, H 5" in out


def test_notebook_exercises_2_and_3(capsys, tmp_path):
    path = notebook(tmp_path, "import numpy as np", RIGHT_EX1, lecture_cells.EX2,
                    lecture_cells.EX3)
    for exercise in (2, 3):
        code, out, _ = run(capsys, "--exercise", exercise, "--impl", path)
        assert code == 0 and "1/1 correct" in out, out


def test_a_notebook_that_exits_or_hangs(capsys, tmp_path):
    path = notebook(tmp_path, "import os\nos._exit(0)")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "ended the process" in out
    path = notebook(tmp_path, "while True:\n    pass", name="hang.ipynb")
    code, out, _ = run(capsys, "--impl", path, "--timeout", 2)
    assert code == 1 and "did not finish within 2 s" in out


def test_not_a_notebook_is_one_line(capsys, tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    code, out, err = run(capsys, "--impl", path)
    assert code == 2 and out == "" and "not a notebook (.ipynb JSON with cells)" in err
    code, out, err = run(capsys, "--impl", tmp_path / "absent.ipynb")
    assert code == 2 and "notebook not found" in err
