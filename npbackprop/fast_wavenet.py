"""Part 5's training step, fast: nets.sgd_step for the wavenet, rearranged.

    ws = Workspace(state, vocab_size, n_embd, n_hidden, block_size)
    loss, finite = fast_sgd_step(ws, Xb, Yb, lr)    # the same numbers as nets.sgd_step

The readable network (nets.wavenet, modules.py, layers.py) stays the
reference; tests hold this step equal to it. The tricks, each named where used:
- flat rows: a stage's (N, T', H) activation is kept as (N*T', H). Batchnorm
  over dims (0, 1) is then batchnorm over rows, and FlattenConsecutive(2) a
  reshape to (N*T'/2, 2H): every matmul is one 2-D BLAS call.
- first-layer tables: the first Linear sees two embeddings side by side, so
  x @ W = C[a] @ W[:E] + C[b] @ W[E:]; the products C @ W[:E] and C @ W[E:]
  (V, H) are computed once and gathered. Its backward sums dh into those
  tables with one one-hot matmul, and dW and dC come from (V, H) arrays.
- one flat buffer: parameters, then running statistics, in one array; the
  lr-scaled gradients (lr * grad, the cross-entropy backward starts scaled) in
  another of the same layout, so SGD is one `flat -= gflat` and the finiteness
  check one dot (fast.all_finite); the batch statistics in a third, laid out as the running ones,
  so the momentum update of all of them is two operations.
- buffers: every (M, H) array of a step lives in a Buffers made once per batch
  size, and each numpy call writes its output into one (the last positional
  argument), as fast.py does; every batch sum is a product with a vector of
  ones (`dot(ones, x)`, one BLAS gemv, instead of x.sum(0)).
- aligned buffers: each scratch array starts on a 64-byte boundary (fast.py's
  _empty), and gflat at the same offset from one as flat: an (M, H) ufunc on
  aligned operands measured ~1.7x faster than on numpy's 16-byte-aligned ones.
- scale tiles: gain * var_inv, the (H,) scale of batchnorm, is copied once into
  an (M, H) tile; the forward's diff * scale and the backward's final * scale
  then multiply two same-shape arrays instead of broadcasting a row twice; the
  backward's two other rows (its coef and dbias / n) are copied into a tile too.
- transposed dx at 32 rows: a stage's dx @ W.T with 32 rows of dx is computed as
  (W @ dx.T).T, into a (2H, 32) buffer copied back to rows: OpenBLAS took ~59 us
  for the first and ~44 for the second and the copy, one thread (at 64 rows, not faster).
- forward products in row chunks: a stage's forward (M, 2H) @ (2H, H) is taken in
  near-equal row chunks of at most 10**6 // (2H * H) rows, so that each call stays
  under OpenBLAS's small-matrix bound (M*N*K <= 1e6 for its SkylakeX kernels), whose
  path measured faster per row: 64 rows 43.1 -> 40.1 us in three chunks, 32 rows
  23.6 -> 19.8 in two (one thread; benchmarks/RESULTS.md, session 23).
- one-hot by scatter: the pairs (a, c) are Xb's consecutive columns, so the
  first layer's (M, 2V) one-hot is a zero fill and ones scattered at the flat
  indices m * 2V + [a, V + c] (~5 us, against ~18 for two eye lookups and an add).
"""

import math

import numpy as np

from npbackprop.fast import _empty, all_finite, check_batch
from npbackprop.layers import BN_EPS
from npbackprop.nets import Workspace as _ReadableWorkspace


