"""The grader's reference at any size: complex-step derivatives of the chunked forward.

    grads = complex_step_grads(cache, ("W1", "bnvar"))        # {name: dloss/dname}
    grads = complex_step_grads(cache, names, budget=20000)    # sampled where too dear

d loss / dx[i] = Im(loss(x + ih e_i)) / h, h = 1e-30: no difference of two
nearly equal numbers, so it is exact to rounding whatever the tensor's scale.
Central differences (eps 1e-6) are not: at batch 2 a column variance far
below the batchnorm eps makes bnvar and bndiff2 off by percents. Each
tensor's perturbations run only the graph downstream of it, many at once:
K copies along a leading axis (the forward below uses negative axes for that).
With a budget, a tensor with more elements than it gets a random sample of
elements (the rest NaN), and the row says so.
"""

import numpy as np

from npbackprop.layers import BN_EPS
from npbackprop.names import INTERMEDIATES

H_STEP = 1e-30
CHUNK_BYTES = 1 << 25       # 32 MB of complex values in the widest batched tensor
NOT_SAMPLED = np.nan


def _bn(v, name):
    n = v["n"]
    return {
        "hprebn": lambda: v["embcat"] @ v["W1"] + v["b1"],
        "bnmeani": lambda: 1.0 / n * v["hprebn"].sum(-2, keepdims=True),
        "bndiff": lambda: v["hprebn"] - v["bnmeani"],
        "bndiff2": lambda: v["bndiff"] ** 2,
        "bnvar": lambda: 1.0 / (n - 1) * v["bndiff2"].sum(-2, keepdims=True),
        "bnvar_inv": lambda: (v["bnvar"] + BN_EPS) ** -0.5,
        "bnraw": lambda: v["bndiff"] * v["bnvar_inv"],
        "hpreact": lambda: v["bngain"] * v["bnraw"] + v["bnbias"],
    }[name]()


def _line(v, name):
    """One line of the lecture's forward pass, on batched or plain values in v."""
    if name == "emb":
        return np.take(v["C"], v["Xb"], axis=-2)                   # ([K,] N, T, E)
    if name == "embcat":
        return v["emb"].reshape(v["emb"].shape[:-2] + (-1,))        # ([K,] N, T*E)
    if name in ("hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw",
                "hpreact"):
        return _bn(v, name)
    return {
        "h": lambda: np.tanh(v["hpreact"]),
        "logits": lambda: v["h"] @ v["W2"] + v["b2"],
        # complex max is by real part first: the max's derivative is its one-hot, as it must be
        "logit_maxes": lambda: v["logits"].max(-1, keepdims=True),
        "norm_logits": lambda: v["logits"] - v["logit_maxes"],
        "counts": lambda: np.exp(v["norm_logits"]),
        "counts_sum": lambda: v["counts"].sum(-1, keepdims=True),
        "counts_sum_inv": lambda: v["counts_sum"] ** -1,
        "probs": lambda: v["counts"] * v["counts_sum_inv"],
        "logprobs": lambda: np.log(v["probs"]),
        "loss": lambda: -v["logprobs"][..., np.arange(v["n"]), v["Yb"]].mean(-1),
    }[name]()


# the first line of the forward pass that reads each parameter
FIRST_USE = {"C": "emb", "W1": "hprebn", "b1": "hprebn", "bngain": "hpreact",
             "bnbias": "hpreact", "W2": "logits", "b2": "logits"}


def downstream_loss(cache, name, xk):
    """The loss of each of K copies of the tensor `name`, xk (K, *shape): only the lines
    after it run, the ones before are the cache's. Returns (K,)."""
    v = dict(cache)
    shape = np.shape(cache[name])
    if name in FIRST_USE:
        # a 1-d bias is added to (N, H) rows: give its copies a row axis
        v[name] = xk.reshape(xk.shape[:1] + (1,) * (len(shape) == 1) + shape)
        start = INTERMEDIATES.index(FIRST_USE[name])
    else:
        v[name] = xk
        start = INTERMEDIATES.index(name) + 1
    for line in INTERMEDIATES[start:]:
        v[line] = _line(v, line)
    return v["loss"]


def _width(cache, name):
    """The largest per-copy tensor downstream of `name`: what one copy costs in memory."""
    sizes = [np.size(cache[k]) for k in INTERMEDIATES[:-1]]
    return max(sizes + [np.size(cache[name])])


def complex_step_grads(cache, names, budget=None, rng=None, progress=None):
    """{name: d loss / d name} at the cache's point, by complex steps, in float64.

    cache: chunked.forward's cache (float64). budget: at most this many
    elements per tensor (a random sample, the others NaN), None for all.
    progress(done, total) is called after each chunk of perturbations.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    plans = {}
    for name in names:
        size = np.size(cache[name])
        take = size if budget is None or size <= budget else budget
        plans[name] = (np.arange(size) if take == size
                       else np.sort(rng.choice(size, take, replace=False)))
    total, done, grads = sum(len(p) for p in plans.values()), 0, {}
    for name, index in plans.items():
        x = np.asarray(cache[name], dtype=np.float64)
        k_max = max(1, CHUNK_BYTES // (16 * _width(cache, name)))
        flat = np.full(x.size, NOT_SAMPLED)
        for lo in range(0, len(index), k_max):
            idx = index[lo:lo + k_max]
            xk = np.repeat(x.reshape(1, -1).astype(np.complex128), len(idx), axis=0)
            xk[np.arange(len(idx)), idx] += 1j * H_STEP
            loss = downstream_loss(cache, name, xk.reshape((len(idx),) + x.shape))
            flat[idx] = loss.imag / H_STEP
            done += len(idx)
            if progress is not None:
                progress(done, total)
        grads[name] = flat.reshape(x.shape)
    return grads
