"""The lecture's MLP: initialisation, fused forward/backward, calibration,
split loss and sampling.

    embedding -> concat -> linear -> batchnorm -> tanh -> linear -> cross-entropy

Parameters live in a plain dict {C, W1, b1, W2, b2, bngain, bnbias}; gradients
come back in a dict with the same keys, so an SGD step is
`params[k] -= lr * grads[k]`. Dimension letters: N batch, T block_size,
E n_embd, H n_hidden, V vocab_size.

forward_backward is built from layers.py and reads like the lecture;
fused_sgd_step is the same step with the same formulas, rearranged to run
in the preallocated buffers of a Workspace, about twice as fast. Training
uses it through sgd_step(params, Xb, Yb, lr, ws); tests hold the two equal.
"""

import math

import numpy as np

from npbackprop import layers
from npbackprop.chunked import PARAM_NAMES
from npbackprop.layers import BN_EPS


def init_params(vocab_size, n_embd=10, n_hidden=200, block_size=3, *, rng, dtype=np.float32):
    """The lecture's initialisation, drawn from a numpy Generator.

    Values are drawn in float64 and then cast, so a float32 and a float64
    model from the same seed start from the same numbers (up to rounding).
    Returns {C (V, E), W1 (T*E, H), b1 (H,), W2 (H, V), b2 (V,),
    bngain (1, H), bnbias (1, H)}.
    """
    fan_in = n_embd * block_size
    p = {
        "C": rng.standard_normal((vocab_size, n_embd)),
        # kaiming init for tanh: gain 5/3 over sqrt(fan_in)
        "W1": rng.standard_normal((fan_in, n_hidden)) * (5 / 3) / fan_in ** 0.5,
        # b1 is useless before batchnorm; the lecture keeps it to exercise its gradient
        "b1": rng.standard_normal(n_hidden) * 0.1,
        "W2": rng.standard_normal((n_hidden, vocab_size)) * 0.1,
        "b2": rng.standard_normal(vocab_size) * 0.1,
        # gain and bias not exactly 1 and 0, so a wrong gradient cannot hide
        "bngain": rng.standard_normal((1, n_hidden)) * 0.1 + 1.0,
        "bnbias": rng.standard_normal((1, n_hidden)) * 0.1,
    }
    return {k: p[k].astype(dtype) for k in PARAM_NAMES}


def forward_backward(params, Xb, Yb):
    """One training pass: batch statistics, fused backward (exercises 2 and 3).

    Inputs: params; Xb int (N, T); Yb int (N,), N >= 2.
    Returns (loss, grads): loss a 0-d array, grads {name: d loss / d param}.
    """
    p = params
    emb, emb_cache = layers.embedding_forward(p["C"], Xb)                      # (N, T, E)
    embcat, cat_cache = layers.concat_forward(emb)                             # (N, T*E)
    hprebn, lin1_cache = layers.linear_forward(embcat, p["W1"], p["b1"])       # (N, H)
    hpreact, bn_cache = layers.batchnorm_forward(hprebn, p["bngain"], p["bnbias"])
    h, tanh_cache = layers.tanh_forward(hpreact)                               # (N, H)
    logits, lin2_cache = layers.linear_forward(h, p["W2"], p["b2"])            # (N, V)
    loss, ce_cache = layers.cross_entropy_forward(logits, Yb)

    g = {}
    dlogits = layers.cross_entropy_backward(1.0, ce_cache)
    dh, g["W2"], g["b2"] = layers.linear_backward(dlogits, lin2_cache)
    dhpreact = layers.tanh_backward(dh, tanh_cache)
    dhprebn, g["bngain"], g["bnbias"] = layers.batchnorm_backward(dhpreact, bn_cache)
    dembcat, g["W1"], g["b1"] = layers.linear_backward(dhprebn, lin1_cache)
    demb = layers.concat_backward(dembcat, cat_cache)
    g["C"] = layers.embedding_backward(demb, emb_cache)
    return loss, {k: g[k] for k in PARAM_NAMES}