class Workspace(_ReadableWorkspace):
    """The state in one flat array (params first, then running statistics), the gradients
    in `gflat` laid out as the params, and the stage structure of the network."""

    def __init__(self, state, vocab_size, n_embd, n_hidden, block_size, momentum=0.1,
                 check_batches=True):
        dtypes = {v.dtype for v in state.values()}
        if len(dtypes) != 1 or not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
            raise TypeError("the state must be all float32 or all float64, got "
                            + ", ".join(sorted(map(str, dtypes))))
        super().__init__("wavenet", state, vocab_size, n_embd, n_hidden, block_size)
        names = list(self.net.params)
        self.n_params = sum(self.params[k].size for k in names)
        # gflat at flat's offset from a 64-byte boundary, so `flat -= gflat` runs aligned
        skew = self.flat.ctypes.data % 64 // self.flat.itemsize
        self.gflat = _empty(skew + self.n_params, self.flat.dtype, fill=0)[skew:]
        self.grads, offset = {}, 0
        for k in names:
            self.grads[k] = self.gflat[offset:offset + self.params[k].size].reshape(
                self.params[k].shape)
            offset += self.params[k].size
        self.stages = [(f"{i}.weight", f"{i + 1}.gamma", f"{i + 1}.beta",
                        f"{i + 1}.running_mean", f"{i + 1}.running_var")
                       for i in range(2, len(self.net.modules) - 1, 4)]
        self.out = f"{len(self.net.modules) - 1}."
        self.E, self.V, self.H, self.T, self.momentum = (n_embd, vocab_size, n_hidden,
                                                         block_size, momentum)
        self.buffers = {}                                          # Buffers by batch size
        # False: the step skips its checks of each batch (a split checked once)
        self.check_batches = check_batches
        self.eps, self.one = np.array(BN_EPS, self.flat.dtype), np.array(1.0, self.flat.dtype)
        # the batch statistics laid out as the running ones (after the params in flat)
        self.running = self.flat[self.n_params:]
        self.batch_stats, self.stats_in = np.empty_like(self.running), np.empty_like(self.running)
        # 1 - m and m as 0-d arrays of the dtype (numpy's own rounding of the Python floats)
        self.keep = np.array(1 - momentum, self.flat.dtype)
        self.momentum_0d = np.array(momentum, self.flat.dtype)
        self.batch_mean_var = [self.batch_stats[2 * i * n_hidden:(2 * i + 2) * n_hidden]
                               .reshape(2, n_hidden) for i in range(len(self.stages))]


def _ones(shape, dtype):
    return _empty(shape, dtype, fill=1)


