"""Why a gradient is wrong: each gradient as a sum of terms, and the known mistakes.

    terms = ex1_terms("hprebn", cache, grads)       # [(label, term, message if forgotten)]
    known_mistake(x, sum(t for _, t, _ in terms), terms, n, tol)   # one line, or ""

Owns the branch decomposition of exercise 1's 26 gradients (BRANCHES, USES)
and of the fused exercises 2 and 3, and the mistakes recognised in a wrong
one: a forgotten branch, a factor n, 1/n or n/(n-1), a flipped sign, an
unsummed broadcast or wrong axis, a transposed matmul, lost repeated indices.
A diagnosis is one line, or "" when nothing matches; the rows are report.py's.
"""

import numpy as np

from npbackprop import layers
from npbackprop.broadcast import unbroadcast
from npbackprop.layers import BN_EPS

# each gradient of exercise 1 as a sum of branches, one per use of its tensor:
# (the tensor the gradient comes back from, rule(v, g) with v the cache, g the gradients)

def _dlogprobs(v, g):
    d = np.zeros_like(v["logprobs"])
    d[np.arange(v["n"]), v["Yb"]] = -1.0 / v["n"]
    return d


def _onehot(index, shape):
    out = np.zeros(shape)
    out[np.arange(shape[0]), index] = 1.0
    return out


def _dC(v, g):
    return layers.embedding_backward(g["emb"], (v["Xb"], v["C"].shape))[1]


def _ub(x, v, name):
    # every sum over a broadcast axis is an unbroadcast to the tensor's shape
    return unbroadcast(x, v[name].shape)


BRANCHES = {
    "logprobs": (("loss", _dlogprobs),),
    "probs": (("logprobs", lambda v, g: g["logprobs"] / v["probs"]),),
    "counts_sum_inv": (("probs", lambda v, g: _ub(v["counts"] * g["probs"], v,
                                                  "counts_sum_inv")),),
    "counts_sum": (("counts_sum_inv", lambda v, g: -v["counts_sum"] ** -2 * g["counts_sum_inv"]),),
    "counts": (("probs", lambda v, g: v["counts_sum_inv"] * g["probs"]),
               ("counts_sum", lambda v, g: np.broadcast_to(g["counts_sum"], v["counts"].shape))),
    "norm_logits": (("counts", lambda v, g: v["counts"] * g["counts"]),),
    "logit_maxes": (("norm_logits", lambda v, g: _ub(-g["norm_logits"], v, "logit_maxes")),),
    "logits": (("norm_logits", lambda v, g: g["norm_logits"]),
               ("logit_maxes", lambda v, g: _onehot(v["logits"].argmax(1), v["logits"].shape)
                * g["logit_maxes"])),
    "h": (("logits", lambda v, g: g["logits"] @ v["W2"].T),),
    "W2": (("logits", lambda v, g: v["h"].T @ g["logits"]),),
    "b2": (("logits", lambda v, g: _ub(g["logits"], v, "b2")),),
    "hpreact": (("h", lambda v, g: (1.0 - v["h"] ** 2) * g["h"]),),
    "bngain": (("hpreact", lambda v, g: _ub(v["bnraw"] * g["hpreact"], v, "bngain")),),
    "bnbias": (("hpreact", lambda v, g: _ub(g["hpreact"], v, "bnbias")),),
    "bnraw": (("hpreact", lambda v, g: v["bngain"] * g["hpreact"]),),
    "bnvar_inv": (("bnraw", lambda v, g: _ub(v["bndiff"] * g["bnraw"], v, "bnvar_inv")),),
    "bnvar": (("bnvar_inv", lambda v, g: -0.5 * (v["bnvar"] + BN_EPS) ** -1.5 * g["bnvar_inv"]),),
    "bndiff2": (("bnvar", lambda v, g: np.broadcast_to(g["bnvar"] / (v["n"] - 1),
                                                       v["bndiff2"].shape)),),
    "bndiff": (("bnraw", lambda v, g: v["bnvar_inv"] * g["bnraw"]),
               ("bndiff2", lambda v, g: 2.0 * v["bndiff"] * g["bndiff2"])),
    "bnmeani": (("bndiff", lambda v, g: _ub(-g["bndiff"], v, "bnmeani")),),
    "hprebn": (("bndiff", lambda v, g: g["bndiff"]),
               ("bnmeani", lambda v, g: np.broadcast_to(g["bnmeani"] / v["n"],
                                                        v["hprebn"].shape))),
    "embcat": (("hprebn", lambda v, g: g["hprebn"] @ v["W1"].T),),
    "W1": (("hprebn", lambda v, g: v["embcat"].T @ g["hprebn"]),),
    "b1": (("hprebn", lambda v, g: _ub(g["hprebn"], v, "b1")),),
    "emb": (("embcat", lambda v, g: g["embcat"].reshape(v["emb"].shape)),),
    "C": (("emb", _dC),),
}

