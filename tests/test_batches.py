"""Minibatches in chunks: every step's batch a function of (seed, batch_size, step) only."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npbackprop import batches
from npbackprop.errors import NpbackpropError
from strategies import seeds

M, T = 50, 3
X = np.arange(M * T).reshape(M, T)      # row i is (3i, 3i+1, 3i+2): a gathered row names i
Y = np.arange(M) + 1000


def stream(seed, start, stop, chunk_steps, batch_size=4):
    return [(x.copy(), y.copy()) for x, y in
            batches.minibatches(X, Y, seed, batch_size, start, stop, chunk_steps)]


@given(seeds, st.integers(1, 9), st.integers(0, 40), st.integers(0, 40))
def test_a_run_started_at_any_step_continues_the_same_stream(seed, chunk_steps, start, more):
    # a resume at `start`, inside a chunk or at its edge, gets the steps the run would have
    whole = stream(seed, 0, start + more, chunk_steps)
    resumed = stream(seed, start, start + more, chunk_steps)
    assert len(resumed) == more
    for (xa, ya), (xb, yb) in zip(whole[start:], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_each_batch_is_its_chunks_row_and_gathers_x_and_y_alike():
    run = stream(3, 0, 23, chunk_steps=10)
    for step, (xb, yb) in enumerate(run):
        Xc, Yc = batches.draw_chunk(X, Y, 3, step // 10, 4, 10)
        np.testing.assert_array_equal(xb, Xc[step % 10])
        np.testing.assert_array_equal(yb, Yc[step % 10])
        rows = xb[:, 0] // T
        np.testing.assert_array_equal(xb, X[rows])
        np.testing.assert_array_equal(yb, Y[rows])
        assert xb.shape == (4, T) and yb.shape == (4,)
        assert xb.flags.c_contiguous and yb.flags.c_contiguous and xb.dtype == X.dtype


def test_the_chunk_is_child_k_of_the_seed_sequence():
    for k in (0, 1, 7):
        spawned = np.random.default_rng(np.random.SeedSequence(42).spawn(k + 1)[k])
        np.testing.assert_array_equal(batches.chunk_rng(42, k).integers(0, 10**9, 20),
                                      spawned.integers(0, 10**9, 20))


def test_streams_differ_by_seed_by_chunk_and_from_the_init_generator():
    draw = {(s, k): batches.chunk_rng(s, k).integers(0, 10**9, 8) for s in (0, 1) for k in (0, 1)}
    values = [tuple(v) for v in draw.values()]
    values.append(tuple(np.random.default_rng(0).integers(0, 10**9, 8)))   # the init stream
    assert len(set(values)) == len(values)


def test_draws_cover_the_split_uniformly():
    Xc, _ = batches.draw_chunk(X, Y, 0, 0, 100, 200)                 # 20,000 rows of 50
    counts = np.bincount(Xc[:, :, 0].ravel() // T, minlength=M)
    assert counts.min() > 0 and counts.shape == (M,)
    # each count is binomial(20000, 1/50): mean 400, sd 19.8; 6 sd either side
    assert 280 < counts.min() and counts.max() < 520


def test_the_default_chunk_is_looked_up_when_called(monkeypatch):
    monkeypatch.setattr(batches, "CHUNK", 5)
    Xc, Yc = batches.draw_chunk(X, Y, 0, 0, 4)
    assert Xc.shape == (5, 4, T) and Yc.shape == (5, 4)
    assert len(stream(0, 3, 12, None)) == 9


@pytest.mark.parametrize("start, stop", [(0, 0), (5, 5), (7, 3)])
def test_an_empty_range_draws_nothing(start, stop):
    assert stream(0, start, stop, 4) == []


# -----------------------------------------------------------------------------
# the split checked once, so that the steps need not check each batch

def test_a_split_in_range_passes_and_so_do_other_integer_dtypes():
    Xs, Ys = X % 27, Y % 27
    for dtype in (np.int64, np.int32, np.uint8):
        batches.check_split(Xs.astype(dtype), Ys.astype(dtype), 27, T)


@pytest.mark.parametrize("where, value", [("X", -1), ("X", 27), ("Y", -1), ("Y", 27),
                                          ("Y", 10**6)])
def test_a_character_out_of_range_is_refused_with_its_row(where, value):
    Xs, Ys = X % 27, Y % 27
    (Xs if where == "X" else Ys)[7] = value
    part = "contexts" if where == "X" else "targets"
    with pytest.raises(NpbackpropError,
                       match=rf"training split's {part} hold {value} \(row 7\), outside the "
                             r"vocabulary's 0..26"):
        batches.check_split(Xs, Ys, 27, T)


@pytest.mark.parametrize("x, y, message", [
    (X.astype(np.float64), Y, "contexts must be an integer numpy array, got float64"),
    (X, Y.astype(bool), "targets must be an integer numpy array, got bool"),
    (X.tolist(), Y, "contexts must be an integer numpy array, got list"),
    (X[:, :2], Y, r"shape \(M, 3\), M at least 1.*got \(50, 2\)"),
    (X[0], Y, r"shape \(M, 3\).*got \(3,\)"),
    (X[:0], Y[:0], r"shape \(M, 3\), M at least 1.*got \(0, 3\)"),
    (X, Y[:49], r"targets must have shape \(50,\), one per context, got \(49,\)"),
])
def test_a_split_of_the_wrong_kind_or_shape_is_refused_by_name(x, y, message):
    with pytest.raises(NpbackpropError, match=message):
        batches.check_split(x, y, 10**4, T)
