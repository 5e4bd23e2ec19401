import numpy as np
import pytest
from hypothesis import given

from npbackprop import layers, model
from npbackprop.errors import NpbackpropError
from npbackprop.names import PARAM_NAMES
from strategies import make_case, seeds, sizes


def test_init_shapes_dtypes_and_scales():
    p = model.init_params(27, n_embd=10, n_hidden=2000, block_size=3,
                          rng=np.random.default_rng(0), dtype=np.float32)
    assert list(p) == list(PARAM_NAMES)
    shapes = {"C": (27, 10), "W1": (30, 2000), "b1": (2000,), "W2": (2000, 27), "b2": (27,),
              "bngain": (1, 2000), "bnbias": (1, 2000)}
    assert {k: v.shape for k, v in p.items()} == shapes
    assert all(v.dtype == np.float32 for v in p.values())
    assert abs(p["W1"].std() - (5 / 3) / 30 ** 0.5) < 0.01
    assert abs(p["C"].std() - 1.0) < 0.05
    assert abs(p["W2"].std() - 0.1) < 0.005 and abs(p["b1"].std() - 0.1) < 0.01
    assert abs(p["bngain"].mean() - 1.0) < 0.01 and abs(p["bngain"].std() - 0.1) < 0.01
    assert abs(p["bnbias"].mean()) < 0.01 and abs(p["bnbias"].std() - 0.1) < 0.01


def test_init_is_seeded_and_dtype_independent():
    a = model.init_params(5, 2, 3, 2, rng=np.random.default_rng(1), dtype=np.float64)
    b = model.init_params(5, 2, 3, 2, rng=np.random.default_rng(1), dtype=np.float32)
    c = model.init_params(5, 2, 3, 2, rng=np.random.default_rng(2), dtype=np.float64)
    for k in a:
        np.testing.assert_array_equal(a[k].astype(np.float32), b[k])
    assert not np.array_equal(a["W1"], c["W1"])


@given(seeds, sizes())
def test_forward_backward_dtypes(seed, sz):
    for dtype in (np.float32, np.float64):
        params, Xb, Yb = make_case(seed, **sz, dtype=dtype)
        loss, grads = model.forward_backward(params, Xb, Yb)
        assert loss.dtype == dtype
        for k in PARAM_NAMES:
            assert grads[k].shape == params[k].shape and grads[k].dtype == dtype, k


def test_calibrate_is_mean_and_bessel_variance_over_the_split():
    params, X, _ = make_case(0, N=50, T=3, E=4, H=6, V=7)
    bnmean, bnvar = model.calibrate(params, X)
    hpreact = np.stack([params["C"][x].ravel() @ params["W1"] + params["b1"] for x in X])
    np.testing.assert_allclose(bnmean, hpreact.mean(0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(bnvar, hpreact.var(0, ddof=1, keepdims=True), rtol=1e-12)
    assert bnmean.shape == bnvar.shape == (1, 6)


def test_eval_on_the_calibration_batch_equals_training_mode():
    # with the batch's own statistics, evaluation mode is training mode
    params, X, Y = make_case(3, N=40, T=2, E=3, H=5, V=6)
    bnmean, bnvar = model.calibrate(params, X)
    loss, _ = model.forward_backward(params, X, Y)
    assert model.split_loss(params, bnmean, bnvar, X, Y) == pytest.approx(float(loss), rel=1e-12)


def test_split_loss_is_chunk_independent():
    params, X, Y = make_case(4, N=37, T=2, E=3, H=5, V=6)
    stats = model.calibrate(params, X)
    whole = model.split_loss(params, *stats, X, Y)
    assert model.split_loss(params, *stats, X, Y, chunk=5) == pytest.approx(whole, rel=1e-12)
    logits = model.logits_eval(params, *stats, X)
    assert whole == pytest.approx(float(layers.cross_entropy_forward(logits, Y)[0]), rel=1e-12)


def test_sample_is_seeded_ends_and_uses_the_vocabulary():
    itos = [".", "a", "b", "c", "d", "e"]
    params, X, _ = make_case(5, N=30, T=3, E=3, H=5, V=6)
    stats = model.calibrate(params, X)
    a = model.sample(params, *stats, itos, 3, rng=np.random.default_rng(9), num_samples=50,
                     max_len=8)
    b = model.sample(params, *stats, itos, 3, rng=np.random.default_rng(9), num_samples=50,
                     max_len=8)
    assert a == b and len(a) == 50
    assert all(len(s) <= 8 and set(s) <= set("abcde") for s in a)
    assert len(set(a)) > 5


def test_sample_follows_the_model_distribution():
    # a model whose logits ignore the input: the first character's frequency is softmax(b2)
    itos = [".", "a", "b"]
    params = model.init_params(3, 2, 4, 1, rng=np.random.default_rng(0), dtype=np.float64)
    params["W2"][:] = 0
    params["b2"][:] = np.log([0.5, 0.3, 0.2])
    stats = model.calibrate(params, np.array([[0], [1], [2]]))
    names = model.sample(params, *stats, itos, 1, rng=np.random.default_rng(1),
                         num_samples=20000, max_len=1)
    first = np.array([s[:1] for s in names])
    assert abs(np.mean(first == "") - 0.5) < 0.015
    assert abs(np.mean(first == "a") - 0.3) < 0.015


def test_sample_of_zero_names_is_empty_and_a_negative_count_is_refused():
    itos = [".", "a", "b", "c", "d", "e"]
    params, X, _ = make_case(5, N=30, T=3, E=3, H=5, V=6)
    stats = model.calibrate(params, X)

    def draw(**kwargs):
        return model.sample(params, *stats, itos, 3, rng=np.random.default_rng(9), **kwargs)
    assert draw(num_samples=0) == []
    for bad in (dict(num_samples=-1), dict(num_samples=2.5), dict(max_len=0)):
        name, value = next(iter(bad.items()))
        with pytest.raises(NpbackpropError, match=f"{name} must be an integer of at least"):
            draw(**bad)
    assert len(draw(num_samples=3, max_len=1)) == 3
