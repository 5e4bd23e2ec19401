"""A learner's complete, correct solution to exercises 1-3, written as in the lecture.

Graded by `npbackprop check --impl tests/learners/ninja.py:backward` (and
--exercise 2 / 3 with cross_entropy_backward / batchnorm_backward).
"""

import numpy as np


def backward(cache):
    v = cache
    n, Xb, Yb = v["n"], v["Xb"], v["Yb"]
    dlogprobs = np.zeros_like(v["logprobs"])
    dlogprobs[range(n), Yb] = -1.0 / n
    dprobs = (1.0 / v["probs"]) * dlogprobs
    dcounts_sum_inv = (v["counts"] * dprobs).sum(1, keepdims=True)
    dcounts = v["counts_sum_inv"] * dprobs
    dcounts_sum = (-v["counts_sum"] ** -2) * dcounts_sum_inv
    dcounts += np.ones_like(v["counts"]) * dcounts_sum
    dnorm_logits = v["counts"] * dcounts
    dlogits = dnorm_logits.copy()
    dlogit_maxes = (-dnorm_logits).sum(1, keepdims=True)
    onehot = np.zeros_like(v["logits"])
    onehot[range(n), v["logits"].argmax(1)] = 1.0
    dlogits += onehot * dlogit_maxes
    dh = dlogits @ v["W2"].T
    dW2 = v["h"].T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - v["h"] ** 2) * dh
    dbngain = (v["bnraw"] * dhpreact).sum(0, keepdims=True)
    dbnraw = v["bngain"] * dhpreact
    dbnbias = dhpreact.sum(0, keepdims=True)
    dbndiff = v["bnvar_inv"] * dbnraw
    dbnvar_inv = (v["bndiff"] * dbnraw).sum(0, keepdims=True)
    dbnvar = (-0.5 * (v["bnvar"] + 1e-5) ** -1.5) * dbnvar_inv
    dbndiff2 = 1.0 / (n - 1) * np.ones_like(v["bndiff2"]) * dbnvar
    dbndiff += 2 * v["bndiff"] * dbndiff2
    dhprebn = dbndiff.copy()
    dbnmeani = (-dbndiff).sum(0, keepdims=True)
    dhprebn += 1.0 / n * np.ones_like(v["hprebn"]) * dbnmeani
    dembcat = dhprebn @ v["W1"].T
    dW1 = v["embcat"].T @ dhprebn
    db1 = dhprebn.sum(0)
    demb = dembcat.reshape(v["emb"].shape)
    dC = np.zeros_like(v["C"])
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            dC[Xb[k, j]] += demb[k, j]
    return {"logprobs": dlogprobs, "probs": dprobs, "counts_sum_inv": dcounts_sum_inv,
            "counts_sum": dcounts_sum, "counts": dcounts, "norm_logits": dnorm_logits,
            "logit_maxes": dlogit_maxes, "logits": dlogits, "h": dh, "W2": dW2, "b2": db2,
            "hpreact": dhpreact, "bngain": dbngain, "bnbias": dbnbias, "bnraw": dbnraw,
            "bnvar_inv": dbnvar_inv, "bnvar": dbnvar, "bndiff2": dbndiff2, "bndiff": dbndiff,
            "bnmeani": dbnmeani, "hprebn": dhprebn, "embcat": dembcat, "W1": dW1, "b1": db1,
            "emb": demb, "C": dC}


def cross_entropy_backward(logits, Yb):
    n = logits.shape[0]
    counts = np.exp(logits - logits.max(1, keepdims=True))
    dlogits = counts / counts.sum(1, keepdims=True)
    dlogits[range(n), Yb] -= 1
    dlogits /= n
    return dlogits


def batchnorm_backward(dhpreact, cache):
    n, bngain, bnvar_inv, bnraw = cache["n"], cache["bngain"], cache["bnvar_inv"], cache["bnraw"]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0)
                                     - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
