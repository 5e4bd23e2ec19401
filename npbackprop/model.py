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
# Each trick below says what it saves, measured for the lecture's sizes (N 32,
# T 3, E 10, H 200, V 27, float32) on a 2-core AMD EPYC with numpy 2.4 and
# OpenBLAS on one thread, where sgd_step above takes about 125 us a step and
# fused_sgd_step about 65 (benchmarks/RESULTS.md). Of those 65, the six
# matmuls take about 30 and numpy's fixed cost per call (about 50 calls) most
# of the rest, so the tricks mostly remove calls and passes over (N, H) arrays.

def _aligned(size, align=16):
    """size rounded up to a multiple of align elements (64 bytes in float32)."""
    return -(-size // align) * align


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
        # each view starts on a 64-byte boundary, as a fresh array would
        offsets = np.cumsum([0] + [_aligned(params[k].size) for k in PARAM_NAMES])
        self.flat = np.zeros(offsets[-1], dtype)
        self.gflat = np.zeros(offsets[-1], dtype)

        def views(buf):
            return {k: buf[o:o + params[k].size].reshape(params[k].shape)
                    for k, o in zip(PARAM_NAMES, offsets)}
        self.params, self.grads = views(self.flat), views(self.gflat)
        self.param_views = tuple(self.params[k] for k in PARAM_NAMES)
        self.grad_views = tuple(self.grads[k] for k in PARAM_NAMES)
        for k in PARAM_NAMES:
            self.params[k][...] = params[k]
        (V, E), (TE, H) = params["C"].shape, params["W1"].shape
        N, T = batch_size, TE // E
        self.batch_size = N
        self.emb = np.empty((N, T, E), dtype)
        self.bndiff, self.h, self.dh, self.scratch = (np.empty((N, H), dtype) for _ in range(4))
        self.logits, self.counts = np.empty((N, V), dtype), np.empty((N, V), dtype)
        # counts_sum below this means a row of logits far under exp's range: every
        # count that matters is then a normal float, and a subnormal one is off by eps^2
        self.tiny = np.finfo(dtype).tiny / np.finfo(dtype).eps
        self.embcen, self.dembcat = np.empty((N, TE), dtype), np.empty((N, TE), dtype)
        self.embmean = np.empty(TE, dtype)
        self.onehot = np.empty((V, N * T), dtype)
        self.positions = np.arange(N * T)
        self.row_starts = np.arange(N) * V      # flat index of each row of an (N, V) array
        self.picks = np.empty(N, np.intp)
        self.ones_N, self.ones_V = np.ones(N, dtype), np.ones(V, dtype)
        self.ones_flat = np.ones(self.gflat.size, dtype)
        # batch means and the Bessel-corrected variance as inv_n @ x and inv_n1 @ x
        self.inv_n, self.inv_n1 = np.full(N, 1 / N, dtype), np.full(N, 1 / (N - 1), dtype)
        self.colH, self.bnvar_inv, self.bnscale = (np.empty(H, dtype) for _ in range(3))
        self.rowN, self.rowN2 = np.empty(N, dtype), np.empty(N, dtype)   # (N,) per example


def fused_sgd_step(ws, Xb, Yb, lr):
    """sgd_step on ws.params, in ws's buffers: the same numbers up to rounding.

    Inputs: ws a Workspace; Xb int (N, T), Yb int (N,) with N = ws.batch_size;
    lr a float. Updates ws.params in place unless the loss or a gradient is
    not finite, and returns (loss as a float, finite). ws.grads then holds lr
    times the gradients; db1 is exactly 0 (sgd_step's is rounding noise).
    """
    C, W1, b1, W2, b2, bngain, bnbias = ws.param_views
    dC, dW1, db1, dW2, db2, dbngain, dbnbias = ws.grad_views
    n = Xb.shape[0]
    if n != ws.batch_size:
        raise ValueError(f"a batch of {n} rows, but the workspace was made for {ws.batch_size}")
    ones = ws.ones_N
    # forward ---------------------------------------------------------------------
    # mode="wrap" skips take's bounds-checked buffered copy (0.9 us, not 1.3); an index
    # out of range still raises, in the one-hot scatter below, before any update
    emb = np.take(C, Xb, axis=0, out=ws.emb, mode="wrap")                        # (N, T, E)
    embcat = emb.reshape(n, -1)                                                  # (N, T*E), a view
    # bndiff = hprebn - bnmeani = (embcat - its batch mean) @ W1: centring the (N, T*E)
    # input instead of the (N, H) output saves a pass (1.2 us), and b1, which the
    # mean cancels exactly, never enters (it would change only rounding)
    # every batch sum is a matrix-vector product, here inv_n @ x with inv_n = ones/n:
    # 0.6 us, where x.mean(0) takes 3.7
    embmean = np.dot(ws.inv_n, embcat, out=ws.embmean)                          # (T*E,)
    embcen = np.subtract(embcat, embmean, out=ws.embcen)                         # (N, T*E)
    bndiff = np.dot(embcen, W1, out=ws.bndiff)                                   # (N, H)
    bndiff2 = np.multiply(bndiff, bndiff, out=ws.scratch)
    bnvar_inv = np.dot(ws.inv_n1, bndiff2, out=ws.bnvar_inv)                    # (H,) bnvar
    bnvar_inv += BN_EPS
    bnvar_inv **= -0.5
    # bnraw is never stored: hpreact = bndiff * (bngain * bnvar_inv) + bnbias
    # saves one (N, H) pass, 1.4 us; the backward uses bndiff and bnvar_inv instead
    bnscale = np.multiply(bngain[0], bnvar_inv, out=ws.bnscale)                  # (H,)
    h = np.multiply(bndiff, bnscale, out=ws.h)
    h += bnbias
    np.tanh(h, out=h)                                                            # (N, H)
    logits = np.dot(h, W2, out=ws.logits)                                        # (N, V)
    logits += b2
    # the target's entry of each row by flat index: 0.5 us, where [rows, Yb] takes 0.7
    picks = np.add(ws.row_starts, Yb, out=ws.picks)                              # (N,)
    picked = logits.ravel()[picks]                                               # (N,)
    # softmax without the row-max shift: while the logits stay well inside exp's range,
    # as they do in any run that trains, exp(logits) is as exact as exp(norm_logits).
    # The shift's two passes cost 3.2 us, the check that replaces it 0.7: a row out of
    # range shows as an inf or a near-zero counts_sum, and then the softmax is redone
    # shifted by each row's max
    counts = np.exp(logits, out=ws.counts)                                       # (N, V)
    counts_sum = np.dot(counts, ws.ones_V, out=ws.rowN)                          # (N,)
    # loss = mean(log counts_sum - picked): N logs, no (N, V) logprobs
    in_range = np.minimum.reduce(counts_sum) > ws.tiny
    if in_range:
        losses = np.subtract(np.log(counts_sum, out=ws.rowN2), picked, out=ws.rowN2)
        loss = float(np.dot(ones, losses)) / n
    if not (in_range and math.isfinite(loss)):
        logit_maxes = np.maximum.reduce(logits, axis=1)                          # (N,)
        counts = np.exp(logits - logit_maxes[:, None], out=ws.counts)
        counts_sum = np.dot(counts, ws.ones_V, out=ws.rowN)
        loss = float(np.dot(ones, np.log(counts_sum)) - np.dot(ones, picked - logit_maxes)) / n
    # backward --------------------------------------------------------------------
    # every gradient is linear in the loss's upstream gradient; seeding it with lr
    # instead of 1 makes the backward produce lr * grad, so the update is one
    # subtraction (saves a pass over all parameters, 0.9 us)
    # dlogits = lr * (probs - onehot(Yb)) / n, in the counts buffer
    counts_sum *= n / lr
    dlogits = np.divide(counts, counts_sum[:, None], out=counts)                 # (N, V)
    dlogits.ravel()[picks] -= lr / n
    dh = np.dot(dlogits, W2.T, out=ws.dh)                                        # (N, H)
    np.dot(h.T, dlogits, out=dW2)                                                # (H, V)
    np.dot(ones, dlogits, out=db2)
    # dhpreact = (1 - h^2) * dh, in the dh buffer
    one_minus_h2 = np.multiply(h, h, out=ws.scratch)
    np.subtract(1.0, one_minus_h2, out=one_minus_h2)
    dhpreact = np.multiply(dh, one_minus_h2, out=dh)                             # (N, H)
    np.dot(ones, dhpreact, out=dbnbias[0])                                       # (1, H)
    # dbngain = sum(bnraw * dhpreact) with bnraw = bndiff * bnvar_inv
    np.dot(ones, np.multiply(bndiff, dhpreact, out=ws.scratch), out=dbngain[0])
    dbngain *= bnvar_inv                                                         # (1, H)
    # batchnorm backward (exercise 3), its two batch sums taken from dbnbias and dbngain:
    # dhprebn = bnscale * (dhpreact - bnraw * dbngain/(n-1)) - bnscale * dbnbias/n.
    # The last term is the same in every row, so it is left out here: it cancels in dW1
    # against the centred embcen, it is removed from dembcat by subtracting the batch
    # mean of that smaller (N, T*E) array (saves 1.5 us), and db1, the batch sum of
    # dhprebn, is exactly 0
    coef = np.multiply(dbngain[0], bnvar_inv, out=ws.colH)                       # (H,)
    coef /= n - 1
    dhprebn = np.multiply(bndiff, coef, out=ws.scratch)                          # (N, H)
    np.subtract(dhpreact, dhprebn, out=dhprebn)
    dhprebn *= bnscale                                                           # + a row constant
    np.dot(embcen.T, dhprebn, out=dW1)                                           # (T*E, H)
    db1[...] = 0
    dembcat = np.dot(dhprebn, W1.T, out=ws.dembcat)                              # (N, T*E)
    dembcat -= np.dot(ws.inv_n, dembcat, out=ws.embmean)
    # the scatter-add into C's rows as a one-hot matmul, repeated characters adding up:
    # 2.8 us, where np.add.at takes 8
    ws.onehot.fill(0)
    ws.onehot[Xb.reshape(-1), ws.positions] = 1                                  # (V, N*T)
    np.dot(ws.onehot, dembcat.reshape(-1, emb.shape[2]), out=dC)                 # (V, E)
    # update ----------------------------------------------------------------------
    # one check and one subtraction over all parameters, not seven of each: 1.8 us,
    # where the per-tensor ones take 15.6. The check is a sum (0.5 us, where
    # np.isfinite(gflat).all() takes 1.8): inf or nan in any gradient makes it inf or
    # nan; finite gradients could only overflow it past 3e38 in float32, far past any
    # step that trains
    finite = math.isfinite(loss) and math.isfinite(np.dot(ws.ones_flat, ws.gflat))
    if finite:
        # the padding between views is zero in both buffers and stays zero
        ws.flat -= ws.gflat
    return loss, finite
