"""Exercise 1: the lecture's chunked forward pass and its backward, line by line.

This is the teaching version: one line per intermediate, the lecture's
names, and a backward that walks the same lines in reverse. The fast path
for training lives in fast.py; tests check that they agree.

    loss, cache = forward(params, Xb, Yb)   # cache: every intermediate by name
    grads = backward(cache)                 # the 26 gradients the lecture checks

Dimension letters: N batch, T block_size, E n_embd, H n_hidden, V vocab_size.
"""

import numpy as np

from npbackprop.broadcast import unbroadcast
from npbackprop.gradcheck import EPS, numerical_gradient
from npbackprop.layers import BN_EPS
from npbackprop.names import GRAD_NAMES, INTERMEDIATES, PARAM_NAMES


def forward(params, Xb, Yb, given=None):
    """The lecture's forward pass, chunked into small steps.

    Inputs:
    - params: dict with C (V, E), W1 (T*E, H), b1 (H,), W2 (H, V), b2 (V,),
      bngain (1, H), bnbias (1, H), all of one float dtype
    - Xb: int (N, T) contexts, N >= 2; Yb: int (N,) targets
    - given: optional {name: array}; each named intermediate is replaced by
      the given array and everything after it recomputed (finite differences
      use this to perturb an intermediate)
    Returns (loss, cache): loss a 0-d array; cache maps every intermediate,
    parameter, Xb, Yb and n to its value.
    """
    n = Xb.shape[0]
    given = given or {}
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    v = {**params, "Xb": Xb, "Yb": Yb, "n": n}

    def let(name, value):
        v[name] = given.get(name, value)
        return v[name]

    emb = let("emb", C[Xb])                                            # (N, T, E)
    embcat = let("embcat", emb.reshape(n, -1))                         # (N, T*E)
    # linear layer 1
    hprebn = let("hprebn", embcat @ W1 + b1)                           # (N, H)
    # batchnorm layer, Bessel-corrected variance
    bnmeani = let("bnmeani", 1.0 / n * hprebn.sum(0, keepdims=True))   # (1, H)
    bndiff = let("bndiff", hprebn - bnmeani)                           # (N, H)
    bndiff2 = let("bndiff2", bndiff ** 2)                              # (N, H)
    bnvar = let("bnvar", 1.0 / (n - 1) * bndiff2.sum(0, keepdims=True))  # (1, H)
    bnvar_inv = let("bnvar_inv", (bnvar + BN_EPS) ** -0.5)             # (1, H)
    bnraw = let("bnraw", bndiff * bnvar_inv)                           # (N, H)
    hpreact = let("hpreact", bngain * bnraw + bnbias)                  # (N, H)
    # non-linearity
    h = let("h", np.tanh(hpreact))                                     # (N, H)
    # linear layer 2
    logits = let("logits", h @ W2 + b2)                                # (N, V)
    # cross-entropy loss, one small step at a time
    logit_maxes = let("logit_maxes", logits.max(1, keepdims=True))     # (N, 1)
    norm_logits = let("norm_logits", logits - logit_maxes)             # (N, V)
    counts = let("counts", np.exp(norm_logits))                        # (N, V)
    counts_sum = let("counts_sum", counts.sum(1, keepdims=True))       # (N, 1)
    counts_sum_inv = let("counts_sum_inv", counts_sum ** -1)           # (N, 1)
    probs = let("probs", counts * counts_sum_inv)                      # (N, V)
    logprobs = let("logprobs", np.log(probs))                          # (N, V)
    loss = np.asarray(-logprobs[np.arange(n), Yb].mean(), logits.dtype)  # ()
    v["loss"] = loss
    return loss, v


