"""Makemore part 4, "becoming a backprop ninja": the backward pass by hand, in NumPy.

Fill in one gradient at a time, in order, and grade them with

    npbackprop check --impl THIS_FILE.py:backward

A gradient left as None shows as "not attempted". Each dX must have exactly
X's shape and dtype (float64). Exercises 2 and 3 are at the bottom:

    npbackprop check --exercise 2 --impl THIS_FILE.py:cross_entropy_backward
    npbackprop check --exercise 3 --impl THIS_FILE.py:batchnorm_backward
"""

import numpy as np

# The forward pass you are undoing; N batch, T block_size, E n_embd,
# H n_hidden, V vocab_size, n = N:
#
#     emb = C[Xb]                                           # (N, T, E)
#     embcat = emb.reshape(n, -1)                           # (N, T*E)
#     # linear layer 1
#     hprebn = embcat @ W1 + b1                             # (N, H)
#     # batchnorm layer, Bessel-corrected variance
#     bnmeani = 1 / n * hprebn.sum(0, keepdims=True)        # (1, H)
#     bndiff = hprebn - bnmeani                             # (N, H)
#     bndiff2 = bndiff ** 2                                 # (N, H)
#     bnvar = 1 / (n - 1) * bndiff2.sum(0, keepdims=True)   # (1, H)
#     bnvar_inv = (bnvar + 1e-5) ** -0.5                    # (1, H)
#     bnraw = bndiff * bnvar_inv                            # (N, H)
#     hpreact = bngain * bnraw + bnbias                     # (N, H)
#     # non-linearity
#     h = np.tanh(hpreact)                                  # (N, H)
#     # linear layer 2
#     logits = h @ W2 + b2                                  # (N, V)
#     # cross-entropy loss
#     logit_maxes = logits.max(1, keepdims=True)            # (N, 1)
#     norm_logits = logits - logit_maxes                    # (N, V)
#     counts = np.exp(norm_logits)                          # (N, V)
#     counts_sum = counts.sum(1, keepdims=True)             # (N, 1)
#     counts_sum_inv = counts_sum ** -1                     # (N, 1)
#     probs = counts * counts_sum_inv                       # (N, V)
#     logprobs = np.log(probs)                              # (N, V)
#     loss = -logprobs[np.arange(n), Yb].mean()             # ()

PARAM_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
INTERMEDIATES = ("emb", "embcat", "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar",
                 "bnvar_inv", "bnraw", "hpreact", "h", "logits", "logit_maxes",
                 "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs",
                 "logprobs")


def backward(cache):
    """Exercise 1. cache: every intermediate above by name, the parameters,
    Xb, Yb and n (copies: change them freely). Returns {name: gradient}."""
    n, Xb, Yb = cache["n"], cache["Xb"], cache["Yb"]
    C, W1, b1, W2, b2, bngain, bnbias = (cache[k] for k in PARAM_NAMES)
    (emb, embcat, hprebn, bnmeani, bndiff, bndiff2, bnvar, bnvar_inv, bnraw, hpreact, h,
     logits, logit_maxes, norm_logits, counts, counts_sum, counts_sum_inv, probs,
     logprobs) = (cache[k] for k in INTERMEDIATES)

    dlogprobs = None
    dprobs = None
    dcounts_sum_inv = None
    dcounts_sum = None
    dcounts = None
    dnorm_logits = None
    dlogit_maxes = None
    dlogits = None
    dh = None
    dW2 = None
    db2 = None
    dhpreact = None
    dbngain = None
    dbnbias = None
    dbnraw = None
    dbnvar_inv = None
    dbnvar = None
    dbndiff2 = None
    dbndiff = None
    dbnmeani = None
    dhprebn = None
    dembcat = None
    dW1 = None
    db1 = None
    demb = None
    dC = None

    return {
        "logprobs": dlogprobs,
        "probs": dprobs,
        "counts_sum_inv": dcounts_sum_inv,
        "counts_sum": dcounts_sum,
        "counts": dcounts,
        "norm_logits": dnorm_logits,
        "logit_maxes": dlogit_maxes,
        "logits": dlogits,
        "h": dh,
        "W2": dW2,
        "b2": db2,
        "hpreact": dhpreact,
        "bngain": dbngain,
        "bnbias": dbnbias,
        "bnraw": dbnraw,
        "bnvar_inv": dbnvar_inv,
        "bnvar": dbnvar,
        "bndiff2": dbndiff2,
        "bndiff": dbndiff,
        "bnmeani": dbnmeani,
        "hprebn": dhprebn,
        "embcat": dembcat,
        "W1": dW1,
        "b1": db1,
        "emb": demb,
        "C": dC,
    }


def cross_entropy_backward(logits, Yb):
    """Exercise 2: dlogits (N, V) of loss = cross-entropy(logits, Yb), in one go."""
    dlogits = None
    return dlogits


def batchnorm_backward(dhpreact, cache):
    """Exercise 3: dhprebn (N, H) in one expression, given dhpreact (N, H).

    cache as in backward: bngain, bnvar_inv, bnraw, hprebn, n, ...
    """
    dhprebn = None
    return dhprebn