def _preact(params, X):
    """Pre-batchnorm activations for contexts X (M, T): (M, H)."""
    emb = params["C"][X]                                                       # (M, T, E)
    return emb.reshape(X.shape[0], -1) @ params["W1"] + params["b1"]


def calibrate(params, X):
    """Batchnorm statistics over a whole split (the lecture's calibration cell).

    Returns (bnmean, bnvar), each (1, H) in the parameters' dtype: the mean
    and the Bessel-corrected variance of the pre-activations over all
    contexts X (M, T). hprebn = embcat @ W1 + b1 is linear in embcat, so
    they come from the (T*E,) mean and (T*E, T*E) covariance of embcat, in
    float64, without the (M, H) pre-activations: 25 ms instead of 90 on the
    lecture's 182,625 training contexts, and every checkpoint calibrates.
    """
    dtype = params["C"].dtype
    embcat = params["C"][X].reshape(X.shape[0], -1).astype(np.float64)        # (M, T*E)
    embmean = embcat.mean(0)
    embcat -= embmean
    cov = embcat.T @ embcat / (X.shape[0] - 1)                                 # (T*E, T*E)
    W1 = params["W1"].astype(np.float64)
    bnmean = embmean @ W1 + params["b1"]                                       # (H,)
    # column j's variance is W1[:, j] @ cov @ W1[:, j]; rounding must not make it negative
    bnvar = np.maximum(((cov @ W1) * W1).sum(0), 0.0)                          # (H,)
    return bnmean.astype(dtype)[None, :], bnvar.astype(dtype)[None, :]


def logits_eval(params, bnmean, bnvar, X):
    """Evaluation-mode forward: batchnorm with calibrated statistics. Returns (M, V)."""
    hpreact, _ = layers.batchnorm_eval_forward(
        _preact(params, X), params["bngain"], params["bnbias"], bnmean, bnvar)
    return np.tanh(hpreact) @ params["W2"] + params["b2"]


def split_loss(params, bnmean, bnvar, X, Y, chunk=65536):
    """Mean cross-entropy over a whole split (M examples), as a Python float."""
    total = 0.0
    for i in range(0, X.shape[0], chunk):
        loss, _ = layers.cross_entropy_forward(logits_eval(params, bnmean, bnvar, X[i:i + chunk]),
                                               Y[i:i + chunk])
        total += float(loss) * len(Y[i:i + chunk])
    return total / X.shape[0]


def sample(params, bnmean, bnvar, itos, block_size, *, rng, num_samples=20, max_len=50):
    """Draw names as the lecture does: softmax, multinomial, until '.'.

    All samples advance together, one character per step; a name that has
    not ended after max_len characters is cut there, so sampling always ends.
    Returns a list of num_samples strings.
    """
    context = np.zeros((num_samples, block_size), dtype=np.int64)  # (S, T), all '.'
    out = np.zeros((num_samples, max_len), dtype=np.int64)
    alive = np.ones(num_samples, dtype=bool)
    for t in range(max_len):
        logits = logits_eval(params, bnmean, bnvar, context).astype(np.float64)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        cdf = np.cumsum(probs, axis=1)
        # inverse-cdf draw of one index per row: how many cdf entries lie below u
        u = rng.random((num_samples, 1)) * cdf[:, -1:]
        ix = np.minimum((cdf <= u).sum(1), len(itos) - 1)
        out[:, t] = np.where(alive, ix, 0)
        alive &= ix != 0
        context = np.concatenate([context[:, 1:], ix[:, None]], axis=1)
        if not alive.any():
            break
    # a row is its name's characters, then zeros from the '.' on
    return ["".join(itos[i] for i in row[row != 0]) for row in out]