def backward(cache):
    """Backprop by hand through every line of forward, in reverse (the lecture's cell 11).

    Input: the cache from forward. Returns {name: gradient of the loss} for
    the 26 names in GRAD_NAMES, each with its tensor's exact shape and dtype.
    """
    n, Xb, Yb = cache["n"], cache["Xb"], cache["Yb"]
    C, W1, b1, W2, b2, bngain, bnbias = (cache[k] for k in PARAM_NAMES)
    (emb, embcat, hprebn, bnmeani, bndiff, bndiff2, bnvar, bnvar_inv, bnraw, hpreact, h,
     logits, logit_maxes, norm_logits, counts, counts_sum, counts_sum_inv, probs,
     logprobs) = (cache[k] for k in INTERMEDIATES[:-1])
    rows = np.arange(n)                                                        # (N,)

    # loss = -mean(logprobs[rows, Yb]): only the picked entries matter, each by -1/n
    dlogprobs = np.zeros_like(logprobs)                                        # (N, V)
    dlogprobs[rows, Yb] = -1.0 / n                                             # (N, V)
    # d log(x) = 1/x
    dprobs = (1.0 / probs) * dlogprobs                                         # (N, V)
    # probs = counts * counts_sum_inv; counts_sum_inv was broadcast along rows: sum it back
    dcounts_sum_inv = unbroadcast(counts * dprobs, counts_sum_inv.shape)       # (N, 1)
    dcounts = counts_sum_inv * dprobs                                          # (N, V) 1st use
    # d x^-1 = -x^-2
    dcounts_sum = -counts_sum ** -2 * dcounts_sum_inv                          # (N, 1)
    # counts_sum = counts.sum(1): each count gets its row's gradient (second use of counts)
    dcounts = dcounts + np.broadcast_to(dcounts_sum, dcounts.shape)            # (N, V)
    # d exp(x) = exp(x)
    dnorm_logits = counts * dcounts                                            # (N, V)
    # norm_logits = logits - logit_maxes; logit_maxes was broadcast along rows
    dlogit_maxes = unbroadcast(-dnorm_logits, logit_maxes.shape)               # (N, 1)
    # logits reaches the loss twice: directly, and through the max of its row
    dlogits = dnorm_logits.copy()                                              # (N, V)
    dlogits[rows, logits.argmax(1)] += dlogit_maxes[:, 0]                      # (N, V)
    # logits = h @ W2 + b2; b2 was broadcast over the batch
    dh = dlogits @ W2.T                                                        # (N, H)
    dW2 = h.T @ dlogits                                                        # (H, V)
    db2 = unbroadcast(dlogits, b2.shape)                                       # (V,)
    # d tanh(x) = 1 - tanh(x)^2
    dhpreact = (1.0 - h ** 2) * dh                                             # (N, H)
    # hpreact = bngain * bnraw + bnbias; gain and bias were broadcast over the batch
    dbngain = unbroadcast(bnraw * dhpreact, bngain.shape)                      # (1, H)
    dbnbias = unbroadcast(dhpreact, bnbias.shape)                              # (1, H)
    dbnraw = bngain * dhpreact                                                 # (N, H)
    # bnraw = bndiff * bnvar_inv; bnvar_inv was broadcast over the batch
    dbndiff = bnvar_inv * dbnraw                                               # (N, H) 1st use
    dbnvar_inv = unbroadcast(bndiff * dbnraw, bnvar_inv.shape)                 # (1, H)
    # d (x + eps)^-1/2 = -1/2 (x + eps)^-3/2
    dbnvar = -0.5 * (bnvar + BN_EPS) ** -1.5 * dbnvar_inv                      # (1, H)
    # bnvar = 1/(n-1) * bndiff2.sum(0): every row gets its column's gradient / (n-1)
    dbndiff2 = np.broadcast_to(1.0 / (n - 1) * dbnvar, bndiff2.shape).copy()   # (N, H)
    # d x^2 = 2x (second use of bndiff)
    dbndiff = dbndiff + 2.0 * bndiff * dbndiff2                                # (N, H)
    # bndiff = hprebn - bnmeani; bnmeani was broadcast over the batch
    dbnmeani = unbroadcast(-dbndiff, bnmeani.shape)                            # (1, H)
    # hprebn reaches bndiff directly and through the mean: each row gets 1/n of it
    dhprebn = dbndiff + 1.0 / n * dbnmeani                                     # (N, H)
    # hprebn = embcat @ W1 + b1; b1 was broadcast over the batch
    dembcat = dhprebn @ W1.T                                                   # (N, T*E)
    dW1 = embcat.T @ dhprebn                                                   # (T*E, H)
    db1 = unbroadcast(dhprebn, b1.shape)                                       # (H,)
    # embcat is a view of emb
    demb = dembcat.reshape(emb.shape)                                          # (N, T, E)
    # emb = C[Xb]: scatter-add, repeated characters each add their row
    dC = np.zeros_like(C)                                                      # (V, E)
    np.add.at(dC, Xb.reshape(-1), demb.reshape(-1, dC.shape[1]))               # (V, E)

    return {"logprobs": dlogprobs, "probs": dprobs, "counts_sum_inv": dcounts_sum_inv,
            "counts_sum": dcounts_sum, "counts": dcounts, "norm_logits": dnorm_logits,
            "logit_maxes": dlogit_maxes, "logits": dlogits, "h": dh, "W2": dW2, "b2": db2,
            "hpreact": dhpreact, "bngain": dbngain, "bnbias": dbnbias, "bnraw": dbnraw,
            "bnvar_inv": dbnvar_inv, "bnvar": dbnvar, "bndiff2": dbndiff2, "bndiff": dbndiff,
            "bnmeani": dbnmeani, "hprebn": dhprebn, "embcat": dembcat, "W1": dW1, "b1": db1,
            "emb": demb, "C": dC}


def numerical_grads(params, Xb, Yb, names=GRAD_NAMES, eps=EPS):
    """Central finite differences of the loss w.r.t. each named tensor (float64).

    A parameter is perturbed in a copy of params; an intermediate is pinned
    with forward's `given` so only what comes after it is recomputed.
    Returns {name: array shaped like the tensor}.
    """
    _, cache = forward(params, Xb, Yb)
    grads = {}
    for name in names:
        x = np.array(cache[name], dtype=np.float64)
        if name in params:
            def loss():
                return forward({**params, name: x}, Xb, Yb)[0]
        else:
            def loss():
                return forward(params, Xb, Yb, given={name: x})[0]
        grads[name] = numerical_gradient(loss, x, eps)
    return grads
