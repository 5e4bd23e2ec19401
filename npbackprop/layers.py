"""Every layer of the lecture's network as a pure forward/backward pair.

    out, cache = <layer>_forward(x, *params)          # data first
    dx, *dparams = <layer>_backward(dout, cache)       # always a tuple

A backward returns one gradient per forward argument, in the forward's
order: None for an integer input (indices, targets), else an array of
exactly that input's shape and dtype. The cache is a plain tuple, and each
forward's docstring says what it holds. Nothing is stored between calls and
nothing passed in is modified.
Dimension letters: N batch, T block_size, E n_embd, H n_hidden, V vocab_size.
"""

import numpy as np

from npbackprop.broadcast import unbroadcast

BN_EPS = 1e-5


def check_indices(ix, vocab_size, what="index"):
    """IndexError naming the first of ix outside [0, vocab_size): numpy would wrap a -1
    to the last row and read it silently."""
    ix = np.asarray(ix)
    if ix.size and (ix.min() < 0 or ix.max() >= vocab_size):
        bad = ix[(ix < 0) | (ix >= vocab_size)][0]
        raise IndexError(f"{what} {bad} is out of range for a vocabulary of {vocab_size} "
                         f"(characters are 0..{vocab_size - 1})")


# -----------------------------------------------------------------------------
# embedding: emb = C[ix]

def embedding_forward(ix, C):
    """Look up rows of the embedding table.

    Inputs:
    - ix: int array of any shape S, e.g. (N, T)
    - C: (V, E) embedding table
    Returns (emb, cache) with emb of shape S + (E,); cache is (ix, C.shape).
    An index outside 0..V-1 (a negative one too) raises IndexError.
    """
    check_indices(ix, C.shape[0])
    return C[ix], (ix, C.shape)


def embedding_backward(demb, cache):
    """Scatter-add the rows of demb back into the rows of C they came from.

    A character that appears k times in the batch collects k rows:
    np.add.at accumulates repeated indices (`dC[ix] += demb` would keep only
    the last of them). Returns (None, dC): ix is integer, dC is (V, E).
    """
    ix, C_shape = cache
    dC = np.zeros(C_shape, dtype=demb.dtype)
    np.add.at(dC, ix.reshape(-1), demb.reshape(-1, C_shape[1]))
    return None, dC


# -----------------------------------------------------------------------------
# concatenation of the T embeddings of a context: embcat = emb.view(N, -1)

def concat_forward(emb):
    """(N, T, E) -> (N, T*E), a view: no data moves. cache is emb.shape."""
    return emb.reshape(emb.shape[0], -1), emb.shape


def concat_backward(dembcat, cache):
    """(N, T*E) -> (demb,), (N, T, E); copied so it is never a view of dout."""
    return (dembcat.reshape(cache).copy(),)


# -----------------------------------------------------------------------------
# linear: out = x @ W + b, over the last axis of any (..., D) input

def linear_forward(x, W, b=None):
    """Inputs: x (..., D), W (D, M), b (M,) or None (part 5's Linear(bias=False)).

    Returns out (..., M); cache is (x, W, b's shape or None).
    """
    # one 2-D matmul over all leading positions: numpy's stacked matmul would loop over them
    out = (x.reshape(-1, x.shape[-1]) @ W).reshape(x.shape[:-1] + W.shape[1:])
    if b is not None:
        out = out + b
    return out, (x, W, None if b is None else b.shape)


def linear_backward(dout, cache):
    """Returns dx (..., D), dW (D, M), db (M,) or None when there was no bias."""
    x, W, b_shape = cache
    d2 = dout.reshape(-1, dout.shape[-1])                        # (N*..., M)
    dx = (d2 @ W.T).reshape(x.shape)                             # (..., D)
    # every leading position used the same W: sum over all of them, as one matmul
    dW = x.reshape(-1, x.shape[-1]).T @ d2                       # (D, M)
    db = None if b_shape is None else unbroadcast(dout, b_shape)  # b broadcast over (...)
    return dx, dW, db


# -----------------------------------------------------------------------------
# batchnorm, training mode: statistics of the batch itself

def batchnorm_forward(x, gain, bias, eps=BN_EPS, axes=0):
    """Normalise over `axes` by the batch mean and Bessel-corrected variance.

    Inputs:
    - x: (N, H) with axes 0, or (N, T, H) with axes (0, 1) as part 5 does;
      n = the product of those sides, n >= 2 (the variance divides by n - 1)
    - gain, bias: broadcastable to x, e.g. (1, H), (H,) or (1, 1, H)
    Returns (out, cache), out = gain * (x - mean) / sqrt(var + eps) + bias;
    cache is (raw, var_inv, gain, bias.shape, axes, mean, var): raw the
    normalised x, mean and var the batch's (kept dims), which running_update takes.
    """
    axes = _axes(axes)
    n = _count(x.shape, axes)
    mean = x.sum(axes, keepdims=True) / n                    # (1, H) or (1, 1, H)
    diff = x - mean
    var = (diff * diff).sum(axes, keepdims=True) / (n - 1)   # unbiased, like torch's x.var
    var_inv = (var + eps) ** -0.5
    raw = diff * var_inv
    out = gain * raw + bias
    return out, (raw, var_inv, gain, bias.shape, axes, mean, var)


