"""Parts 5 and 3's networks against PyTorch: tests/fixtures/wavenet_reference.npz,
written by tests/fixtures/make_wavenet_reference.py (needs torch; this test does not)."""

from pathlib import Path

import numpy as np
import pytest

from npbackprop import nets

FIXTURE = Path(__file__).parent / "fixtures" / "wavenet_reference.npz"
TOL = {"rtol": 1e-10, "atol": 1e-13}
# the fixture's sizes: V, E, H, T (see the script's docstring)
NETS = {"wavenet": lambda rng: nets.wavenet(7, 3, 5, 8, rng=rng, dtype=np.float64),
        "deep": lambda rng: nets.deep_mlp(7, 3, 5, 3, n_layers=2, rng=rng, dtype=np.float64)}


def load(tag):
    with np.load(FIXTURE) as z:
        ref = {k[len(tag) + 1:]: z[k] for k in z.files if k.startswith(tag + "/")}
    net = NETS[tag](np.random.default_rng(0))
    params = {k[len("param/"):]: v.copy() for k, v in ref.items() if k.startswith("param/")}
    assert params.keys() == net.params.keys()  # the same modules, named alike
    net.set_params(params)
    return net, ref


def worst(a, b):
    return float(np.max(np.abs(a - b) / (TOL["atol"] + TOL["rtol"] * np.abs(b))))


@pytest.mark.parametrize("tag", NETS)
def test_loss_logits_and_every_gradient_match_torch(tag):
    net, ref = load(tag)
    loss, grads, cache = nets.loss_and_grads(net, ref["Xb"], ref["Yb"])
    np.testing.assert_allclose(loss, ref["loss"], **TOL)
    np.testing.assert_allclose(net.forward(ref["Xb"])[0], ref["logits"], **TOL)
    for k, g in grads.items():
        assert g.shape == ref[f"grad/{k}"].shape and g.dtype == np.float64, k
        np.testing.assert_allclose(g, ref[f"grad/{k}"], err_msg=k, **TOL)


@pytest.mark.parametrize("tag", NETS)
def test_running_statistics_and_eval_logits_match_torch(tag):
    net, ref = load(tag)
    _, cache = net.train().forward(ref["Xb"])
    buffers = net.running_update(net.buffers(), cache)
    for k, v in buffers.items():
        np.testing.assert_allclose(v, ref[f"buffer/{k}"], err_msg=k, **TOL)
    np.testing.assert_allclose(nets.logits_eval(net, buffers, ref["Xb"]), ref["eval_logits"],
                               **TOL)


def test_a_wrong_gradient_is_outside_the_fixtures_tolerance():
    # the tolerance is tight enough to see a 1e-6 relative error in one gradient
    net, ref = load("wavenet")
    _, grads, _ = nets.loss_and_grads(net, ref["Xb"], ref["Yb"])
    assert worst(grads["7.gamma"] * (1 + 1e-6), ref["grad/7.gamma"]) > 1
    assert worst(grads["7.gamma"], ref["grad/7.gamma"]) <= 1
