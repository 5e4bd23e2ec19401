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
    assert "4 of 4 right" in report.text()


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