class Buffers:
    """The scratch arrays of a step at one batch size N (every one written before read)."""

    def __init__(self, ws, N):
        if N < 2:
            raise ValueError(f"batch_size must be at least 2 (batchnorm's variance divides "
                             f"by N - 1), got {N}")
        dtype, H, V = ws.flat.dtype, ws.H, ws.V
        rows = [N * ws.T >> (s + 1) for s in range(len(ws.stages))]     # M of each stage
        new = [_empty((M, H), dtype) for M in rows for _ in range(6)]
        # per stage: x (the Linear's output, then diff), h, dh, tmp, the scale tile, and
        # a tile for the backward's (H,) rows
        self.x, self.h, self.dh, self.tmp, self.tile, self.row = (new[i::6] for i in range(6))
        self.ones = [_ones(M, dtype) for M in rows]                    # dot(ones, x) = x.sum(0)
        # dot(mean_w, x) = x.mean(0); dot(var_w, diff * diff) = the Bessel-corrected variance
        self.mean_w = [_empty(M, dtype, fill=1 / M) for M in rows]
        self.var_w = [_empty(M, dtype, fill=1 / (M - 1)) for M in rows]
        self.inv_n = [np.array(1 / M, dtype) for M in rows]              # 0-d, not Python floats
        self.bessel = [np.array(1 / (M - 1), dtype) for M in rows]
        self.var_inv, self.scale, self.coef, self.shift = (
            [_empty(H, dtype) for _ in rows] for _ in range(4))
        self.tables = _empty((2, V, H), dtype)                         # left; right
        self.onehot = _empty((rows[0], 2 * V), dtype)
        self.onehot_flat = self.onehot.reshape(-1)
        self.x_pairs = self.x[0].reshape(N, ws.T // 2, H)            # stage 0's x, a view
        # flat index of row m's one in the left (a) and the right (c) block: m * 2V + [0, V]
        self.onehot_rows = np.arange(rows[0])[:, None] * (2 * V) + np.array([0, V])
        self.onehot_at = _empty((rows[0], 2), np.intp)
        # dx.T of a stage at <= 32 rows, for its transposed backward product
        self.dxT = [_empty((2 * H, M), dtype) if M <= 32 else None for M in rows]
        # each stage's forward product in row chunks of at most `most` rows
        most = max(1, 10 ** 6 // (2 * H * H))
        self.chunks = [[slice(M * i // k, M * (i + 1) // k) for i in range(k)]
                       for M in rows for k in [-(-M // most)]]
        self.logits = _empty((N, V), dtype)
        self.logits_flat = self.logits.reshape(-1)
        self.tile_vocab = _empty((N, V), dtype)
        self.ones_N, self.ones_V = _ones(N, dtype), _ones(V, dtype)
        self.row_starts, self.picks = np.arange(N) * V, _empty(N, np.intp)
        self.counts_sum, self.losses = _empty(N, dtype), _empty(N, dtype)
        self.counts_sum_col = self.counts_sum[:, None]
        self.n_over_lr = np.array(1.0, dtype)
        self.gC = _empty((2, V, ws.E), dtype)
        # counts_sum below this: a row of logits far under exp's range (fast.py's trick)
        self.tiny = np.finfo(dtype).tiny / np.finfo(dtype).eps


def _batchnorm_tanh(b, s, x, gain, bias, mean_var, eps):
    """Batchnorm over the rows of x (M, H), Bessel-corrected, then tanh, into b.h[s]; as
    layers.py, rearranged: x is overwritten by diff = x - mean, gain * var_inv is one (H,)
    scale, copied into the tile b.tile[s]. The batch mean and variance go into mean_var."""
    mean, var = mean_var
    dot, multiply = np.dot, np.multiply
    dot(b.mean_w[s], x, mean)                                           # x.mean(0)
    tile, h = b.tile[s], b.h[s]
    tile[...] = mean
    diff = np.subtract(x, tile, x)
    # a square and a gemv (not einsum "ij,ij->j": measured slower); h is scratch here
    dot(b.var_w[s], multiply(diff, diff, h), var)
    var_inv = np.add(var, eps, b.var_inv[s])
    np.reciprocal(np.sqrt(var_inv, var_inv), var_inv)                   # (var + eps) ** -0.5
    tile[...] = multiply(gain, var_inv, b.scale[s])
    h = multiply(diff, tile, h)
    b.tmp[s][...] = bias
    np.add(h, b.tmp[s], h)
    return np.tanh(h, h)


def _tanh_batchnorm_backward(b, s, dh, dgain, dbias, one):
    """Through tanh, then exercise 3's fused batchnorm backward: dx (in b.tmp[s]); dgain and
    dbias are written in place.

    dh is overwritten. With raw = diff * var_inv and scale = gain * var_inv, exercise 3's
    dx = gain * var_inv / n * (n * dpre - dbias - n / (n - 1) * raw * dgain)
       = scale * (dpre - diff * (var_inv * dgain / (n - 1)) - dbias / n)."""
    diff, h, t, var_inv = b.x[s], b.h[s], b.tmp[s], b.var_inv[s]
    dot, multiply, subtract = np.dot, np.multiply, np.subtract
    subtract(one, multiply(h, h, t), t)                                 # 1 - h^2
    dpre = multiply(dh, t, dh)
    dot(b.ones[s], dpre, dbias)
    multiply(dot(b.ones[s], multiply(diff, dpre, t), dgain), var_inv, dgain)
    coef = multiply(multiply(dgain, var_inv, b.coef[s]), b.bessel[s], b.coef[s])
    # each (H,) row copied into a tile first, as the scale is (broadcasting it measured slower)
    row = b.row[s]
    row[...] = coef
    t = multiply(diff, row, t)
    subtract(dpre, t, t)
    row[...] = multiply(dbias, b.inv_n[s], b.shift[s])
    subtract(t, row, t)
    return multiply(t, b.tile[s], t)


def fast_sgd_step(ws, Xb, Yb, lr):
    """One SGD step on ws, then the running statistics; nothing changes if not finite.

    Inputs: Xb int (N, T), Yb int (N,), lr; N at least 2. Returns (loss as a float,
    finite). Before anything changes, a character or target out of range raises
    IndexError, an array of floats TypeError, a wrong shape ValueError (unless
    ws.check_batches is False: batches from a split checked once).
    """
    p, g, E, V = ws.params, ws.grads, ws.E, ws.V
    # before the forward: a gather wraps -1 to row V-1, the flat pick reads another row.
    # A trainer that checked its split once skips these (ws.check_batches False)
    if ws.check_batches:
        check_batch(Xb, Yb, (None, ws.T), V)
    N = Xb.shape[0]
    b = ws.buffers.get(N)
    if b is None:
        b = ws.buffers[N] = Buffers(ws, N)
    dot, multiply, subtract, eps, one = np.dot, np.multiply, np.subtract, ws.eps, ws.one
    C = p["0.weight"]                                              # (V, E)
    W1 = p[ws.stages[0][0]]                                        # (2E, H)
    # first-layer tables: one product per half of W1, gathered by the pair's characters;
    # a batched matmul: (V, E) @ (2, E, H) -> (2, V, H)
    tables = np.matmul(C, W1.reshape(2, E, -1), out=b.tables)
    # (N, T/2, H) from the pair's characters, Xb's even and odd columns; flat rows after.
    # (indexing, not .take(a, 0, out): measured slower here)
    x = np.add(tables[0][Xb[:, 0::2]], tables[1][Xb[:, 1::2]], b.x_pairs).reshape(-1, ws.H)
    h = None
    for s, (w, gam, bet, _, _) in enumerate(ws.stages):
        if s > 0:
            # FlattenConsecutive(2) of flat rows is a reshape (a view); then the Linear
            x_in, x = h.reshape(-1, 2 * h.shape[1]), b.x[s]        # (M/2, 2H) @ (2H, H)
            for rows in b.chunks[s]:
                dot(x_in[rows], p[w], x[rows])
        h = _batchnorm_tanh(b, s, x, p[gam], p[bet], ws.batch_mean_var[s], eps)
    logits = dot(h, p[ws.out + "weight"], b.logits)                # (N, V)
    b.tile_vocab[...] = p[ws.out + "bias"]
    np.add(logits, b.tile_vocab, logits)

    # cross-entropy and its fused backward (exercise 2), as fast.py: the target's logit by
    # flat index; softmax without the row-max shift while the logits are inside exp's
    # range (a row out of it shows as an inf or a tiny counts_sum, and is redone shifted)
    picks = np.add(b.row_starts, Yb, b.picks)
    picked = b.logits_flat[picks]
    counts = np.exp(logits, b.tile_vocab)
    counts_sum = dot(counts, b.ones_V, b.counts_sum)
    loss = math.nan
    in_range = counts_sum[counts_sum.argmin()] > b.tiny
    if in_range:
        loss = float(dot(b.ones_N, subtract(np.log(counts_sum, b.losses), picked, b.losses))) / N
    if not (in_range and math.isfinite(loss)):
        maxes = logits.max(1)
        counts = np.exp(logits - maxes[:, None], b.tile_vocab)
        counts_sum = dot(counts, b.ones_V, b.counts_sum)
        loss = float(np.log(counts_sum).sum() - (picked - maxes).sum()) / N
    # scaled by lr / N, so that every gradient below is lr * grad:
    # dlogits = (counts - onehot(Yb) * counts_sum) / (counts_sum * N / lr)
    counts.reshape(-1)[picks] -= counts_sum
    b.n_over_lr[...] = N / lr
    multiply(counts_sum, b.n_over_lr, counts_sum)
    b.logits[...] = b.counts_sum_col
    dlogits = np.divide(counts, b.logits, counts)

    dot(h.T, dlogits, g[ws.out + "weight"])
    dot(b.ones_N, dlogits, g[ws.out + "bias"])
    last = len(ws.stages) - 1
    dh = dot(dlogits, p[ws.out + "weight"].T, b.dh[last])          # (N, H)
    for s in reversed(range(len(ws.stages))):
        w, gam, bet, _, _ = ws.stages[s]
        dx = _tanh_batchnorm_backward(b, s, dh, g[gam], g[bet], one)
        if s > 0:
            x_in = b.h[s - 1].reshape(-1, 2 * ws.H)                # (M/2, 2H), a view
            dot(x_in.T, dx, g[w])
            # back to flat rows: (M/2, 2H) is a view of the previous stage's (M, H) dh
            dh = b.dh[s - 1]
            if b.dxT[s] is None:
                dot(dx, p[w].T, dh.reshape(-1, 2 * ws.H))
            else:       # at <= 32 rows, (W @ dx.T).T measured faster than dx @ W.T
                np.copyto(dh.reshape(-1, 2 * ws.H), dot(p[w], dx.T, b.dxT[s]).T)
    # first-layer tables, backward: dx summed into rows a of dleft and c of dright at once
    # (the pairs (a, c) are Xb's consecutive columns: a scatter of ones, not two lookups)
    onehot = b.onehot                                              # (M, 2V)
    onehot.fill(0)
    b.onehot_flat[np.add(Xb.reshape(-1, 2), b.onehot_rows, b.onehot_at)] = 1
    dtables = dot(onehot.T, dx, b.tables.reshape(2 * V, -1)).reshape(2, V, -1)
    np.matmul(C.T, dtables, out=g[w].reshape(2, E, -1))            # dW1's halves
    gC = np.matmul(dtables, W1.reshape(2, E, -1).transpose(0, 2, 1), out=b.gC)
    np.add(gC[0], gC[1], g["0.weight"])

    # a nan or inf anywhere in the gradients, found by one dot (fast.py's all_finite)
    finite = math.isfinite(loss) and all_finite(ws.gflat)
    if finite:
        subtract(ws.flat[:ws.n_params], ws.gflat, ws.flat[:ws.n_params])   # gflat is lr * grad
        # every running statistic at once: (1 - m) * running + m * batch
        multiply(ws.running, ws.keep, ws.running)
        np.add(ws.running, multiply(ws.batch_stats, ws.momentum_0d, ws.stats_in), ws.running)
    return loss, finite