# the two uses of each tensor the forward pass uses twice
USES = {
    "counts": "probs = counts * counts_sum_inv, counts_sum = counts.sum(1)",
    "logits": "norm_logits = logits - logit_maxes, logit_maxes = logits.max(1)",
    "bndiff": "bnraw = bndiff * bnvar_inv, bndiff2 = bndiff**2",
    "hprebn": "bndiff = hprebn - bnmeani, bnmeani = 1/n * hprebn.sum(0)",
}

MATMUL = {"h": "dh = dlogits @ W2.T", "W2": "dW2 = h.T @ dlogits",
          "embcat": "dembcat = dhprebn @ W1.T", "W1": "dW1 = embcat.T @ dhprebn"}


def ex1_terms(name, v, g):
    """[(label, term, message if forgotten)] whose sum is d`name`, from upstream grads g."""
    branches = BRANCHES[name]
    return [(label, np.asarray(rule(v, g), dtype=np.float64),
             f"a branch is forgotten: {name} is used twice ({USES.get(name)}); "
             f"the gradient through {label} is missing") for label, rule in branches]


def ex2_terms(v):
    """dlogits = softmax(logits)/n - onehot(Yb)/n, as its two terms."""
    n, logits = v["n"], v["logits"]
    _, (p, _) = layers.cross_entropy_forward(logits, v["Yb"])  # p = softmax(logits)
    return [("softmax", p / n,
             "only the -1 at the target: the softmax(logits) term is missing"),
            ("the target", -_onehot(v["Yb"], logits.shape) / n,
             "the -1 at the target is missing: dlogits = (softmax(logits) - onehot(Yb)) / n")]


def ex3_terms(v, dhpreact):
    """The fused batchnorm backward, dhprebn, as its direct, mean and variance terms."""
    n, raw = v["n"], v["bnraw"]
    k = v["bngain"] * v["bnvar_inv"]                                   # (1, H)
    # both sums over the batch undo the broadcast of bnmeani and bnvar
    return [("the direct path", k * dhpreact,
             "the direct path bngain * bnvar_inv * dhpreact is missing"),
            ("bnmeani", -k / n * unbroadcast(dhpreact, k.shape),
             "the path through the mean (bnmeani) is missing: the -dhpreact.sum(0)/n term"),
            ("bnvar", -k / (n - 1) * raw * unbroadcast(dhpreact * raw, k.shape),
             "the path through the variance (bnvar) is missing: the bnraw * (dhpreact*bnraw)"
             ".sum(0) term")]


# -----------------------------------------------------------------------------
# known mistakes: what a wrong gradient equals

def close(x, y, tol):
    """x has y's shape and passes tol (atol, rtol) against it elementwise."""
    return x.shape == np.shape(y) and bool(np.allclose(x, y, atol=tol.atol, rtol=tol.rtol))


def _factors(n):
    """Known wrong factors of a gradient, each with what it usually means."""
    return [
        (n, f"{n} times too large (a factor n): the 1/n of the mean is missing"),
        (1 / n, f"{n} times too small (a factor 1/n): the mean's 1/n is applied twice"),
        ((n - 1) / n, f"off by a factor (n-1)/n = {n - 1}/{n}: Bessel's correction, "
                      f"bnvar divides by n-1, not n"),
        (n / (n - 1), f"off by a factor n/(n-1) = {n}/{n - 1}: Bessel's correction where it "
                      f"does not belong (only bnvar divides by n-1; bnmeani by n)"),
        (-1.0, "the sign is flipped"),
        (2.0, "twice too large"),
        (0.5, "half the right value (the 2 of d(x**2) = 2x?)"),
    ]


def known_mistake(x, expected, terms, n, tol, specific=()):
    """The first known mistake that x matches, as one line ("" if none).

    expected: the right answer; terms: [(label, term, forgot)] summing to it;
    specific: (alternative, message) pairs tried first. An alternative counts
    only if it is itself distinguishable from the right answer.
    """
    def matches(alt):
        return close(x, alt, tol) and not close(np.asarray(alt), expected, tol)

    if not np.any(x) and np.any(expected):
        return "all zeros: a placeholder left in?"
    for alt, message in specific:
        if alt is not None and matches(alt):
            return message
    several = len(terms) > 1
    for label, term, forgot in terms if several else ():
        if matches(expected - term):
            return forgot
    for f, phrase in _factors(n):
        if matches(f * expected):
            return phrase
    for label, term, _ in terms if several else ():
        for f, phrase in _factors(n):
            if matches(expected + (f - 1) * term):
                return f"the term through {label} is {phrase}"
    return ""


def fused_diagnosis(terms, n, tol, specific=()):
    """diagnose(x) for a fused exercise (2 or 3) whose right answer is the sum of terms."""
    expected = sum(t for _, t, _ in terms)
    return lambda x: known_mistake(x, expected, terms, n, tol, specific)


def biased_batchnorm(v, dhpreact):
    """The most common real Bessel mistake, as (its dhprebn, its message): a standard
    batchnorm (variance divided by n, as np.var) run end to end from hprebn."""
    x, n = v["hprebn"], v["n"]
    var = x.var(0, keepdims=True)                                      # (1, H), biased
    raw = (x - x.mean(0, keepdims=True)) / np.sqrt(var + BN_EPS)
    d = v["bngain"] * dhpreact                                         # dbnraw
    dx = (n * d - d.sum(0) - raw * (d * raw).sum(0)) / (n * np.sqrt(var + BN_EPS))
    return [(dx, f"a biased batchnorm (variance divided by n, as np.var or CS231n's) run "
                 f"end to end: about sqrt(n/(n-1)) = sqrt({n}/{n - 1}) times the right "
                 f"dhprebn; the lecture's bnvar divides by n-1 (np.var(..., ddof=1))")]