def sgd_step(params, Xb, Yb, lr, ws=None):
    """One step of plain SGD, in place: params[k] -= lr * grads[k].

    Returns (loss as a float, finite). If the loss or any gradient is not
    finite, nothing is updated and finite is False. Given a Workspace ws
    holding these params (params is ws.params), the fast fused_sgd_step
    runs instead of forward_backward; the numbers agree up to rounding.
    """
    if ws is not None:
        if params is not ws.params:
            raise ValueError("with a workspace, params must be ws.params")
        return fused_sgd_step(ws, Xb, Yb, lr)
    loss, grads = forward_backward(params, Xb, Yb)
    finite = bool(np.isfinite(loss)) and all(np.isfinite(g).all() for g in grads.values())
    if finite:
        for k in PARAM_NAMES:
            params[k] -= lr * grads[k]
    return float(loss), finite


# -----------------------------------------------------------------------------
# the fast training step: the same fused formulas, in preallocated buffers
#
# Each trick below says what it saves, measured by benchmarks/bench_tricks.py
# for the lecture's sizes (N 32, T 3, E 10, H 200, V 27, float32) on a 2-core
# AMD EPYC with numpy 2.4 and OpenBLAS on one thread, where sgd_step above
# takes about 122 us a step and fused_sgd_step about 54 (benchmarks/RESULTS.md).
# Of those 54, the seven matmuls take about 29, near the peak rate of OpenBLAS's
# AVX2 kernels; the rest is about 45 numpy calls of 0.2-1.2 us each, so the
# tricks remove calls, passes over (N, H) arrays and numpy's fixed costs per call.

