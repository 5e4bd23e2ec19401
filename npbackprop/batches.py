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
`torch.randint(0, Xtr.shape[0], (batch_size,))`.
"""

import numpy as np

CHUNK = 1000   # steps a chunk: 1000 x 32 x 3 int64 indices are 0.8 MB, one gather each


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
    return Xtr[ix], Ytr[ix]


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
        for i in range(j, end):
            yield Xc[i], Yc[i]
        step = chunk * chunk_steps + end
