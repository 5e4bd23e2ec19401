"""Minibatches for training: drawn a chunk of steps at a time, each chunk its own stream.

    for Xb, Yb in minibatches(Xtr, Ytr, seed=42, batch_size=32, start=0, stop=200_000):
        ...                                     # Xb (N, T), Yb (N,) of each step in turn

Step s's minibatch is row s % CHUNK of chunk s // CHUNK, and chunk k's rows
come from their own generator, seeded from (seed, k) alone: its indices for
all CHUNK steps are drawn in one call and gathered in one pass. So the batch
of any step is a function of (seed, batch_size, step) only. A run resumed at
any step, inside a chunk or at its edge, redraws that chunk and skips to the
step: bit for bit the run that was interrupted, by construction, whatever
the generator state the checkpoint holds. A longer run has the same first
steps. Uniform draws with replacement from the training split, as the lecture's
`torch.randint(0, Xtr.shape[0], (batch_size,))`. check_split checks a split
once, so that the steps need not check each batch drawn from it.
"""

import numpy as np

from npbackprop.errors import NpbackpropError

CHUNK = 1000   # steps a chunk: 1000 x 32 x 3 int64 indices are 0.8 MB, one gather each


def check_split(X, Y, vocab_size, block_size, name="training"):
    """NpbackpropError unless X (M, T) and Y (M,) are integer arrays of characters in
    0..V-1, T = block_size, M at least 1: then every minibatch drawn from them is one the
    steps accept, and they need not check each (one pass over each array, here)."""
    what = f"the {name} split"
    for part, a in (("contexts", X), ("targets", Y)):
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu":
            kind = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise NpbackpropError(f"{what}'s {part} must be an integer numpy array, got "
                                  f"{kind}: encode the names with the dataset's vocabulary")
    if X.ndim != 2 or X.shape[1] != block_size or X.shape[0] == 0:
        raise NpbackpropError(f"{what}'s contexts must have shape (M, {block_size}), M at "
                              f"least 1, one context of block_size {block_size} a row, got "
                              f"{X.shape}: build the dataset with the run's block_size")
    if Y.shape != X.shape[:1]:
        raise NpbackpropError(f"{what}'s targets must have shape ({X.shape[0]},), one per "
                              f"context, got {Y.shape}")
    for part, a in (("contexts", X), ("targets", Y)):
        low, high = a.min(), a.max()
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            row = int(np.flatnonzero((a == bad).reshape(len(a), -1).any(1))[0])
            raise NpbackpropError(f"{what}'s {part} hold {bad} (row {row}), outside the "
                                  f"vocabulary's 0..{vocab_size - 1}: encode the names with "
                                  f"the dataset's vocabulary")


def chunk_rng(seed, chunk):
    """Chunk `chunk`'s generator: child `chunk` of the run's seed sequence.

    The same as np.random.SeedSequence(seed).spawn(chunk + 1)[chunk], made
    directly; independent of default_rng(seed), which draws the initial
    parameters.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk,)))


def draw_chunk(Xtr, Ytr, seed, chunk, batch_size, chunk_steps=None):
    """The minibatches of chunk `chunk`: Xc (K, N, T) and Yc (K, N), K = chunk_steps.

    Xc[j], Yc[j] is step chunk * K + j's batch, each C-contiguous.
    """
    chunk_steps = chunk_steps or CHUNK
    ix = chunk_rng(seed, chunk).integers(0, Xtr.shape[0], (chunk_steps, batch_size))  # (K, N)
    # the take method gathers the same rows as Xtr[ix] in a third of the time
    return Xtr.take(ix, 0), Ytr.take(ix, 0)


def minibatches(Xtr, Ytr, seed, batch_size, start, stop, chunk_steps=None):
    """Yield (Xb, Yb) for each step in range(start, stop), a chunk drawn when one begins.

    Xb is int (N, T) and Yb int (N,), views into the chunk's arrays: valid
    until the next chunk is drawn, which is after the last step of this one.
    """
    chunk_steps = chunk_steps or CHUNK
    step = start
    while step < stop:
        chunk, j = divmod(step, chunk_steps)
        Xc, Yc = draw_chunk(Xtr, Ytr, seed, chunk, batch_size, chunk_steps)
        end = min(stop - chunk * chunk_steps, chunk_steps)
        # iterating over the chunk's rows makes each step's views in C, not by Xc[i]
        yield from zip(Xc[j:end], Yc[j:end])
        step = chunk * chunk_steps + end
