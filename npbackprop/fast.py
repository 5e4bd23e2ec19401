"""The fast path: the lecture's training step and calibration, rearranged for speed.

    ws = Workspace(params, batch_size)           # buffers; ws.params are the parameters now
    loss, finite = fast_sgd_step(ws, Xb, Yb, lr)  # model.sgd_step on ws.params, same numbers
    bnmean, bnvar = calibrate(params, Xtr)        # model.calibrate without the (M, H) array

The formulas are model.py's (the fused exercise-2 and exercise-3 backwards),
regrouped so that a step runs in preallocated buffers with few numpy calls.
Each trick below gives the algebra and the reason; what it buys, measured,
is in benchmarks/RESULTS.md under the trick's name, produced by
benchmarks/bench_tricks.py --ablation. Tests hold this module equal to
model.py. Dimension letters: N batch, T block_size, E n_embd, H n_hidden,
V vocab_size; Hp is the step's hidden width, H + 1 rounded up to 64 bytes.
"""

import math

import numpy as np

from npbackprop.fast_workspace import Workspace, _empty  # noqa: F401 (fast.Workspace, fast._empty)
from npbackprop.layers import check_indices

_INT64, _UINT64 = np.dtype(np.int64), np.dtype(np.uint64)


def check_targets(Yb, vocab_size, what="target"):
    """IndexError for an entry of Yb (any shape) out of range, which a pick by flat index
    would read from another row and a gather would wrap (-1 is row V-1); as unsigned a
    negative one is huge too, so one argmax finds any (trick "target check"). TypeError
    for an array that is not of integers (a float one would be truncated silently)."""
    targets = Yb
    if Yb.dtype is not _INT64:        # an identity test: int64, the usual case, costs ~20 ns
        if Yb.dtype.kind not in "iu":
            raise TypeError(f"{what}s must be integers, got {Yb.dtype}")
        targets = Yb.astype(_INT64)
    targets = targets.view(_UINT64)
    if targets.flat[targets.argmax()] >= vocab_size:
        check_indices(Yb, vocab_size, what)              # names the first bad one, raises


def check_shapes(Xb, Yb, N, T):
    """ValueError naming the expected shape when Xb is not (N, T) or Yb not (N,), where
    N None takes any number of rows (numpy's own broadcast error would be cryptic)."""
    if Xb.ndim != 2 or Xb.shape[1] != T:
        raise ValueError(f"Xb must have shape (N, {T}), one context of block_size {T} a row, "
                         f"got {Xb.shape}")
    n = Xb.shape[0]
    if N is not None and n != N:
        raise ValueError(f"a batch of {n} rows, but the workspace was made for {N}")
    if Yb.shape != (n,):
        raise ValueError(f"Yb must have shape ({n},), one target per row of Xb, got {Yb.shape}")


def check_batch(Xb, Yb, shape, vocab_size):
    """Both fast steps' input checks, before anything changes: Xb of shape (N, T) and Yb
    (N,) (N None: any number of rows, check_shapes), then check_targets on each."""
    if Xb.shape != shape or Yb.shape != shape[:1]:     # two tuple compares when they fit
        check_shapes(Xb, Yb, *shape)
    check_targets(Xb, vocab_size, "character")
    check_targets(Yb, vocab_size)


def all_finite(g):
    """True when every entry of the 1-D array g is finite, from one BLAS dot:
    g @ g, a sum of squares, is nan or inf when an entry is, and finite otherwise
    unless the squares of finite entries overflow it (|g| above ~1e19 in float32);
    then np.isfinite decides, so the answer is exact either way (trick "finite check")."""
    return math.isfinite(np.dot(g, g)) or bool(np.isfinite(g).all())


