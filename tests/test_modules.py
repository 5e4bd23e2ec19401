"""Thin modules and Sequential: names, modes, no stored state, and the whole chain
against central finite differences in float64."""

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npbackprop import layers, nets
from npbackprop.gradcheck import GradcheckError, check_named
from npbackprop.modules import BatchNorm1d, FlattenConsecutive, Linear, Sequential, Tanh
from strategies import dtypes, seeds


def float_chain(rng, dtype=np.float64):
    """A chain on float input (N, T, D): every module but the embedding, 3-D batchnorm included."""
    net = Sequential([Linear(3, 4, rng=rng, dtype=dtype), BatchNorm1d(4, dtype=dtype), Tanh(),
                      FlattenConsecutive(2), Linear(8, 5, bias=False, rng=rng, dtype=dtype),
                      BatchNorm1d(5, dtype=dtype), Tanh(), Linear(5, 3, rng=rng, dtype=dtype)])
    # gamma, beta and the bias away from 1 and 0, so a wrong gradient cannot hide
    for p in net.params.values():
        p += (0.3 * rng.standard_normal(p.shape)).astype(dtype)
    return net


def small_wavenet(seed, N=3, T=4, E=2, H=3, V=5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    net = nets.wavenet(V, E, H, T, rng=rng, dtype=dtype)
    for p in net.params.values():
        p += (0.3 * rng.standard_normal(p.shape)).astype(dtype)
    Xb = rng.integers(0, V, (N, T))
    Xb[0, 0] = (Xb[1, 0] + 1) % V  # two contexts differ, so no batch variance is zero
    return net, Xb, rng.integers(0, V, N)


def check_chain(net, x, seed, buffers=None):
    """check_named over {"x": x, **params} of sum(out * dout), dout random."""
    out, cache = net.forward(x, buffers)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx, grads = net.backward(dout, cache)
    arrays = {**({"x": x} if x.dtype.kind == "f" else {}), **net.params}
    analytic = {**({"x": dx} if x.dtype.kind == "f" else {}), **grads}
    return check_named(lambda: np.sum(net.forward(x, buffers)[0] * dout), arrays, analytic,
                       seed=seed)


@given(seed=seeds, n=st.integers(2, 5))
def test_float_chain_against_finite_differences(seed, n):
    rng = np.random.default_rng(seed)
    net = float_chain(rng)
    x = rng.standard_normal((n, 2, 3))
    assert all(r.ok for r in check_chain(net, x, seed))


@given(seed=seeds, n=st.integers(2, 5))
def test_float_chain_in_eval_mode_against_finite_differences(seed, n):
    rng = np.random.default_rng(seed)
    net = float_chain(rng)
    buffers = {k: v + (0.5 if k.endswith("var") else 0.2) * rng.random(v.shape)
               for k, v in net.buffers().items()}
    x = rng.standard_normal((n, 2, 3))
    assert all(r.ok for r in check_chain(net.eval(), x, seed, buffers))


@given(seed=seeds, N=st.integers(2, 4), T=st.sampled_from([2, 4]), E=st.integers(1, 3),
       H=st.integers(1, 3), V=st.integers(2, 5))
def test_wavenet_loss_against_finite_differences(seed, N, T, E, H, V):
    net, Xb, Yb = small_wavenet(seed, N, T, E, H, V)
    loss, grads, _ = nets.loss_and_grads(net, Xb, Yb)
    f = lambda: float(nets.loss_and_grads(net, Xb, Yb)[0])  # noqa: E731
    assert all(r.ok for r in check_named(f, net.params, grads, seed=seed))


@given(seed=seeds)
def test_deep_mlp_loss_against_finite_differences(seed):
    rng = np.random.default_rng(seed)
    net = nets.deep_mlp(5, 2, 3, 2, n_layers=2, rng=rng, dtype=np.float64)
    for p in net.params.values():
        p += 0.3 * rng.standard_normal(p.shape)
    Xb, Yb = rng.integers(0, 5, (4, 2)), rng.integers(0, 5, 4)
    Xb[0, 0] = (Xb[1, 0] + 1) % 5
    _, grads, _ = nets.loss_and_grads(net, Xb, Yb)
    f = lambda: float(nets.loss_and_grads(net, Xb, Yb)[0])  # noqa: E731
    assert all(r.ok for r in check_named(f, net.params, grads, seed=seed))


class BatchNormOverBatchOnly(BatchNorm1d):
    """The part-5 mistake: a 3-D input normalised over dim 0 only, backward to match."""

    def forward(self, x, buffers=None):
        out, cache = layers.batchnorm_forward(x, self.params["gamma"], self.params["beta"],
                                              self.eps, tuple(range(x.ndim - 1)))
        return out, ("train", cache)

    def backward(self, dout, cache):
        raw, var_inv, gain, _, axes, _, _ = cache[1]
        n = dout.shape[0]  # the mistake: n = N instead of N*T
        dx = gain * var_inv / n * (n * dout - dout.sum(axes, keepdims=True)
                                   - n / (n - 1) * raw * (dout * raw).sum(axes, keepdims=True))
        return dx, {"gamma": (raw * dout).reshape(-1, raw.shape[-1]).sum(0),
                    "beta": dout.reshape(-1, dout.shape[-1]).sum(0)}


def test_the_whole_chain_check_catches_one_wrong_module():
    rng = np.random.default_rng(5)
    net = float_chain(rng)
    net.modules[1] = BatchNormOverBatchOnly(4, dtype=np.float64)
    with pytest.raises(GradcheckError) as err:
        check_chain(net, rng.standard_normal((3, 2, 3)), 5)
    assert err.value.result.name == "x"


def test_names_counts_and_the_lectures_init():
    rng = np.random.default_rng(0)
    net = nets.wavenet(27, rng=rng)
    assert nets.count_params(net) == 76_579
    assert list(net.params)[:4] == ["0.weight", "2.weight", "3.gamma", "3.beta"]
    assert list(net.buffers()) == [f"{i}.running_{s}" for i in (3, 7, 11) for s in ("mean", "var")]
    assert "13.bias" in net.params and "2.bias" not in net.params
    np.testing.assert_array_equal(net.params["13.bias"], 0)
    assert nets.count_params(nets.deep_mlp(27, rng=rng)) == 47_024
    # the deep MLP's last batchnorm starts 0.1 times less confident
    np.testing.assert_allclose(nets.deep_mlp(27, rng=rng).params["18.gamma"], 0.1, rtol=1e-6)


def test_a_network_prints_its_modules_one_a_line():
    text = repr(nets.wavenet(27, rng=np.random.default_rng(0)))
    lines = text.splitlines()
    assert lines[0] == "Sequential(train mode," and lines[-1] == ")" and len(lines) == 16
    assert lines[1:6] == ["  (0): Embedding(27, 24)", "  (1): FlattenConsecutive(2)",
                          "  (2): Linear(48, 128, bias=False)",
                          "  (3): BatchNorm1d(128, eps=1e-05, momentum=0.1)", "  (4): Tanh()"]
    assert lines[-2] == "  (13): Linear(128, 27, bias=True)"
    assert repr(nets.deep_mlp(27, rng=np.random.default_rng(0)).eval()).startswith(
        "Sequential(eval mode,")


@pytest.mark.parametrize("block_size", [1, 3, 6])
def test_wavenet_refuses_a_block_size_that_is_not_a_power_of_two(block_size):
    with pytest.raises(ValueError, match="power of 2"):
        nets.wavenet(27, block_size=block_size, rng=np.random.default_rng(0))


@given(seed=seeds, dtype=dtypes)
def test_forward_and_backward_keep_no_state_and_keep_dtypes(seed, dtype):
    net, Xb, Yb = small_wavenet(seed, dtype=dtype)
    before = copy.deepcopy([m.__dict__ for m in net.modules])
    loss, grads, cache = nets.loss_and_grads(net, Xb, Yb)
    assert loss.dtype == dtype
    for k, p in net.params.items():
        assert grads[k].shape == p.shape and grads[k].dtype == dtype
    after = [m.__dict__ for m in net.modules]
    for b, a in zip(before, after):
        assert b.keys() == a.keys()
        for k in b["params"]:
            np.testing.assert_array_equal(b["params"][k], a["params"][k])
    # the same backward twice gives the same gradients: nothing consumed or kept
    _, again = net.backward(*_dlogits_and_cache(net, Xb, Yb))
    _, first = net.backward(*_dlogits_and_cache(net, Xb, Yb))
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])


