"""The fast step's buffers: fast.Workspace, and 64-byte-aligned arrays.

    ws = Workspace(params, batch_size)   # ws.params are the parameters now

fast.py's step runs in these buffers; its comments name the tricks that
shaped them. Dimension letters: N batch, T block_size, E n_embd, H n_hidden,
V vocab_size; Hp the hidden buffers' width, H + 1 rounded up to 64 bytes.
"""

import math

import numpy as np

from npbackprop.layers import BN_EPS
from npbackprop.names import PARAM_NAMES


def _aligned(size, align=16):
    """size rounded up to a multiple of align elements (64 bytes in float32)."""
    return -(-size // align) * align


def _empty(shape, dtype, fill=None, align=64):
    """np.empty(shape, dtype) (or np.full with fill) starting on a 64-byte boundary.

    numpy's own arrays start on a 16-byte one, wherever malloc puts them; with
    every buffer on a cache line, no 32-byte AVX2 load straddles two lines
    (trick "aligned buffers").
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(np.atleast_1d(shape)) * dtype.itemsize
    raw = np.empty(nbytes + align, np.uint8)
    start = -raw.ctypes.data % align
    out = raw[start:start + nbytes].view(dtype).reshape(shape)
    if fill is not None:
        out[...] = fill
    return out


class Workspace:
    """Preallocated buffers for fast_sgd_step at one batch size N.

    The parameters live in one flat buffer (`flat`) and the gradients in
    another of the same layout (`gflat`), so the SGD update and the finite
    check are one call each; `params` and `grads` are dicts of views into
    them with the lecture's shapes (W2 (H, V) a view of its (V, Hp) buffer,
    b2 that buffer's column H), and step_params/step_grads the buffers the
    step reads. Every scratch buffer is written before it is read, so a step
    depends only on (params, Xb, Yb, lr): nothing carries over. check_batches
    False skips the step's checks of each batch's shape, dtype and range, for a
    caller whose batches come from a split checked once (the trainer's:
    batches.check_split).
    """

    def __init__(self, params, batch_size, transposed_w2=True, b2_row=True,
                 check_batches=True):
        dtype = params["C"].dtype
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"the parameters must be float32 or float64, got {dtype}")
        if any(params[k].dtype != dtype for k in PARAM_NAMES):
            raise ValueError("all parameters must share one dtype")
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (batchnorm's variance divides "
                             f"by N - 1), got {batch_size}")
        (V, E), (TE, H) = params["C"].shape, params["W1"].shape
        # W2 (H, V) kept as its contiguous (V, H) transpose: every product with W2 reads
        # contiguous operands (trick "W2 transposed"). With it, b2 is column H of that
        # buffer and h has a column of ones there: logits = [h, 1] @ [W2; b2] adds b2 in
        # the product and dW2's product yields db2 (trick "b2 row"). Every hidden array
        # is then Hp = H + 1 wide, rounded up to 64 bytes; the columns past H are zero and
        # stay zero, their gradients exactly 0. False and False, the plain layouts, are
        # for the ablation
        b2_row = b2_row and transposed_w2
        Hp = _aligned(H + 1) if b2_row else H
        self.H, self.Hp = H, Hp
        shapes = {"C": (V, E), "W1": (TE, Hp), "b1": (Hp,), "bngain": (Hp,), "bnbias": (Hp,),
                  "W2": (V, Hp) if transposed_w2 else (H, V), "b2": (0 if b2_row else V,)}
        # each buffer starts on a 64-byte boundary
        offsets = np.cumsum([0] + [_aligned(math.prod(shapes[k])) for k in PARAM_NAMES])
        self.flat, self.gflat = (_empty(offsets[-1], dtype, fill=0) for _ in range(2))

        def views(buf):
            """(the step's buffers, the lecture-shaped views of them) by name."""
            b = {k: buf[o:o + math.prod(shapes[k])].reshape(shapes[k])
                 for k, o in zip(PARAM_NAMES, offsets)}
            w2 = b["W2"][:, :H].T if transposed_w2 else b["W2"]
            return b, {"C": b["C"], "W1": b["W1"][:, :H], "b1": b["b1"][:H], "W2": w2,
                       "b2": b["W2"][:, H] if b2_row else b["b2"],
                       "bngain": b["bngain"][None, :H], "bnbias": b["bnbias"][None, :H]}
        (bp, self.params), (bg, self.grads) = views(self.flat), views(self.gflat)
        for k in PARAM_NAMES:
            self.params[k][...] = params[k]
        # the step works on the whole buffers; bngain and bnbias as (Hp,) arrays, so that
        # ops with the batchnorm statistics do not broadcast (1, H) against (H,) (trick
        # "(H,) views")
        self.step_params = tuple(self.params["b2"] if k == "b2" else bp[k] for k in PARAM_NAMES)
        self.step_grads = tuple(self.grads["b2"] if k == "b2" else bg[k] for k in PARAM_NAMES)
        self.W1T = bp["W1"].T                                      # (Hp, T*E)
        # the (V, Hp) operand of dh = dlogits @ W2rows
        self.W2rows = bp["W2"] if transposed_w2 else bp["W2"].T
        N, T = batch_size, TE // E
        self.batch_size, self.vocab_size = N, V
        self.batch_shape = (N, T)                                   # Xb's
        self.check_batches = check_batches
        self.emb = _empty((N, T, E), dtype)
        self.embcat = self.emb.reshape(N, TE)                       # a view of emb
        self.embcen, self.dembcat = _empty((N, TE), dtype), _empty((N, TE), dtype)
        self.embcenT = self.embcen.T
        self.dembrows = self.dembcat.reshape(N * T, E)             # one row per character
        self.embmean = _empty(TE, dtype)
        self.bndiff, self.h, self.dh, self.scratch = (_empty((N, Hp), dtype) for _ in range(4))
        self.h_ones = self.h[:, H] if b2_row else None          # the column of ones, (N,)
        self.logits, self.counts, self.tile_vocab = (_empty((N, V), dtype) for _ in range(3))
        self.logits_flat, self.counts_flat = self.logits.reshape(-1), self.counts.reshape(-1)
        # logits = h @ W2b2 (Hp, V), [W2; b2] (a view of W2's buffer when transposed)
        self.W2b2 = self.W2rows.T
        # dW2 = h.T @ dlogits, or with W2 transposed dW2.T = dlogits.T @ h, into its buffer
        self.dW2_product = ((self.counts.T, self.h, bg["W2"]) if transposed_w2 else
                            (self.h.T, self.counts, bg["W2"]))
        # the flat index of entry (i, y) of an (N, V) array: y + row_starts[i]
        self.row_starts = _empty(N, np.intp, fill=np.arange(N) * V)
        # a row repeated down the batch, for ops that would otherwise broadcast it
        self.tile_embcat, self.tile_hidden = (_empty((N, d), dtype) for d in (TE, Hp))
        # counts_sum below this means a row of logits far under exp's range: every
        # count that matters is then a normal float, and a subnormal one is off by eps^2
        self.tiny = np.finfo(dtype).tiny / np.finfo(dtype).eps
        self.eye = _empty((V, V), dtype, fill=np.eye(V))   # the one-hot's rows, by lookup
        self.onehot = _empty((N, T, V), dtype)
        self.onehotT = self.onehot.reshape(N * T, V).T             # (V, N*T), a view
        self.ones_batch, self.ones_vocab = _empty(N, dtype, fill=1), _empty(V, dtype, fill=1)
        self.picks = _empty(N, np.intp)
        # batch means and the Bessel-corrected variance as matrix-vector products
        self.mean_weights = _empty(N, dtype, fill=1 / N)           # inv_n @ x = x.mean(0)
        self.var_weights = _empty(N, dtype, fill=1 / (N - 1))      # the same over n - 1
        # scalar operands as 0-d arrays of the dtype; n_over_lr is set by each step
        self.eps, self.one = np.array(BN_EPS, dtype), np.array(1.0, dtype)
        self.bessel, self.n_over_lr = np.array(1 / (N - 1), dtype), np.array(1.0, dtype)
        self.bnvar_inv, self.bnscale, self.coef = (_empty(Hp, dtype) for _ in range(3))
        # with keep_stats, each step's batch mean and variance of hprebn (for running
        # statistics: one (T*E, H) product, an add and a copy per step; nothing without it),
        # ws.bnmean and ws.bnvar (H,) views of the step's (Hp,) buffers
        self.bnmean_p, self.bnvar_p = _empty(Hp, dtype), _empty(Hp, dtype)
        self.bnmean, self.bnvar, self.keep_stats = self.bnmean_p[:H], self.bnvar_p[:H], False
        self.counts_sum, self.losses = _empty(N, dtype), _empty(N, dtype)   # (N,)
        self.counts_sum_col = self.counts_sum[:, None]                      # (N, 1) view