def fast_sgd_step(ws, Xb, Yb, lr):
    """model.sgd_step on ws.params, in ws's buffers: the same numbers up to rounding.

    Inputs: ws a Workspace; Xb int (N, T), Yb int (N,) with N = ws.batch_size;
    lr a float. Before anything changes, a character out of range in Xb or Yb
    raises IndexError, an array of floats TypeError, a wrong shape ValueError
    (unless ws.check_batches is False: batches from a split checked once).
    Updates ws.params in place unless the loss or a gradient is not finite, and
    returns (loss as a float, finite). ws.grads then holds lr times the gradients;
    db1 is exactly 0 (sgd_step's is rounding noise).
    With ws.keep_stats, ws.bnmean and ws.bnvar then hold the batch mean and
    Bessel-corrected variance of hprebn (H,), from the parameters before the update.
    """
    # the step's buffers: the hidden ones Hp wide, W2 as [W2.T, b2] (V, Hp) (trick "b2 row")
    C, W1, b1, W2, b2, bngain, bnbias = ws.step_params
    dC, dW1, db1, dW2, db2, dbngain, dbnbias = ws.step_grads
    # the input checks: the shapes by attribute compares, then one dtype-kind compare
    # and one argmax for each array (trick "input checks"); a character or target out of
    # range raises here, before anything changes. The trainer checks its split once
    # instead, and its workspace skips them (trick "split checked once")
    if ws.check_batches:
        check_batch(Xb, Yb, ws.batch_shape, ws.vocab_size)
    n = ws.batch_size
    # numpy's functions as locals, and each call's output buffer as its last
    # positional argument rather than out= (trick "local calls")
    dot, multiply, add, subtract, divide = np.dot, np.multiply, np.add, np.subtract, np.divide
    exp, log, tanh, sqrt, reciprocal = np.exp, np.log, np.tanh, np.sqrt, np.reciprocal
    ones = ws.ones_batch
    # A row (one value per column) is never broadcast down the batch by a ufunc: it is
    # assigned to a tile (a plain copy) and the op runs on two same-shape arrays
    # (trick "tiles"). No operand is a Python float, converted on every call: constants
    # are 0-d arrays of the dtype, n / lr is written into one each step, (bnvar + eps)
    # ** -0.5 is taken as 1 / sqrt, and the targets' -1 in dlogits is applied to counts
    # as -counts_sum (trick "no Python floats").
    # forward ---------------------------------------------------------------------
    # the take method, not np.take, whose Python wrapper costs more (trick "take method")
    C.take(Xb, 0, ws.emb)                                                        # (N, T, E)
    embcat = ws.embcat                                                           # (N, T*E)
    # bndiff = hprebn - bnmeani = (embcat - its batch mean) @ W1: centring the (N, T*E)
    # input instead of the (N, H) output saves a pass, and b1, which the mean
    # cancels exactly, never enters (it would change only rounding)
    # every batch sum is a matrix-vector product, here mean_weights @ x (trick "gemv sums")
    # (one (N, N) product with I - 1/N instead measured no faster in the step)
    ws.tile_embcat[...] = dot(ws.mean_weights, embcat, ws.embmean)
    embcen = subtract(embcat, ws.tile_embcat, ws.embcen)                         # (N, T*E)
    bndiff = dot(embcen, W1, ws.bndiff)                                          # (N, Hp)
    bnvar_inv = dot(ws.var_weights, multiply(bndiff, bndiff, ws.scratch), ws.bnvar_inv)  # bnvar
    if ws.keep_stats:
        # for part 3's running statistics: the batch mean of hprebn = embcat @ W1 + b1, and bnvar
        add(dot(ws.embmean, W1, ws.bnmean_p), b1, ws.bnmean_p)                   # (Hp,)
        ws.bnvar_p[...] = bnvar_inv
    # (bnvar + eps from one gemv, with a row of ones under the squares and eps after the
    # weights, measured no faster in the step)
    add(bnvar_inv, ws.eps, bnvar_inv)
    reciprocal(sqrt(bnvar_inv, bnvar_inv), bnvar_inv)                            # (Hp,)
    # bnraw is never stored: hpreact = bndiff * (bngain * bnvar_inv) + bnbias saves
    # one (N, H) pass; the backward uses bndiff and bnvar_inv instead
    bnscale = ws.tile_hidden
    bnscale[...] = multiply(bngain, bnvar_inv, ws.bnscale)                       # (N, Hp) tile
    h = multiply(bndiff, bnscale, ws.h)
    ws.scratch[...] = bnbias
    add(h, ws.scratch, h)
    tanh(h, h)                                                                   # (N, Hp)
    ws.h_ones[...] = ws.one                           # [h, 1]: the logits product adds b2
    logits = dot(h, ws.W2b2, ws.logits)                                          # (N, V)
    # the target's entry of each row by flat index (trick "flat picks")
    picks = add(Yb, ws.row_starts, ws.picks)                                     # (N,)
    picked = ws.logits_flat[picks]                                               # (N,)
    # softmax without the row-max shift: while the logits stay well inside exp's range,
    # as they do in any run that trains, exp(logits) is as exact as exp(norm_logits).
    # A row out of range shows as an inf or a near-zero counts_sum, and then the
    # softmax is redone shifted by each row's max (trick "range check")
    counts = exp(logits, ws.counts)                                              # (N, V)
    counts_sum = dot(counts, ws.ones_vocab, ws.counts_sum)                       # (N,)
    # loss = mean(log counts_sum - picked): N logs, no (N, V) logprobs
    in_range = counts_sum[counts_sum.argmin()] > ws.tiny
    if in_range:
        losses = subtract(log(counts_sum, ws.losses), picked, ws.losses)
        loss = float(dot(ones, losses)) / n
    if not (in_range and math.isfinite(loss)):
        logit_maxes = np.maximum.reduce(logits, axis=1)                          # (N,)
        counts = exp(logits - logit_maxes[:, None], ws.counts)
        counts_sum = dot(counts, ws.ones_vocab, ws.counts_sum)
        loss = float(dot(ones, log(counts_sum)) - dot(ones, picked - logit_maxes)) / n
    # backward --------------------------------------------------------------------
    # every gradient is linear in the loss's upstream gradient; seeding it with lr
    # instead of 1 makes the backward produce lr * grad, so the update is one
    # subtraction (trick "lr-scaled backward")
    # dlogits = lr * (probs - onehot(Yb)) / n = (counts - onehot(Yb) * counts_sum) /
    # (counts_sum * n / lr), in the counts buffer
    ws.counts_flat[picks] -= counts_sum
    ws.n_over_lr[...] = n / lr
    multiply(counts_sum, ws.n_over_lr, counts_sum)
    ws.tile_vocab[...] = ws.counts_sum_col
    dlogits = divide(counts, ws.tile_vocab, counts)                              # (N, V)
    dh = dot(dlogits, ws.W2rows, ws.dh)                                          # (N, Hp)
    # dlogits.T @ [h, 1] = [dW2; db2] transposed, (V, Hp) (trick "b2 row")
    dot(*ws.dW2_product)
    # dhpreact = (1 - h^2) * dh, in the dh buffer
    one_minus_h2 = multiply(h, h, ws.scratch)
    subtract(ws.one, one_minus_h2, one_minus_h2)
    dhpreact = multiply(dh, one_minus_h2, dh)                                    # (N, Hp)
    dot(ones, dhpreact, dbnbias)                                                 # (Hp,)
    # dbngain = sum(bnraw * dhpreact) with bnraw = bndiff * bnvar_inv
    dot(ones, multiply(bndiff, dhpreact, ws.scratch), dbngain)
    multiply(dbngain, bnvar_inv, dbngain)                                        # (Hp,)
    # batchnorm backward (exercise 3), its two batch sums taken from dbnbias and dbngain:
    # dhprebn = bnscale * (dhpreact - bnraw * dbngain/(n-1)) - bnscale * dbnbias/n.
    # The last term is the same in every row, so it is left out here: it cancels in dW1
    # against the centred embcen, it is removed from dembcat by subtracting the batch
    # mean of that smaller (N, T*E) array, and db1, the batch sum of dhprebn, is exactly 0
    coef = multiply(dbngain, bnvar_inv, ws.coef)
    multiply(coef, ws.bessel, coef)                                              # (Hp,)
    ws.scratch[...] = coef
    dhprebn = multiply(bndiff, ws.scratch, ws.scratch)                           # (N, Hp)
    subtract(dhpreact, dhprebn, dhprebn)
    multiply(dhprebn, bnscale, dhprebn)                                          # + a row constant
    dot(ws.embcenT, dhprebn, dW1)                                                # (T*E, H)
    db1[...] = 0
    dembcat = dot(dhprebn, ws.W1T, ws.dembcat)                                   # (N, T*E)
    ws.tile_embcat[...] = dot(ws.mean_weights, dembcat, ws.embmean)
    subtract(dembcat, ws.tile_embcat, dembcat)
    # the scatter-add into C's rows as a one-hot matmul, repeated characters adding up,
    # the one-hot's rows taken from an identity matrix (trick "one-hot rows")
    ws.eye.take(Xb, 0, ws.onehot, "wrap")                                       # (N, T, V)
    dot(ws.onehotT, ws.dembrows, dC)                                             # (V, E)
    # update ----------------------------------------------------------------------
    # one check and one subtraction over all parameters, not seven of each
    # (trick "flat update"); the check is one dot, exact (all_finite)
    finite = math.isfinite(loss) and all_finite(ws.gflat)
    if finite:
        # the padding between views is zero in both buffers and stays zero
        subtract(ws.flat, ws.gflat, ws.flat)
    return loss, finite