def batchnorm_backward(dout, cache):
    """Exercise 3: the whole batchnorm backward in one expression.

    n is the number of values each statistic averages (N, or N*T over (0, 1)).
    Returns dx (x's shape), dgain and dbias (their own shapes). The n/(n-1)
    is Bessel's correction coming back through the variance.
    """
    raw, var_inv, gain, bias_shape, axes, _, _ = cache
    n = _count(dout.shape, axes)
    # both sums over the normalised axes undo the broadcast of mean and variance
    dx = gain * var_inv / n * (n * dout - dout.sum(axes, keepdims=True)
                               - n / (n - 1) * raw * (dout * raw).sum(axes, keepdims=True))
    dgain = unbroadcast(raw * dout, gain.shape)  # gain was broadcast over the batch (and T)
    dbias = unbroadcast(dout, bias_shape)
    return dx, dgain, dbias


def running_update(mean, var, batch_mean, batch_var, momentum):
    """Parts 3 and 5's buffers: new = (1 - momentum) * old + momentum * batch.

    mean, var: the running buffers (H,) or (1, H); batch_mean, batch_var from
    batchnorm_forward's cache. Returns (new_mean, new_var) in the buffers'
    shapes and dtype; nothing is modified.
    """
    new_mean = (1 - momentum) * mean + momentum * batch_mean.reshape(mean.shape)
    new_var = (1 - momentum) * var + momentum * batch_var.reshape(var.shape)
    return new_mean.astype(mean.dtype, copy=False), new_var.astype(var.dtype, copy=False)


def _axes(axes):
    return (axes,) if isinstance(axes, int) else tuple(axes)


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    if n < 2:
        raise ValueError(f"batchnorm over axes {axes} of shape {shape} averages {n} value; "
                         f"the unbiased variance needs at least 2")
    return n


# -----------------------------------------------------------------------------
# batchnorm, evaluation mode: given (calibrated) mean and variance

def batchnorm_eval_forward(x, gain, bias, mean, var, eps=BN_EPS):
    """out = gain * (x - mean) / sqrt(var + eps) + bias; x (N, H) or (N, T, H), the rest
    (H,), (1, H) or (1, 1, H): the calibrated or running statistics.

    cache is (raw, var_inv, gain, bias.shape, mean.shape, var.shape).
    """
    var_inv = (var + eps) ** -0.5
    raw = (x - mean) * var_inv
    return gain * raw + bias, (raw, var_inv, gain, bias.shape, mean.shape, var.shape)


def batchnorm_eval_backward(dout, cache):
    """Returns dx, dgain, dbias, dmean, dvar, each its input's shape."""
    raw, var_inv, gain, bias_shape, mean_shape, var_shape = cache
    draw = gain * dout                              # (N, H)
    dx = draw * var_inv
    dgain = unbroadcast(raw * dout, gain.shape)     # broadcasts over the batch, undone
    dbias = unbroadcast(dout, bias_shape)
    dmean = unbroadcast(-dx, mean_shape)
    # d/dvar (var + eps)^-1/2 = -1/2 (var + eps)^-3/2 = -1/2 var_inv^3
    dvar = unbroadcast(-0.5 * draw * raw * var_inv * var_inv, var_shape)
    return dx, dgain, dbias, dmean, dvar


# -----------------------------------------------------------------------------
# flatten consecutive: part 5's FlattenConsecutive(k), k neighbours side by side

def flatten_consecutive_forward(x, k):
    """(N, T, E) -> (N, T/k, k*E), a view; squeezed to (N, k*E) when T/k == 1.

    Raises ValueError if k does not divide T. cache is x.shape.
    """
    N, T, E = x.shape
    if k < 1 or T % k:
        raise ValueError(f"flatten_consecutive: k={k} does not divide T of shape {x.shape}")
    out = x.reshape(N, T // k, k * E)
    return (out[:, 0] if T // k == 1 else out), x.shape


def flatten_consecutive_backward(dout, cache):
    """(dx, None): dout back to x's shape (copied, never a view of dout); k is an integer."""
    return dout.reshape(cache).copy(), None


# -----------------------------------------------------------------------------
# tanh

def tanh_forward(x):
    """h = tanh(x), any shape; cache is h itself."""
    h = np.tanh(x)
    return h, h


def tanh_backward(dh, cache):
    """(dx,) with d tanh(x)/dx = 1 - tanh(x)^2, written with the output h."""
    h = cache
    return ((1.0 - h * h) * dh,)


# -----------------------------------------------------------------------------
# cross-entropy: mean over the batch of -log softmax(logits)[target]

def cross_entropy_forward(logits, Y):
    """Inputs: logits (N, V), Y int (N,). Returns (loss, cache), loss a 0-d array.

    cache is (probs, Y), probs = softmax(logits) (N, V). A target outside
    0..V-1 (a negative one too) raises IndexError.
    """
    check_indices(Y, logits.shape[1], "target")
    n = logits.shape[0]
    # subtracting the row max changes nothing mathematically and keeps exp finite
    norm_logits = logits - logits.max(1, keepdims=True)      # (N, V)
    counts = np.exp(norm_logits)
    counts_sum = counts.sum(1, keepdims=True)                 # (N, 1)
    logprobs_y = norm_logits[np.arange(n), Y] - np.log(counts_sum[:, 0])
    loss = -logprobs_y.mean(dtype=logits.dtype)
    probs = counts / counts_sum
    return np.asarray(loss, dtype=logits.dtype), (probs, Y)


def cross_entropy_backward(dloss, cache):
    """Exercise 2: dlogits = (softmax(logits) - onehot(Y)) / N, times dloss.

    Returns (dlogits, None): Y is integer.
    """
    probs, Y = cache
    n = probs.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(n), Y] -= 1.0
    # in place keeps the dtype: a float64 dloss must not upcast float32 logits
    dlogits *= dloss / n
    return dlogits, None
