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


# -----------------------------------------------------------------------------
# embedding: emb = C[ix]

def embedding_forward(ix, C):
    """Look up rows of the embedding table.

    Inputs:
    - ix: int array of any shape S, e.g. (N, T)
    - C: (V, E) embedding table
    Returns (emb, cache) with emb of shape S + (E,); cache is (ix, C.shape).
    """
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
# linear: out = x @ W + b

def linear_forward(x, W, b):
    """Inputs: x (N, D), W (D, M), b (M,). Returns out (N, M); cache is (x, W, b.shape)."""
    return x @ W + b, (x, W, b.shape)


def linear_backward(dout, cache):
    """Returns dx (N, D), dW (D, M), db (M,)."""
    x, W, b_shape = cache
    dx = dout @ W.T                 # (N, D)
    dW = x.T @ dout                 # (D, M)
    db = unbroadcast(dout, b_shape)  # b was broadcast over the batch
    return dx, dW, db


# -----------------------------------------------------------------------------
# batchnorm, training mode: statistics of the batch itself

def batchnorm_forward(x, gain, bias, eps=BN_EPS):
    """Normalise each column by the batch mean and Bessel-corrected variance.

    Inputs:
    - x: (N, H), N >= 2 (the variance divides by N - 1)
    - gain, bias: (1, H) or (H,)
    Returns (out, cache), out (N, H) = gain * (x - mean) / sqrt(var + eps) + bias;
    cache is (raw, var_inv, gain, bias.shape), raw the normalised x (N, H).
    """
    n = x.shape[0]
    mean = x.sum(0, keepdims=True) / n                       # (1, H)
    diff = x - mean                                          # (N, H)
    var = (diff * diff).sum(0, keepdims=True) / (n - 1)      # (1, H)
    var_inv = (var + eps) ** -0.5                            # (1, H)
    raw = diff * var_inv                                     # (N, H)
    out = gain * raw + bias
    return out, (raw, var_inv, gain, bias.shape)


def batchnorm_backward(dout, cache):
    """Exercise 3: the whole batchnorm backward in one expression.

    Returns dx (N, H), dgain and dbias (their own shapes). The n/(n-1) is
    Bessel's correction coming back through the variance.
    """
    raw, var_inv, gain, bias_shape = cache
    n = dout.shape[0]
    # both sums over the batch undo the broadcast of mean and variance
    dx = gain * var_inv / n * (n * dout - dout.sum(0)
                               - n / (n - 1) * raw * (dout * raw).sum(0))
    dgain = unbroadcast(raw * dout, gain.shape)  # gain was broadcast over the batch
    dbias = unbroadcast(dout, bias_shape)
    return dx, dgain, dbias


# -----------------------------------------------------------------------------
# batchnorm, evaluation mode: given (calibrated) mean and variance

def batchnorm_eval_forward(x, gain, bias, mean, var, eps=BN_EPS):
    """out = gain * (x - mean) / sqrt(var + eps) + bias, all but x (1, H) or (H,).

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

    cache is (probs, Y), probs = softmax(logits) (N, V).
    """
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
