"""Exercise 1: the chunked graph's 26 gradients, and exercises 2 and 3 against it."""

import copy

import numpy as np
from hypothesis import assume, given, settings

from npbackprop import chunked, layers, model
from npbackprop.gradcheck import compare
from npbackprop.names import GRAD_NAMES
from strategies import dtypes, graph_cases, make_case, seeds, sizes


def roundoff(grads):
    """An absolute tolerance for gradients that are truly ~0 (db1: batchnorm cancels
    b1): both sides are sums of terms as large as dhprebn, so judge them at that scale."""
    return 1e-12 * max(1.0, float(np.abs(grads["hprebn"]).max()))


@settings(max_examples=25)
@given(graph_cases())
def test_all_26_gradients_against_finite_differences(case):
    params, Xb, Yb = case
    _, cache = chunked.forward(params, Xb, Yb)
    # near-zero batch variance makes the loss's third derivative huge (bnvar + 1e-5
    # under a square root): central differences are then wrong, not the gradient
    assume(cache["bnvar"].min() > 1e-3)
    grads = chunked.backward(cache)
    numeric = chunked.numerical_grads(params, Xb, Yb)
    for name in GRAD_NAMES:
        r = compare(name, grads[name], numeric[name], dtype=np.float64)
        assert r.ok, r.report()


@given(seeds, sizes(), dtypes)
def test_gradient_shapes_and_dtypes_are_their_tensors(seed, sz, dtype):
    params, Xb, Yb = make_case(seed, **sz, dtype=dtype)
    loss, cache = chunked.forward(params, Xb, Yb)
    grads = chunked.backward(cache)
    assert list(grads) == list(GRAD_NAMES) and len(grads) == 26
    assert loss.shape == () and loss.dtype == dtype
    for name, g in grads.items():
        assert g.shape == cache[name].shape, name  # bnmeani: (1, H), not (H,)
        assert g.dtype == dtype, name


@given(seeds, sizes())
def test_chunked_equals_fused(seed, sz):
    params, Xb, Yb = make_case(seed, **sz)
    loss, cache = chunked.forward(params, Xb, Yb)
    grads = chunked.backward(cache)
    fused_loss, fused = model.forward_backward(params, Xb, Yb)
    np.testing.assert_allclose(fused_loss, loss, rtol=1e-12)
    for k in chunked.PARAM_NAMES:
        np.testing.assert_allclose(fused[k], grads[k], rtol=1e-10, atol=roundoff(grads), err_msg=k)


@given(seeds, sizes())
def test_exercise_2_fused_cross_entropy(seed, sz):
    params, Xb, Yb = make_case(seed, **sz)
    _, cache = chunked.forward(params, Xb, Yb)
    _, ce_cache = layers.cross_entropy_forward(cache["logits"], Yb)
    dlogits, _ = layers.cross_entropy_backward(1.0, ce_cache)
    np.testing.assert_allclose(dlogits, chunked.backward(cache)["logits"], rtol=1e-10,
                               atol=1e-15)
    np.testing.assert_allclose(dlogits.sum(1), 0, atol=1e-15)


@given(seeds, sizes())
def test_exercise_3_fused_batchnorm(seed, sz):
    params, Xb, Yb = make_case(seed, **sz)
    _, cache = chunked.forward(params, Xb, Yb)
    grads = chunked.backward(cache)
    _, bn_cache = layers.batchnorm_forward(cache["hprebn"], params["bngain"], params["bnbias"])
    dhprebn, dgain, dbias = layers.batchnorm_backward(grads["hpreact"], bn_cache)
    atol = roundoff(grads)
    np.testing.assert_allclose(dhprebn, grads["hprebn"], rtol=1e-10, atol=atol)
    np.testing.assert_allclose(dgain, grads["bngain"], rtol=1e-10, atol=atol)
    np.testing.assert_allclose(dbias, grads["bnbias"], rtol=1e-10, atol=atol)


@given(seeds, sizes())
def test_backward_is_pure(seed, sz):
    params, Xb, Yb = make_case(seed, **sz)
    _, cache = chunked.forward(params, Xb, Yb)
    snapshot = copy.deepcopy(cache)
    first = chunked.backward(cache)
    second = chunked.backward(cache)
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])
    for k, v in snapshot.items():
        np.testing.assert_array_equal(cache[k], v, err_msg=k)


def test_the_lecture_sizes_run():
    rng = np.random.default_rng(0)
    params = model.init_params(27, 10, 64, 3, rng=rng, dtype=np.float32)
    Xb, Yb = rng.integers(0, 27, (32, 3)), rng.integers(0, 27, 32)
    loss, cache = chunked.forward(params, Xb, Yb)
    assert set(chunked.INTERMEDIATES) <= set(cache)
    assert cache["bnmeani"].shape == (1, 64) and chunked.backward(cache)["bnmeani"].shape == (1, 64)
    # near -log(1/27) = 3.3 at initialisation, as in the lecture
    assert 2.8 < float(loss) < 4.5


def test_finite_differences_catch_the_lectures_classic_mistakes():
    # the checker behind test_all_26_... must fail these, else it proves nothing
    params, Xb, Yb = make_case(11, N=5, T=2, E=3, H=4, V=5)
    Xb[:, 0] = 1  # a repeated character in every row
    _, cache = chunked.forward(params, Xb, Yb)
    grads = chunked.backward(cache)
    numeric = chunked.numerical_grads(params, Xb, Yb, names=("bndiff2", "C", "counts"))
    n = Xb.shape[0]
    lost_repeats = np.zeros_like(params["C"])
    lost_repeats[Xb] += grads["emb"]  # buffered: a row indexed twice keeps one update
    wrong = {
        # 1/n instead of Bessel's 1/(n-1)
        "bndiff2": grads["bndiff2"] * (n - 1) / n,
        "C": lost_repeats,
        # the second branch of counts (through counts_sum) forgotten
        "counts": cache["counts_sum_inv"] * grads["probs"],
    }
    for name, g in wrong.items():
        assert compare(name, grads[name], numeric[name]).ok, name
        assert not compare(name, g, numeric[name]).ok, name


def test_dlogits_keeps_the_branch_through_logit_maxes():
    # that branch is ~1e-17, so no tolerance sees it: dropping it must still fail a test.
    # Bitwise, dlogits differs from dnorm_logits, and only at each row's max
    from npbackprop.check import setups
    for setup in (setups.make_setup(), setups.make_setup(seed=3)):
        g = chunked.backward(setup.cache)
        differs = g["logits"] != g["norm_logits"]
        assert differs.sum() >= setup.sizes.batch_size // 2
        rows, cols = np.nonzero(differs)
        np.testing.assert_array_equal(cols, setup.cache["logits"].argmax(1)[rows])