def calibrate(params, X, chunk=65536):
    """model.calibrate from the embedding covariance: the same (bnmean, bnvar).

    hprebn = embcat @ W1 + b1 is linear in embcat, so the mean and the
    Bessel-corrected variance of its columns over all contexts X (M, T) come
    from the (T*E,) mean and (T*E, T*E) covariance of embcat, in float64,
    without the (M, H) pre-activations: (T*E)^2 work a row instead of T*E*H.
    When T*E > H (a long block_size) the pre-activations are the cheaper
    path, and their column sums and sums of squares are taken instead.
    Sums are taken over chunks of rows, so memory stays flat however large
    the split; they are centred on the first chunk's mean, which keeps them
    well conditioned. Returns (bnmean, bnvar), each (1, H) in the parameters' dtype.
    """
    dtype, M = params["C"].dtype, X.shape[0]
    C, W1 = params["C"].astype(np.float64), params["W1"].astype(np.float64)
    direct = W1.shape[0] > W1.shape[1]                  # T*E > H: sum the pre-activations
    shift = total = squares = None
    for i in range(0, M, chunk):
        rows = C[X[i:i + chunk]].reshape(-1, C.shape[1] * X.shape[1])          # (m, T*E)
        if direct:
            rows = rows @ W1                                                   # (m, H)
        if shift is None:
            shift = rows.mean(0)
            total = np.zeros_like(shift)
            squares = np.zeros_like(shift) if direct else np.zeros((shift.size, shift.size))
        rows -= shift
        total += rows.sum(0)
        squares += (rows * rows).sum(0) if direct else rows.T @ rows
    d = total / M
    if direct:
        bnmean = shift + d + params["b1"]                                      # (H,)
        bnvar = (squares - M * d * d) / (M - 1)                                # (H,)
    else:
        cov = (squares - M * np.outer(d, d)) / (M - 1)                         # (T*E, T*E)
        bnmean = (shift + d) @ W1 + params["b1"]                               # (H,)
        bnvar = ((cov @ W1) * W1).sum(0)          # column j's: W1[:, j] @ cov @ W1[:, j]
    # rounding must not make a variance negative
    bnvar = np.maximum(bnvar, 0.0)
    return bnmean.astype(dtype)[None, :], bnvar.astype(dtype)[None, :]
