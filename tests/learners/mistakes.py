"""Deliberately wrong backward passes, one known mistake each, for the grader's tests.

Every public function is a learner's FUNC with exactly one mistake, named
after it; `_backward(cache, *mistakes)` is the correct exercise-1 backward with
each named mistake switched in where it happens. Exercises 2 and 3 come last.
"""

import numpy as np


def _backward(cache, *mistakes):
    v = cache
    n, Xb, Yb = v["n"], v["Xb"], v["Yb"]
    d = {}
    d["logprobs"] = np.zeros_like(v["logprobs"])
    # the mean's 1/n forgotten
    d["logprobs"][range(n), Yb] = -1.0 if "no_mean_logprobs" in mistakes else -1.0 / n
    if "float32_logprobs" in mistakes:
        d["logprobs"] = d["logprobs"].astype(np.float32)
    d["probs"] = d["logprobs"] / v["probs"]
    d["counts_sum_inv"] = (v["counts"] * d["probs"]).sum(1, keepdims=True)
    d["counts_sum"] = -v["counts_sum"] ** -2 * d["counts_sum_inv"]
    d["counts"] = v["counts_sum_inv"] * d["probs"]
    if "forgot_counts" not in mistakes:
        d["counts"] = d["counts"] + d["counts_sum"]
    d["norm_logits"] = v["counts"] * d["counts"]
    d["logit_maxes"] = -d["norm_logits"].sum(1, keepdims=True)
    d["logits"] = d["norm_logits"].copy()
    if "forgot_logits" not in mistakes:
        d["logits"][range(n), v["logits"].argmax(1)] += d["logit_maxes"][:, 0]
    if "dh_no_transpose" in mistakes:
        d["h"] = d["logits"] @ v["W2"]
    else:
        d["h"] = d["logits"] @ v["W2"].T
    d["W2"] = v["h"].T @ d["logits"]
    d["b2"] = d["logits"].sum(0)
    d["hpreact"] = (1 - v["h"] ** 2) * d["h"]
    if "no_sum_bngain" in mistakes:
        d["bngain"] = v["bnraw"] * d["hpreact"]
    else:
        d["bngain"] = (v["bnraw"] * d["hpreact"]).sum(0, keepdims=True)
    d["bnbias"] = d["hpreact"].sum(0, keepdims=True)
    d["bnraw"] = v["bngain"] * d["hpreact"]
    if "wrong_axis_bnvar_inv" in mistakes:
        d["bnvar_inv"] = (v["bndiff"] * d["bnraw"]).sum(1, keepdims=True)
        dbnvar_inv = (v["bndiff"] * d["bnraw"]).sum(0, keepdims=True)
    else:
        d["bnvar_inv"] = dbnvar_inv = (v["bndiff"] * d["bnraw"]).sum(0, keepdims=True)
    d["bnvar"] = -0.5 * (v["bnvar"] + 1e-5) ** -1.5 * dbnvar_inv
    # Bessel's correction forgotten: 1/n where the forward pass has 1/(n-1)
    bessel = 1.0 / n if "bessel" in mistakes else 1.0 / (n - 1)
    d["bndiff2"] = bessel * np.ones_like(v["bndiff2"]) * d["bnvar"]
    d["bndiff"] = v["bnvar_inv"] * d["bnraw"]
    if "forgot_bndiff" not in mistakes:
        d["bndiff"] = d["bndiff"] + 2 * v["bndiff"] * d["bndiff2"]
    if "keepdims_bnmeani" in mistakes:
        d["bnmeani"] = (-d["bndiff"]).sum(0)  # the lecture's own: (H,), not (1, H)
    else:
        d["bnmeani"] = (-d["bndiff"]).sum(0, keepdims=True)
    d["hprebn"] = d["bndiff"].copy()
    if "hprebn_no_1_over_n" in mistakes:
        d["hprebn"] = d["hprebn"] + d["bnmeani"]
    elif "forgot_hprebn" not in mistakes:
        d["hprebn"] = d["hprebn"] + d["bnmeani"] / n
    d["embcat"] = d["hprebn"] @ v["W1"].T
    if "transpose_W1" in mistakes:
        d["W1"] = d["hprebn"].T @ v["embcat"]
    else:
        d["W1"] = v["embcat"].T @ d["hprebn"]
    d["b1"] = d["hprebn"].sum(0)
    d["emb"] = d["embcat"].reshape(v["emb"].shape)
    dC = np.zeros_like(v["C"])
    if "lost_repeats" in mistakes:
        dC[Xb] += d["emb"]  # buffered: a character seen k times adds one row, not k
    else:
        np.add.at(dC, Xb, d["emb"])
    d["C"] = dC
    return d


def bessel(cache):
    return _backward(cache, "bessel")


def no_sum_bngain(cache):
    return _backward(cache, "no_sum_bngain")


def wrong_axis_bnvar_inv(cache):
    return _backward(cache, "wrong_axis_bnvar_inv")


def keepdims_bnmeani(cache):
    return _backward(cache, "keepdims_bnmeani")


def no_mean_logprobs(cache):
    return _backward(cache, "no_mean_logprobs")


def hprebn_no_1_over_n(cache):
    return _backward(cache, "hprebn_no_1_over_n")


def forgot_counts(cache):
    return _backward(cache, "forgot_counts")


def forgot_bndiff(cache):
    return _backward(cache, "forgot_bndiff")


def forgot_hprebn(cache):
    return _backward(cache, "forgot_hprebn")


def forgot_logits(cache):
    return _backward(cache, "forgot_logits")


def lost_repeats(cache):
    return _backward(cache, "lost_repeats")


def transpose_W1(cache):
    return _backward(cache, "transpose_W1")


def dh_no_transpose(cache):
    return _backward(cache, "dh_no_transpose")


def float32_logprobs(cache):
    return _backward(cache, "float32_logprobs")


def two_mistakes(cache):
    """Branches forgotten in both counts and bndiff: each row diagnosed on its own."""
    return _backward(cache, "forgot_counts", "forgot_bndiff")


# -----------------------------------------------------------------------------
# exercise 2: dlogits

def _softmax(logits):
    counts = np.exp(logits - logits.max(1, keepdims=True))
    return counts / counts.sum(1, keepdims=True)


def ce_no_mean(logits, Yb):
    dlogits = _softmax(logits)
    dlogits[range(logits.shape[0]), Yb] -= 1
    return dlogits  # the /n of the mean forgotten


def ce_no_target(logits, Yb):
    return _softmax(logits) / logits.shape[0]  # the -1 at the target forgotten


def ce_float32(logits, Yb):
    dlogits = _softmax(logits)
    dlogits[range(logits.shape[0]), Yb] -= 1
    return (dlogits / logits.shape[0]).astype(np.float32)


# -----------------------------------------------------------------------------
# exercise 3: dhprebn

def bn_no_bessel(dhpreact, cache):
    n, k, raw = cache["n"], cache["bngain"] * cache["bnvar_inv"], cache["bnraw"]
    return k / n * (n * dhpreact - dhpreact.sum(0) - raw * (dhpreact * raw).sum(0))


def bn_no_variance(dhpreact, cache):
    n, k = cache["n"], cache["bngain"] * cache["bnvar_inv"]
    return k / n * (n * dhpreact - dhpreact.sum(0))


def bn_no_mean(dhpreact, cache):
    n, k, raw = cache["n"], cache["bngain"] * cache["bnvar_inv"], cache["bnraw"]
    return k / n * (n * dhpreact - n / (n - 1) * raw * (dhpreact * raw).sum(0))
