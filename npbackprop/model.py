"""The lecture's MLP, readable: initialisation, forward/backward, SGD step,
calibration, split loss and sampling.

    embedding -> concat -> linear -> batchnorm -> tanh -> linear -> cross-entropy

Parameters live in a plain dict {C, W1, b1, W2, b2, bngain, bnbias}; gradients
come back in a dict with the same keys, so an SGD step is
`params[k] -= lr * grads[k]`. Dimension letters: N batch, T block_size,
E n_embd, H n_hidden, V vocab_size.

forward_backward is built from layers.py and reads like the lecture, with
its fused exercise-2 and exercise-3 backwards. fast.py holds the same step
rearranged into preallocated buffers, which training uses; tests hold the
two equal.
"""

import numpy as np

from npbackprop import layers
from npbackprop.errors import NpbackpropError
from npbackprop.names import PARAM_NAMES


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


def forward_backward(params, Xb, Yb, acts=None):
    """One training pass: batch statistics, fused backward (exercises 2 and 3).

    Inputs: params; Xb int (N, T); Yb int (N,), N >= 2; acts, a dict to
    receive h, dh and dlogits (part 3's diagnostics look at them).
    Returns (loss, grads): loss a 0-d array, grads {name: d loss / d param}.
    """
    p = params
    emb, emb_cache = layers.embedding_forward(Xb, p["C"])                      # (N, T, E)
    embcat, cat_cache = layers.concat_forward(emb)                             # (N, T*E)
    hprebn, lin1_cache = layers.linear_forward(embcat, p["W1"], p["b1"])       # (N, H)
    hpreact, bn_cache = layers.batchnorm_forward(hprebn, p["bngain"], p["bnbias"])
    h, tanh_cache = layers.tanh_forward(hpreact)                               # (N, H)
    logits, lin2_cache = layers.linear_forward(h, p["W2"], p["b2"])            # (N, V)
    loss, ce_cache = layers.cross_entropy_forward(logits, Yb)

    g = {}
    dlogits, _ = layers.cross_entropy_backward(1.0, ce_cache)                  # (N, V)
    dh, g["W2"], g["b2"] = layers.linear_backward(dlogits, lin2_cache)
    dhpreact, = layers.tanh_backward(dh, tanh_cache)                           # (N, H)
    dhprebn, g["bngain"], g["bnbias"] = layers.batchnorm_backward(dhpreact, bn_cache)
    dembcat, g["W1"], g["b1"] = layers.linear_backward(dhprebn, lin1_cache)
    demb, = layers.concat_backward(dembcat, cat_cache)                         # (N, T, E)
    _, g["C"] = layers.embedding_backward(demb, emb_cache)
    if acts is not None:
        acts.update(h=h, dh=dh, dlogits=dlogits)
    return loss, {k: g[k] for k in PARAM_NAMES}


def _preact(params, X):
    """Pre-batchnorm activations for contexts X (M, T): (M, H)."""
    emb = params["C"][X]                                                       # (M, T, E)
    return emb.reshape(X.shape[0], -1) @ params["W1"] + params["b1"]


def calibrate(params, X):
    """The lecture's calibration cell: batchnorm statistics over a whole split.

    Returns (bnmean, bnvar), each (1, H) in the parameters' dtype: the mean
    and the Bessel-corrected variance of the pre-activations of all contexts
    X (M, T). fast.calibrate gets the same numbers without the (M, H) array.
    """
    hpreact = _preact(params, X)                                               # (M, H)
    return hpreact.mean(0, keepdims=True), hpreact.var(0, ddof=1, keepdims=True)


def logits_eval(params, bnmean, bnvar, X):
    """Evaluation-mode forward: batchnorm with calibrated statistics. Returns (M, V)."""
    hpreact, _ = layers.batchnorm_eval_forward(
        _preact(params, X), params["bngain"], params["bnbias"], bnmean, bnvar)
    return np.tanh(hpreact) @ params["W2"] + params["b2"]


def split_loss(params, bnmean, bnvar, X, Y, chunk=65536):
    """Mean cross-entropy over a whole split (M examples), as a Python float."""
    return mean_loss(lambda Xc: logits_eval(params, bnmean, bnvar, Xc), X, Y, chunk)


def mean_loss(logits_of, X, Y, chunk=65536):
    """Mean cross-entropy of logits_of(X) (M, V) against Y, a chunk of rows at a time."""
    total = 0.0
    for i in range(0, X.shape[0], chunk):
        loss, _ = layers.cross_entropy_forward(logits_of(X[i:i + chunk]), Y[i:i + chunk])
        total += float(loss) * len(Y[i:i + chunk])
    return total / X.shape[0]


def sample(params, bnmean, bnvar, itos, block_size, *, rng, num_samples=20, max_len=50):
    """Draw names as the lecture does: softmax, multinomial, until '.'.

    Returns a list of num_samples strings (see sample_from).
    """
    return sample_from(lambda X: logits_eval(params, bnmean, bnvar, X), itos, block_size,
                       rng=rng, num_samples=num_samples, max_len=max_len)


def sample_from(logits_of, itos, block_size, *, rng, num_samples=20, max_len=50):
    """Names from any network's evaluation logits_of(contexts (S, T)) -> (S, V).

    All samples advance together, one character per step; a name that has
    not ended after max_len characters is cut there, so sampling always ends.
    Returns a list of num_samples strings; NpbackpropError for a negative
    num_samples or a max_len below 1.
    """
    for name, value, least in (("num_samples", num_samples, 0), ("max_len", max_len, 1)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise NpbackpropError(f"{name} must be an integer of at least {least}, got "
                                  f"{value!r}")
    if num_samples == 0:
        return []
    context = np.zeros((num_samples, block_size), dtype=np.int64)  # (S, T), all '.'
    out = np.zeros((num_samples, max_len), dtype=np.int64)
    alive = np.ones(num_samples, dtype=bool)
    for t in range(max_len):
        logits = logits_of(context).astype(np.float64)
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


def sgd_step(params, Xb, Yb, lr):
    """One step of plain SGD, in place: params[k] -= lr * grads[k].

    Returns (loss as a float, finite). If the loss or any gradient is not
    finite, nothing is updated and finite is False. fast.fast_sgd_step is
    the same step in preallocated buffers; the numbers agree up to rounding.
    """
    loss, grads = forward_backward(params, Xb, Yb)
    finite = bool(np.isfinite(loss)) and all(np.isfinite(g).all() for g in grads.values())
    if finite:
        for k in PARAM_NAMES:
            params[k] -= lr * grads[k]
    return float(loss), finite
