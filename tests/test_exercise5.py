"""The part-5 exercise: right answers pass, each listed mistake is caught and named."""

import numpy as np
import pytest

from npbackprop import layers
from npbackprop.check import exercise5 as ex5


def right_bn(dout, x, gain, bias):
    _, cache = layers.batchnorm_forward(x, gain, bias, axes=(0, 1))
    return layers.batchnorm_backward(dout, cache)


def right_flat(dout, x_shape, k):
    return dout.reshape(x_shape).copy()


def bn_with(axes=(0, 1), n_is_batch=False, no_time_sum=False):
    def bn(dout, x, gain, bias):
        _, (raw, var_inv, *_) = layers.batchnorm_forward(x, gain, bias, axes=axes)
        n = x.shape[0] if n_is_batch else int(np.prod([x.shape[a] for a in axes]))
        dx = gain * var_inv / n * (n * dout - dout.sum(axes, keepdims=True)
                                   - n / (n - 1) * raw * (dout * raw).sum(axes, keepdims=True))
        dgain, dbias = (raw * dout).sum(0), dout.sum(0)            # (T, H)
        if not no_time_sum:
            dgain, dbias = dgain.sum(0), dbias.sum(0)
        return dx, dgain, dbias
    return bn


def rows(report):
    return {r.name: r for r in report.sections[0].rows}


def test_right_answers_pass():
    report = ex5.grade5_funcs(right_bn, right_flat)
    assert report.ok and all(r.ok for r in rows(report).values())
    assert "4/4 correct" in report.text()


@pytest.mark.parametrize("wrong, row, words", [
    (dict(axes=(0,)), "x (batchnorm)", "dim 0 only"),
    (dict(n_is_batch=True), "x (batchnorm)", "n taken as the batch size N = 4"),
    (dict(no_time_sum=True), "gain", "sum over the time axis is missing"),
    (dict(no_time_sum=True), "bias", "sum over the time axis is missing"),
])
def test_each_batchnorm_mistake_is_named(wrong, row, words):
    report = ex5.grade5_funcs(bn_with(**wrong), right_flat)
    assert not report.ok
    r = rows(report)[row]
    assert not r.ok and words in r.diagnosis, r
    assert rows(report)["x (flatten)"].ok


def test_swapped_flatten_backward_is_named():
    def swapped(dout, x_shape, k):
        N, T, E = x_shape
        return dout.reshape(N, T // k, E, k).transpose(0, 1, 3, 2).reshape(x_shape)
    r = rows(ex5.grade5_funcs(right_bn, swapped))["x (flatten)"]
    assert not r.ok and "swapped" in r.diagnosis


def test_the_template_is_not_attempted_and_a_file_is_graded(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(ex5.template5())
    report = ex5.grade5(path)
    assert not report.ok and all(r.status == "not attempted" for r in rows(report).values())
    path.write_text(ex5.template5().replace("    dx = None\n", "    dx = 1 / 0\n"))
    r = rows(ex5.grade5(path))["x (flatten)"]
    assert r.status == "error" and "ZeroDivisionError" in r.problem


# `npbackprop check --exercise 5`: the template, the learner's file run apart, one-line errors

from npbackprop.check import command as check_cmd  # noqa: E402

RIGHT5 = '''import numpy as np


def batchnorm3d_backward(dout, x, gain, bias):
    n = x.shape[0] * x.shape[1]
    mean = x.mean((0, 1), keepdims=True)
    var_inv = (x.var((0, 1), keepdims=True, ddof=1) + 1e-5) ** -0.5
    raw = (x - mean) * var_inv
    dx = gain * var_inv / n * (n * dout - dout.sum((0, 1), keepdims=True)
                               - n / (n - 1) * raw * (dout * raw).sum((0, 1), keepdims=True))
    return dx, (raw * dout).sum((0, 1)), dout.sum((0, 1))


def flatten_backward(dout, x_shape, k):
    return dout.reshape(x_shape)
'''


def check(capsys, *argv):
    code = check_cmd.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_exercise_5_grades_a_right_file(capsys, tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(RIGHT5)
    code, out, err = check(capsys, "--exercise", 5, "--impl", path)
    assert code == 0 and "4/4 correct" in out and err == ""
    code, out, _ = check(capsys, "--exercise", 5, "--impl", path, "--seed", 3)
    assert code == 0 and "seed 3" in out


@pytest.mark.parametrize("mistake, words", [
    (("(0, 1), keepdims=True)\n    var_inv", "(0,), keepdims=True)\n    var_inv"), None),
    (("n = x.shape[0] * x.shape[1]", "n = x.shape[0]"), "n taken as the batch size N = 4"),
    (("(raw * dout).sum((0, 1)), dout.sum((0, 1))", "(raw * dout).sum(0), dout.sum(0)"),
     "sum over the time axis is missing"),
])
def test_check_exercise_5_names_a_mistake_in_a_file(capsys, tmp_path, mistake, words):
    path = tmp_path / "mine.py"
    path.write_text(RIGHT5.replace(*mistake))
    assert RIGHT5.replace(*mistake) != RIGHT5
    code, out, _ = check(capsys, "--exercise", 5, "--impl", path)
    assert code == 1 and "4/4 correct" not in out
    if words:
        assert words in out


def test_check_exercise_5_over_dim_0_only_is_named(capsys, tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(RIGHT5.replace("(0, 1)", "(0,)").replace(
        "n = x.shape[0] * x.shape[1]", "n = x.shape[0]"))
    code, out, _ = check(capsys, "--exercise", 5, "--impl", path)
    assert code == 1 and "normalised over dim 0 only" in out


def test_check_template_exercise_5_is_the_part_5_start(capsys, tmp_path):
    code, out, _ = check(capsys, "--template", "--exercise", 5)
    assert code == 0 and out == ex5.template5()
    path = tmp_path / "mine.py"
    path.write_text(out)
    code, out, _ = check(capsys, "--exercise", 5, "--impl", path)
    assert code == 1 and "not attempted" in out


def test_check_exercise_5_runs_the_learner_apart(capsys, tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(RIGHT5.replace("    return dout.reshape(x_shape)\n",
                                   "    import sys\n    sys.exit(0)\n"))
    code, out, _ = check(capsys, "--exercise", 5, "--impl", path)
    assert code == 1 and "called sys.exit(0)" in out and out.count("not reached") == 4


@pytest.mark.parametrize("argv, words", [
    (("--exercise", 5), "exercise 5 grades a .py file"),
    (("--exercise", 5, "--impl", "mine.ipynb"), "exercise 5 grades a .py file"),
    (("--exercise", 5, "--impl", "mine.py", "--n-hidden", 30), "--n-hidden does not apply"),
    (("--template", "--exercise", 2), "--template takes no --impl"),
])
def test_check_exercise_5_usage_mistakes_are_one_line(capsys, argv, words):
    code, out, err = check(capsys, *argv)
    assert code == 2 and out == "" and words in err and err.count("\n") == 1