# -----------------------------------------------------------------------------
# exercise 1, line by line

def as_upstream(x, ref):
    """A learner's array as it can stand in for `ref` in a computation, or None: one of
    the right size in another shape ((64,) for (1, 64)) is reshaped and used."""
    if not (isinstance(x, np.ndarray) and x.size == ref.size and x.dtype.kind in "fiu"
            and [s for s in x.shape if s != 1] == [s for s in ref.shape if s != 1]):
        return None
    x = x.reshape(ref.shape).astype(np.float64)
    return x if bool(np.all(np.isfinite(x))) else None


def diagnose_ex1(name, x, v, ref, yours, rows, tol):
    """Why the learner's d`name` is wrong, judged line by line.

    The right value of this line is computed from the learner's own upstream
    gradients where they are wrong but usable, so a mistake upstream reads as
    "follows from", and a mistake here is named even below another one.
    ref: {name: reference gradient}; yours: {name: the learner's}; rows: the
    rows graded so far, by name (only .attempted and .ok are read).
    """
    g, wrong = dict(ref), []
    for up, _ in BRANCHES[name]:
        if up in rows and rows[up].attempted and not rows[up].ok:
            wrong.append(up)
            theirs = as_upstream(yours.get(up), ref[up])
            if theirs is None:
                # no line can be judged from a reference it did not see
                return f"d{up} above is wrong ({rows[up].status}): fix the rows in order"
            g[up] = theirs
    terms = ex1_terms(name, v, g)
    expected = sum(t for _, t, _ in terms)
    if wrong and close(x, expected, tol):
        return f"follows from the wrong d{wrong[0]} above (this line is right given it)"
    specific = []
    if name == "C":
        lost = np.zeros_like(v["C"])
        lost[v["Xb"]] += g["emb"]  # numpy's buffered += keeps one row per repeated index
        specific.append((lost, "repeated characters lost in the scatter: dC[Xb] += demb keeps "
                               "one row per repeated index; use np.add.at(dC, Xb, demb)"))
    if name in MATMUL and x.ndim == 2 and x.shape[0] == x.shape[1]:
        specific.append((expected.T, f"equals the transpose of the right answer: {MATMUL[name]}"))
    if name == "h" and v["W2"].shape[0] == v["W2"].shape[1]:
        specific.append((g["logits"] @ v["W2"], f"equals dlogits @ W2: {MATMUL['h']}"))
    # a + where the chain rule (or the power rule) multiplies: real learners' slips
    if name == "hpreact":
        specific.append(((1.0 - v["h"]**2) + g["h"], "a + where the chain rule multiplies: "
                         "dhpreact = (1.0 - h**2) * dh"))
    if name == "bnvar":
        specific.append(((-0.5 + (v["bnvar"] + 1e-5)**-1.5) * g["bnvar_inv"],
                         "a + where the power rule multiplies: d/dx x**-0.5 is "
                         "-0.5 * x**-1.5, so dbnvar = (-0.5 * (bnvar + 1e-5)**-1.5) * dbnvar_inv"))
    if name == "hprebn" and "hpreact" not in wrong:
        specific += biased_batchnorm(v, g["hpreact"])
    if name == "embcat" and v["W1"].shape[0] == v["W1"].shape[1]:
        specific.append((g["hprebn"] @ v["W1"], f"equals dhprebn @ W1: {MATMUL['embcat']}"))
    found = known_mistake(x, expected, terms, v["n"], tol, specific)
    if found:
        return found + (f" (and d{wrong[0]} above is wrong too)" if wrong else "")
    return f"d{wrong[0]} above is wrong too: fix the rows in order" if wrong else ""


def forgotten_logit_maxes(yours, v):
    """A note for a passing dlogits computed without the logit_maxes branch, else "".

    That branch is ~0, so dlogits passes without it; say so when the learner's
    dlogits equals dnorm_logits exactly and the branch would have changed it.
    """
    dl, dn, dm = (yours.get(k) for k in ("logits", "norm_logits", "logit_maxes"))
    shape = v["logits"].shape
    if not (isinstance(dl, np.ndarray) and isinstance(dn, np.ndarray)
            and isinstance(dm, np.ndarray) and dl.shape == dn.shape == shape
            and dm.shape == v["logit_maxes"].shape and dn.dtype.kind == dm.dtype.kind == "f"):
        return ""
    with_branch = dn + _onehot(v["logits"].argmax(1), shape) * dm
    if np.array_equal(dl, dn) and not np.array_equal(with_branch, dn):
        return ("passes, but the branch through logit_maxes looks forgotten (dlogits == "
                "dnorm_logits exactly); harmless here since dlogit_maxes is ~0")
    return ""