def _dlogits_and_cache(net, Xb, Yb):
    logits, cache = net.forward(Xb)
    dlogits, _ = layers.cross_entropy_backward(1.0, layers.cross_entropy_forward(logits, Yb)[1])
    return dlogits, cache


@given(seed=seeds)
def test_running_update_is_pure_and_moves_buffers_toward_the_batch(seed):
    net, Xb, _ = small_wavenet(seed)
    buffers = net.buffers()
    saved = {k: v.copy() for k, v in buffers.items()}
    _, cache = net.forward(Xb)
    new = net.running_update(buffers, cache)
    assert new.keys() == buffers.keys()
    for k in buffers:
        np.testing.assert_array_equal(buffers[k], saved[k])
        assert new[k].shape == saved[k].shape
    # module 3 normalises (N, T/2, H) over (0, 1): its batch statistics, momentum 0.1
    x = net.modules[2].forward(net.modules[1].forward(net.modules[0].forward(Xb)[0])[0])[0]
    h = x.reshape(-1, x.shape[-1])
    np.testing.assert_allclose(new["3.running_mean"], 0.1 * h.mean(0), rtol=1e-12)
    np.testing.assert_allclose(new["3.running_var"], 0.9 + 0.1 * h.var(0, ddof=1), rtol=1e-12)


def test_eval_mode_uses_the_buffers_and_needs_them():
    net, Xb, _ = small_wavenet(1)
    with pytest.raises(ValueError, match="running statistics"):
        net.eval().forward(Xb)
    # with the starting buffers (mean 0, var 1) every batchnorm is gamma * x / sqrt(1 + eps) + beta
    out_eval, _ = net.forward(Xb, net.buffers())
    one = out_eval[:1]
    np.testing.assert_allclose(net.forward(Xb[:1], net.buffers())[0], one, rtol=1e-12)
    out_train, _ = net.train().forward(Xb)
    assert not np.allclose(out_eval, out_train)


def test_running_update_refuses_an_eval_cache():
    net, Xb, _ = small_wavenet(2)
    _, cache = net.eval().forward(Xb, net.buffers())
    with pytest.raises(ValueError, match="training-mode"):
        net.running_update(net.buffers(), cache)


def test_set_params_binds_arrays_and_refuses_wrong_shapes():
    net, _, _ = small_wavenet(3)
    new = {k: np.zeros_like(v) for k, v in net.params.items()}
    net.set_params(new)
    assert all(net.params[k] is new[k] for k in new)
    new["2.weight"] = np.zeros((1, 1))
    with pytest.raises(ValueError, match="2.weight"):
        net.set_params(new)
