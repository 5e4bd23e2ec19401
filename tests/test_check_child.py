"""Learner code runs apart, in a child process: exits, hangs, crashes, monkeypatching,
and notebooks (`--impl my_solution.ipynb`) run cell by cell there."""

import json
import time
from pathlib import Path

import pytest

from npbackprop.check import child
from npbackprop.check import command as check_cmd
from learners import lecture_cells

NINJA = Path(__file__).parent / "learners" / "ninja.py"

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


# 400 MB of address space, never touched: free at the default 4G, over a 256M limit
BIG = "    big = np.empty((50, 1000, 1000))\n"


def test_the_memory_limit_is_applied_to_the_child(capsys, tmp_path):
    body = ("def cross_entropy_backward(logits, Yb):\n" + BIG + "    n = logits.shape[0]\n"
            "    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)\n"
            "    p[range(n), Yb] -= 1\n    return p / n\n")
    path = learner(tmp_path, body)
    code, out, _ = run(capsys, "--exercise", 2, "--impl", path)
    assert code == 0 and "1/1 correct" in out
    code, out, _ = run(capsys, "--exercise", 2, "--impl", path, "--memory-limit", "256M")
    assert code == 1 and "raised MemoryError at line 5" in out and "1/1 correct" not in out
    assert "--memory-limit" in out  # the hint under the learner's own traceback
    assert 'mine.py", line 5' in out and "big = np.empty((50, 1000, 1000))" in out


def test_a_notebook_over_the_memory_limit_is_not_a_pass(capsys, tmp_path):
    path = notebook(tmp_path, "import numpy as np", RIGHT_EX1, BIG.strip())
    code, out, _ = run(capsys, "--impl", path, "--memory-limit", "256M")
    # the 26 computed before the last cell raised are graded, but the run is no pass
    assert code == 1 and "raised MemoryError" in out and "--memory-limit" in out


def test_a_value_too_large_to_send_back_is_a_line(capsys, tmp_path):
    # 80 MB of zeros returned under a 256M limit (the child itself takes ~150M): room for
    # the array, no room to pickle a copy of it
    path = learner(tmp_path, "def backward(cache):\n"
                             "    return {'W1': np.zeros((10, 1000, 1000))}\n")
    code, out, err = run(capsys, "--impl", path, "--memory-limit", "256M")
    assert code == 1 and "too large to send back within the memory limit of 256M" in out
    assert out.count("| not reached") == 26 and "Traceback" not in out + err


@pytest.mark.parametrize("text, size", [("2G", 2 << 30), ("512M", 512 << 20),
                                        ("1.5GiB", 3 << 29), ("768mb", 768 << 20),
                                        ("0.25T", 1 << 38), (str(300 << 20), 300 << 20)])
def test_memory_limit_sizes(text, size):
    assert child.parse_size(text) == size


@pytest.mark.parametrize("text, message", [
    ("abc", "--memory-limit: not a size: 'abc' (say 2G, 512M or 1.5GiB)"),
    ("2X", "--memory-limit: not a size: '2X'"), ("-1G", "not a size: '-1G'"),
    ("1.5iB", "not a size: '1.5iB'"), ("", "not a size: ''"),
    ("100M", "--memory-limit 100M is too small: python and numpy need at least 256M"),
    ("0", "--memory-limit 0 is too small")])
def test_a_malformed_or_too_small_memory_limit_is_one_line(capsys, text, message):
    code, out, err = run(capsys, "--impl", NINJA, f"--memory-limit={text}")
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err
    assert err.startswith("npbackprop check: error: ")


def test_memory_limit_default_stays_4g():
    assert child.MEMORY_LIMIT == 4 << 30 and child.describe_size(child.MEMORY_LIMIT) == "4G"
    assert child.describe_size(3 << 29) == "1.5G" and child.describe_size(256 << 20) == "256M"


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