def _aligned(size, align=16):
    """size rounded up to a multiple of align elements (64 bytes in float32)."""
    return -(-size // align) * align


def _empty(shape, dtype, fill=None, align=64):
    """np.empty(shape, dtype) (or np.full with fill) starting on a 64-byte boundary.

    numpy's own arrays start on a 16-byte one, wherever malloc puts them. With
    every buffer of the step on a cache line (so, probably, no 32-byte AVX2 load
    straddles two lines) a step takes 53 us, where buffers 16 bytes past a line
    take 55, 4 bytes past 57, and numpy's own 54-55.5.
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
    """Preallocated buffers for fused_sgd_step at one batch size N.

    The parameters live in one flat buffer (`flat`) and the gradients in
    another of the same layout (`gflat`); `params` and `grads` are dicts of
    views into them, in PARAM_NAMES order, so the SGD update and the finite
    check are one call each. Every scratch buffer is written before it is
    read, so a step depends only on (params, Xb, Yb, lr): nothing carries over.
    """

    def __init__(self, params, batch_size):
        dtype = params["C"].dtype
        if any(params[k].dtype != dtype for k in PARAM_NAMES):
            raise ValueError("all parameters must share one dtype")
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (batchnorm's variance divides "
                             f"by N - 1), got {batch_size}")
        # each view starts on a 64-byte boundary
        offsets = np.cumsum([0] + [_aligned(params[k].size) for k in PARAM_NAMES])
        self.flat = _empty(offsets[-1], dtype, fill=0)
        self.gflat = _empty(offsets[-1], dtype, fill=0)

        def views(buf):
            return {k: buf[o:o + params[k].size].reshape(params[k].shape)
                    for k, o in zip(PARAM_NAMES, offsets)}
        self.params, self.grads = views(self.flat), views(self.gflat)
        for k in PARAM_NAMES:
            self.params[k][...] = params[k]
        p, g = self.params, self.grads
        # the views the step uses: bngain and bnbias as (H,), so that ops with the
        # (H,) batchnorm statistics do not broadcast (1, H) against (H,): 0.2 us a
        # call, where (1, H) *= (H,) takes 0.6
        rows = ("bngain", "bnbias")
        self.step_params = tuple(p[k][0] if k in rows else p[k] for k in PARAM_NAMES)
        self.step_grads = tuple(g[k][0] if k in rows else g[k] for k in PARAM_NAMES)
        self.W1T, self.W2T = p["W1"].T, p["W2"].T
        (V, E), (TE, H) = params["C"].shape, params["W1"].shape
        N, T = batch_size, TE // E
        self.batch_size = N
        self.emb = _empty((N, T, E), dtype)
        self.embcat = self.emb.reshape(N, TE)                       # a view of emb
        self.embcen, self.dembcat = _empty((N, TE), dtype), _empty((N, TE), dtype)
        self.embcenT = self.embcen.T
        self.dembrows = self.dembcat.reshape(N * T, E)             # one row per character
        self.embmean = _empty(TE, dtype)
        self.bndiff, self.h, self.dh, self.scratch = (_empty((N, H), dtype) for _ in range(4))
        self.logits, self.counts = _empty((N, V), dtype), _empty((N, V), dtype)
        self.logits_flat, self.counts_flat = self.logits.reshape(-1), self.counts.reshape(-1)
        # a row repeated down the batch, for ops that would otherwise broadcast it
        self.tileTE, self.tileH, self.tileV = (_empty((N, d), dtype) for d in (TE, H, V))
        # counts_sum below this means a row of logits far under exp's range: every
        # count that matters is then a normal float, and a subnormal one is off by eps^2
        self.tiny = np.finfo(dtype).tiny / np.finfo(dtype).eps
        # the one-hot of the batch's characters takes its rows from an identity matrix
        self.eye = _empty((V, V), dtype, fill=np.eye(V))
        self.onehot = _empty((N, T, V), dtype)
        self.onehotT = self.onehot.reshape(N * T, V).T             # (V, N*T), a view
        # flat index of each row of an (N, V) array
        self.row_starts = _empty(N, np.intp, fill=np.arange(N) * V)
        self.picks = _empty(N, np.intp)
        self.ones_N, self.ones_V = _empty(N, dtype, fill=1), _empty(V, dtype, fill=1)
        self.ones_flat = _empty(self.gflat.size, dtype, fill=1)
        # batch means and the Bessel-corrected variance as inv_n @ x and inv_n1 @ x
        self.inv_n, self.inv_n1 = _empty(N, dtype, fill=1 / N), _empty(N, dtype, fill=1 / (N - 1))
        # scalar operands as 0-d arrays of the dtype; n_over_lr is set by each step
        self.eps, self.one = np.array(BN_EPS, dtype), np.array(1.0, dtype)
        self.inv_n1_0, self.n_over_lr = np.array(1 / (N - 1), dtype), np.array(1.0, dtype)
        self.bnvar_inv, self.bnscale, self.colH = (_empty(H, dtype) for _ in range(3))
        self.rowN, self.rowN2 = _empty(N, dtype), _empty(N, dtype)       # (N,) per example
        self.rowN_col = self.rowN[:, None]


def fused_sgd_step(ws, Xb, Yb, lr):
    """sgd_step on ws.params, in ws's buffers: the same numbers up to rounding.

    Inputs: ws a Workspace; Xb int (N, T), Yb int (N,) with N = ws.batch_size
    (an Xb index out of range raises; Yb is not checked, it must hold valid
    characters 0 <= Yb < V, as data.build_dataset makes them); lr a float. Updates ws.params in place unless the loss or a gradient is
    not finite, and returns (loss as a float, finite). ws.grads then holds lr
    times the gradients; db1 is exactly 0 (sgd_step's is rounding noise).
    """
    C, W1, b1, W2, b2, bngain, bnbias = ws.step_params
    dC, dW1, db1, dW2, db2, dbngain, dbnbias = ws.step_grads
    n = Xb.shape[0]
    if n != ws.batch_size:
        raise ValueError(f"a batch of {n} rows, but the workspace was made for {ws.batch_size}")
    # numpy's functions as locals, and each call's output buffer as its last positional
    # argument rather than out=: 0.05-0.1 us a call, 2.2-2.8 us a step
    dot, multiply, add, subtract, divide = np.dot, np.multiply, np.add, np.subtract, np.divide
    exp, log, tanh, sqrt, reciprocal = np.exp, np.log, np.tanh, np.sqrt, np.reciprocal
    ones = ws.ones_N
    # A row (one value per column) is never broadcast down the batch by a ufunc: numpy's
    # broadcasting iterator makes x * row cost 1.4 us on (N, H) and 0.9 on (N, T*E) or
    # (N, V), where assigning the row to a tile (a plain copy) and a same-shape op cost
    # 1.15 and 0.7. Eight ops do this, two sharing one tile: 1.7-2.5 us a step.
    # No operand is a Python float, which costs 0.25 us more per call, converted each
    # time: constants are 0-d arrays of the dtype (ws.eps, ws.one, ws.inv_n1_0), n / lr
    # is written into one each step, (bnvar + eps) ** -0.5 is taken as 1 / sqrt, and
    # the targets' -1 in dlogits is applied to counts as -counts_sum: 0.7-1.4 us a step.
    # forward ---------------------------------------------------------------------
    # the take method, not np.take, whose Python wrapper costs 0.6 us more; an index
    # out of range raises here, before any update
    C.take(Xb, 0, ws.emb)                                                        # (N, T, E)
    embcat = ws.embcat                                                           # (N, T*E)
    # bndiff = hprebn - bnmeani = (embcat - its batch mean) @ W1: centring the (N, T*E)
    # input instead of the (N, H) output saves a pass (1.2 us), and b1, which the
    # mean cancels exactly, never enters (it would change only rounding)
    # every batch sum is a matrix-vector product, here inv_n @ x with inv_n = ones/n:
    # 0.5 us, where x.mean(0) takes 3.4
    ws.tileTE[...] = dot(ws.inv_n, embcat, ws.embmean)
    embcen = subtract(embcat, ws.tileTE, ws.embcen)                              # (N, T*E)
    bndiff = dot(embcen, W1, ws.bndiff)                                          # (N, H)
    bnvar_inv = dot(ws.inv_n1, multiply(bndiff, bndiff, ws.scratch), ws.bnvar_inv)  # bnvar
    add(bnvar_inv, ws.eps, bnvar_inv)
    reciprocal(sqrt(bnvar_inv, bnvar_inv), bnvar_inv)                            # (H,)
    # bnraw is never stored: hpreact = bndiff * (bngain * bnvar_inv) + bnbias
    # saves one (N, H) pass, 1.4 us; the backward uses bndiff and bnvar_inv instead
    bnscale = ws.tileH
    bnscale[...] = multiply(bngain, bnvar_inv, ws.bnscale)                      # (N, H) tile
    h = multiply(bndiff, bnscale, ws.h)
    ws.scratch[...] = bnbias
    add(h, ws.scratch, h)
    tanh(h, h)                                                                   # (N, H)
    logits = dot(h, W2, ws.logits)                                               # (N, V)
    ws.tileV[...] = b2
    add(logits, ws.tileV, logits)
    # the target's entry of each row by flat index: 0.4 us, where [rows, Yb] takes 0.7
    picks = add(ws.row_starts, Yb, ws.picks)                                     # (N,)
    picked = ws.logits_flat[picks]                                               # (N,)
    # softmax without the row-max shift: while the logits stay well inside exp's range,
    # as they do in any run that trains, exp(logits) is as exact as exp(norm_logits).
    # The shift's two passes cost 3.2 us, the check that replaces it 0.2 (argmin, where
    # np.minimum.reduce takes 0.7): a row out of range shows as an inf or a near-zero
    # counts_sum, and then the softmax is redone shifted by each row's max
    counts = exp(logits, ws.counts)                                              # (N, V)
    counts_sum = dot(counts, ws.ones_V, ws.rowN)                                 # (N,)
    # loss = mean(log counts_sum - picked): N logs, no (N, V) logprobs
    in_range = counts_sum[counts_sum.argmin()] > ws.tiny
    if in_range:
        losses = subtract(log(counts_sum, ws.rowN2), picked, ws.rowN2)
        loss = float(dot(ones, losses)) / n
    if not (in_range and math.isfinite(loss)):
        logit_maxes = np.maximum.reduce(logits, axis=1)                          # (N,)
        counts = exp(logits - logit_maxes[:, None], ws.counts)
        counts_sum = dot(counts, ws.ones_V, ws.rowN)
        loss = float(dot(ones, log(counts_sum)) - dot(ones, picked - logit_maxes)) / n
    # backward --------------------------------------------------------------------
    # every gradient is linear in the loss's upstream gradient; seeding it with lr
    # instead of 1 makes the backward produce lr * grad, so the update is one
    # subtraction (saves a pass over all parameters, 0.9 us)
    # dlogits = lr * (probs - onehot(Yb)) / n = (counts - onehot(Yb) * counts_sum) /
    # (counts_sum * n / lr), in the counts buffer
    ws.counts_flat[picks] -= counts_sum
    ws.n_over_lr[...] = n / lr
    multiply(counts_sum, ws.n_over_lr, counts_sum)
    ws.tileV[...] = ws.rowN_col
    dlogits = divide(counts, ws.tileV, counts)                                   # (N, V)
    dh = dot(dlogits, ws.W2T, ws.dh)                                             # (N, H)
    dot(h.T, dlogits, dW2)                                                       # (H, V)
    dot(ones, dlogits, db2)
    # dhpreact = (1 - h^2) * dh, in the dh buffer
    one_minus_h2 = multiply(h, h, ws.scratch)
    subtract(ws.one, one_minus_h2, one_minus_h2)
    dhpreact = multiply(dh, one_minus_h2, dh)                                    # (N, H)
    dot(ones, dhpreact, dbnbias)                                                 # (H,)
    # dbngain = sum(bnraw * dhpreact) with bnraw = bndiff * bnvar_inv
    dot(ones, multiply(bndiff, dhpreact, ws.scratch), dbngain)
    multiply(dbngain, bnvar_inv, dbngain)                                        # (H,)
    # batchnorm backward (exercise 3), its two batch sums taken from dbnbias and dbngain:
    # dhprebn = bnscale * (dhpreact - bnraw * dbngain/(n-1)) - bnscale * dbnbias/n.
    # The last term is the same in every row, so it is left out here: it cancels in dW1
    # against the centred embcen, it is removed from dembcat by subtracting the batch
    # mean of that smaller (N, T*E) array (saves 1.5 us), and db1, the batch sum of
    # dhprebn, is exactly 0
    coef = multiply(dbngain, bnvar_inv, ws.colH)
    multiply(coef, ws.inv_n1_0, coef)                                            # (H,)
    ws.scratch[...] = coef
    dhprebn = multiply(bndiff, ws.scratch, ws.scratch)                           # (N, H)
    subtract(dhpreact, dhprebn, dhprebn)
    multiply(dhprebn, bnscale, dhprebn)                                          # + a row constant
    dot(ws.embcenT, dhprebn, dW1)                                                # (T*E, H)
    db1[...] = 0
    dembcat = dot(dhprebn, ws.W1T, ws.dembcat)                                   # (N, T*E)
    ws.tileTE[...] = dot(ws.inv_n, dembcat, ws.embmean)
    subtract(dembcat, ws.tileTE, dembcat)
    # the scatter-add into C's rows as a one-hot matmul, repeated characters adding up
    # (1.7 us, where np.add.at takes 7.9); the one-hot's rows are taken from an identity
    # matrix, 0.3 us, where zeroing it and setting its ones by fancy index take 1.3
    ws.eye.take(Xb, 0, ws.onehot, "wrap")                                       # (N, T, V)
    dot(ws.onehotT, ws.dembrows, dC)                                             # (V, E)
    # update ----------------------------------------------------------------------
    # one check and one subtraction over all parameters, not seven of each: 1.7 us,
    # where the per-tensor ones take 15.2. The check is a sum (0.9 us, where
    # np.isfinite(gflat).all() takes 1.8): inf or nan in any gradient makes it inf or
    # nan; finite gradients could only overflow it past 3e38 in float32, far past any
    # step that trains
    finite = math.isfinite(loss) and math.isfinite(dot(ws.ones_flat, ws.gflat))
    if finite:
        # the padding between views is zero in both buffers and stays zero
        subtract(ws.flat, ws.gflat, ws.flat)
    return loss, finite
