"""A real learner's exercise-1 solution, ported: the mistakes kept, the rest made to run.

Source: github.com/mrkkrj/generate-words, MultilayerPerceptron-BatchNorm-4-backprop.py
(a PyTorch script written beside the lecture, MIT licence). Ported here as a learner
porting to numpy would: torch spellings turned into numpy ones, the learner's own
names mapped to the lecture's (bnorm_gain -> bngain, hpreact_bn -> hprebn, bndiff_sq
-> bndiff2, bnmean_i -> bnmeani), comments dropped. Kept, as the learner wrote them:
  - dhpreact = (1 - h**2) + dh         (a + where the chain rule needs a *)
  - dbnvar = (-0.5 + (bnvar + 1e-5)**-1.5) * dbnvar_inv    (a + for a * again)
  - dbnmeani = (-dbndiff).sum(0)       (shape (64,): the lecture's own slip)
  - the typo `(bndiff * dbnraw),sum(0, ...)` (a comma for a dot) in TYPO only
"""

UPSTREAM = """\
dlogprobs = np.zeros_like(logprobs)
dlogprobs[range(n), Yb] = -1.0/n
dprobs = (1.0 / probs) * dlogprobs
dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)
dcounts = counts_sum_inv * dprobs
dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
dcounts += np.ones_like(counts) * dcounts_sum
dnorm_logits = (counts) * dcounts
dlogits = dnorm_logits.copy()
dlogit_maxes = (-dnorm_logits).sum(1, keepdims=True)
dlogits += np.eye(logits.shape[1])[logits.argmax(1)] * dlogit_maxes
dh = dlogits @ W2.T
dW2 = h.T @ dlogits
db2 = dlogits.sum(0)
dhpreact = (1 - h**2) + dh
dbngain = (bnraw * dhpreact).sum(0, keepdims=True)
dbnraw = bngain * dhpreact
dbnbias = dhpreact.sum(0, keepdims=True)
dbndiff = bnvar_inv * dbnraw
"""

BNVAR_INV = "dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)\n"
TYPO = "dbnvar_inv = (bndiff * dbnraw),sum(0, keepdims=True)\n"

DOWNSTREAM = """\
dbnvar = (-0.5+(bnvar + 1e-5)**-1.5) * dbnvar_inv
dbndiff2 = (1.0/(n-1)) * np.ones_like(bndiff2) * dbnvar
dbndiff += (2*bndiff) * dbndiff2
dhprebn = dbndiff.copy()
dbnmeani = (-dbndiff).sum(0)
dhprebn += 1.0/n * (np.ones_like(hprebn) * dbnmeani)
dembcat = dhprebn @ W1.T
dW1 = embcat.T @ dhprebn
db1 = dhprebn.sum(0)
demb = dembcat.reshape(emb.shape)
dC = np.zeros_like(C)
for k in range(Xb.shape[0]):
    for j in range(Xb.shape[1]):
        ix = Xb[k, j]
        dC[ix] += demb[k, j]
"""

AS_WRITTEN = UPSTREAM + TYPO + DOWNSTREAM       # raises at the typo
TYPO_FIXED = UPSTREAM + BNVAR_INV + DOWNSTREAM  # runs: the two + mistakes remain
