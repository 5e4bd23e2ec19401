"""The closest lecture name for an unknown key or name: a dict key, a notebook's or a
namespace's global, and the lecture's cmp("name", ...)."""

import io

import numpy as np
import pytest

import npbackprop as nb
from npbackprop.check import command as check_cmd
from npbackprop.check.learner import closest_name, misspelled


def run(capsys, *argv):
    code = check_cmd.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("key, near", [("dlogits_maxes", "dlogit_maxes"),
                                       ("logits_maxes", "logit_maxes"),
                                       ("dcount_sum", "dcounts_sum"), ("dbnvar_in", "dbnvar_inv"),
                                       ("dW1", None), ("loss", None), ("dfoo", None), (3, None)])
def test_closest_lecture_name(key, near):
    assert closest_name(key) == near


def test_a_misspelled_name_is_suggested_only_when_the_right_one_is_missing():
    wanted = ["dlogit_maxes", "dlogits"]
    assert misspelled(["dlogits_maxes", "dlogits"], wanted) == [
        "dlogits_maxes is not a lecture name: did you mean dlogit_maxes?"]
    assert misspelled(["dlogits_maxes", "dlogit_maxes"], wanted) == []
    assert misspelled(["data", "dx", "logits_maxes"], wanted) == []


def test_a_file_with_a_misspelled_key_is_told_the_lecture_name(capsys, tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("import numpy as np\n\ndef backward(cache):\n"
                    "    return {'dlogits_maxes': np.zeros((32, 1))}\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "'dlogits_maxes' (did you mean 'dlogit_maxes'?)" in out


def test_a_notebook_with_a_misspelled_name_is_told_the_lecture_name(capsys, tmp_path):
    import nbformat
    cells = ["import numpy as np", "dlogits_maxes = np.zeros((32, 1))"]
    nbk = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / "mine.ipynb"
    nbformat.write(nbk, path)
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1 and "dlogits_maxes is not a lecture name: did you mean dlogit_maxes?" in out


def test_a_namespace_and_cmp_with_a_misspelled_name_are_told(capsys):
    ns = nb.lecture_setup()
    ns["dlogits_maxes"] = np.zeros((32, 1))
    out = io.StringIO()
    nb.grade_namespace(ns, file=out)
    assert "dlogits_maxes is not a lecture name: did you mean dlogit_maxes?" in out.getvalue()
    ns["cmp"]("logits_maxes", np.zeros((32, 1)))
    assert "(did you mean logit_maxes?)" in capsys.readouterr().out
