"""Exercise 1: the lecture's chunked forward pass and its backward, line by line.

This is the teaching version: one line per intermediate, the lecture's
names, and a backward that walks the same lines in reverse. The fast path
for training lives in model.py; tests check that the two agree.

    loss, cache = forward(params, Xb, Yb)   # cache: every intermediate by name
    grads = backward(cache)                 # the 26 gradients the lecture checks

Dimension letters: N batch, T block_size, E n_embd, H n_hidden, V vocab_size.
"""

import numpy as np

from npbackprop.broadcast import unbroadcast
from npbackprop.gradcheck import EPS, numerical_gradient
from npbackprop.layers import BN_EPS

PARAM_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")

# the intermediates in forward order, `loss` last
INTERMEDIATES = (
    "emb", "embcat", "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar",
    "bnvar_inv", "bnraw", "hpreact", "h", "logits", "logit_maxes",
    "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs",
    "logprobs", "loss",
)

# the 26 tensors whose gradients the lecture checks, in the order it checks them
GRAD_NAMES = (
    "logprobs", "probs", "counts_sum_inv", "counts_sum", "counts",
    "norm_logits", "logit_maxes", "logits", "h", "W2", "b2", "hpreact",
    "bngain", "bnbias", "bnraw", "bnvar_inv", "bnvar", "bndiff2", "bndiff",
    "bnmeani", "hprebn", "embcat", "W1", "b1", "emb", "C",
)


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
    """Backprop by hand through every line of forward, in reverse.

    Input: the cache from forward. Returns {name: gradient of the loss} for
    the 26 names in GRAD_NAMES, each with its tensor's exact shape and dtype.
    """
    v = cache
    n, Xb, Yb = v["n"], v["Xb"], v["Yb"]
    rows = np.arange(n)
    d = {}

    # loss = -mean(logprobs[rows, Yb]): only the picked entries matter, each by -1/n
    dlogprobs = np.zeros_like(v["logprobs"])
    dlogprobs[rows, Yb] = -1.0 / n
    d["logprobs"] = dlogprobs
    # d log(x) = 1/x
    dprobs = (1.0 / v["probs"]) * dlogprobs
    d["probs"] = dprobs
    # probs = counts * counts_sum_inv; counts_sum_inv was broadcast along rows: sum it back
    d["counts_sum_inv"] = unbroadcast(v["counts"] * dprobs, v["counts_sum_inv"].shape)
    dcounts = v["counts_sum_inv"] * dprobs  # first use of counts
    # d x^-1 = -x^-2
    d["counts_sum"] = -v["counts_sum"] ** -2 * d["counts_sum_inv"]
    # counts_sum = counts.sum(1): each count gets the row's gradient (second use of counts)
    dcounts = dcounts + np.broadcast_to(d["counts_sum"], dcounts.shape)
    d["counts"] = dcounts
    # d exp(x) = exp(x)
    d["norm_logits"] = v["counts"] * dcounts
    # norm_logits = logits - logit_maxes; logit_maxes was broadcast along rows
    d["logit_maxes"] = unbroadcast(-d["norm_logits"], v["logit_maxes"].shape)
    # logits reaches the loss twice: directly, and through the max of its row
    dlogits = d["norm_logits"].copy()
    dlogits[rows, v["logits"].argmax(1)] += d["logit_maxes"][:, 0]
    d["logits"] = dlogits
    # logits = h @ W2 + b2; b2 was broadcast over the batch
    d["h"] = dlogits @ v["W2"].T
    d["W2"] = v["h"].T @ dlogits
    d["b2"] = unbroadcast(dlogits, v["b2"].shape)
    # d tanh(x) = 1 - tanh(x)^2
    dhpreact = (1.0 - v["h"] ** 2) * d["h"]
    d["hpreact"] = dhpreact
    # hpreact = bngain * bnraw + bnbias; gain and bias were broadcast over the batch
    d["bngain"] = unbroadcast(v["bnraw"] * dhpreact, v["bngain"].shape)
    d["bnbias"] = unbroadcast(dhpreact, v["bnbias"].shape)
    d["bnraw"] = v["bngain"] * dhpreact
    # bnraw = bndiff * bnvar_inv; bnvar_inv was broadcast over the batch
    dbndiff = v["bnvar_inv"] * d["bnraw"]  # first use of bndiff
    d["bnvar_inv"] = unbroadcast(v["bndiff"] * d["bnraw"], v["bnvar_inv"].shape)
    # d (x + eps)^-1/2 = -1/2 (x + eps)^-3/2
    d["bnvar"] = -0.5 * (v["bnvar"] + BN_EPS) ** -1.5 * d["bnvar_inv"]
    # bnvar = 1/(n-1) * bndiff2.sum(0): every row gets the column's gradient / (n-1)
    d["bndiff2"] = np.broadcast_to(1.0 / (n - 1) * d["bnvar"], v["bndiff2"].shape).copy()
    # d x^2 = 2x (second use of bndiff)
    dbndiff = dbndiff + 2.0 * v["bndiff"] * d["bndiff2"]
    d["bndiff"] = dbndiff
    # bndiff = hprebn - bnmeani; bnmeani was broadcast over the batch
    d["bnmeani"] = unbroadcast(-dbndiff, v["bnmeani"].shape)
    # hprebn reaches bndiff directly and through the mean: each row gets 1/n of it
    d["hprebn"] = dbndiff + 1.0 / n * d["bnmeani"]
    # hprebn = embcat @ W1 + b1; b1 was broadcast over the batch
    d["embcat"] = d["hprebn"] @ v["W1"].T
    d["W1"] = v["embcat"].T @ d["hprebn"]
    d["b1"] = unbroadcast(d["hprebn"], v["b1"].shape)
    # embcat is a view of emb
    d["emb"] = d["embcat"].reshape(v["emb"].shape)
    # emb = C[Xb]: scatter-add, repeated characters each add their row
    dC = np.zeros_like(v["C"])
    np.add.at(dC, Xb.reshape(-1), d["emb"].reshape(-1, dC.shape[1]))
    d["C"] = dC
    return {k: d[k] for k in GRAD_NAMES}


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
