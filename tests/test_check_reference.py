"""The grader's reference at other sizes: complex-step derivatives, right at every batch size.

Central differences (eps 1e-6) go wrong at batch 2, where a column variance
far below the batchnorm eps makes bnvar and bndiff2 off; complex steps do
not. Both are held to the hand-written backward, itself held to torch.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npbackprop import chunked
from npbackprop.check import grader, reference, setups
from npbackprop.names import GRAD_NAMES
from strategies import seeds

TOL = setups.COMPLEX_STEP


def agree(got, want, tol=TOL):
    return {k: bool(np.allclose(got[k], want[k], atol=tol.atol, rtol=tol.rtol)) for k in want}


def test_complex_steps_equal_torch_at_the_lectures_size():
    setup = setups.make_setup()
    got = reference.complex_step_grads(setup.cache, GRAD_NAMES)
    # far tighter than the grader's tolerance: both are exact to rounding
    tight = setups.Tolerance(1e-15, 1e-9, "rounding")
    assert all(agree(got, setup.torch_grads, tight).values())


@settings(max_examples=60)
@given(seed=seeds, n=st.integers(2, 4), h=st.integers(1, 8), v=st.integers(2, 8))
def test_complex_steps_are_right_at_small_batches(seed, n, h, v):
    setup = setups.make_setup(seed=seed, batch_size=n, n_hidden=h, vocab_size=v, n_embd=3)
    got = reference.complex_step_grads(setup.cache, GRAD_NAMES)
    ok = agree(got, chunked.backward(setup.cache))
    assert all(ok.values()), [k for k, good in ok.items() if not good]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_our_check_passes_at_the_lectures_width_on_many_seeds(n):
    # `npbackprop check --batch-size 2` failed its own backward on about 8 seeds of 20
    for seed in range(20):
        setup = setups.make_setup(seed=seed, batch_size=n)
        report = grader.check_builtin(setup, (1,))
        assert report.ok, (n, seed, report.text())


def test_central_differences_were_wrong_at_batch_2_and_complex_steps_are_not():
    # the seeds where a column variance sits far below the batchnorm eps
    wrong = []
    for seed in range(20):
        setup = setups.make_setup(seed=seed, batch_size=2)
        names = ("bnvar", "bndiff2")
        ours = chunked.backward(setup.cache)
        fd = chunked.numerical_grads(setup.params, setup.Xb, setup.Yb, names)
        cs = reference.complex_step_grads(setup.cache, names)
        assert all(agree(cs, {k: ours[k] for k in names}).values()), seed
        if not all(agree(fd, {k: ours[k] for k in names}, setups.FINITE_DIFF).values()):
            wrong.append(seed)
    assert len(wrong) >= 3, wrong


def test_a_wrong_gradient_is_caught_at_batch_2():
    setup = setups.make_setup(seed=5, batch_size=2)
    ours = chunked.backward(setup.cache)
    cs = reference.complex_step_grads(setup.cache, GRAD_NAMES)
    for name in GRAD_NAMES:
        off = {name: ours[name] * (1 + 1e-4) + 1e-7}
        assert not agree(cs, off)[name], name


def test_only_the_graph_downstream_runs():
    # perturbing W2 never reads the cache's values upstream of logits
    setup = setups.make_setup(seed=1, batch_size=3, n_hidden=4)
    cache = dict(setup.cache)
    for name in ("emb", "embcat", "hprebn", "bnraw", "hpreact", "C", "W1"):
        cache[name] = None
    got = reference.complex_step_grads(cache, ("W2", "b2", "h"))
    want = chunked.backward(setup.cache)
    assert all(agree(got, {k: want[k] for k in ("W2", "b2", "h")}).values())
