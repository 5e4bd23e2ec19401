"""The lecture's own answers to exercises 1-3, cell by cell, translated to numpy.

Each is the text of a notebook cell, run by the tests in a namespace from
npbackprop.check.lecture_setup() (or as cells of a small .ipynb). The lines
are the lecture's, torch spellings turned into numpy ones and nothing else:
its dbnmeani is (64,), not (1, 64), and its db1 is (64,).
"""

EX1 = """\
dlogprobs = np.zeros_like(logprobs)
dlogprobs[range(n), Yb] = -1.0/n
dprobs = (1.0 / probs) * dlogprobs
dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)
dcounts = counts_sum_inv * dprobs
dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
dcounts += np.ones_like(counts) * dcounts_sum
dnorm_logits = counts * dcounts
dlogits = dnorm_logits.copy()
dlogit_maxes = (-dnorm_logits).sum(1, keepdims=True)
dlogits += np.eye(logits.shape[1])[logits.argmax(1)] * dlogit_maxes
dh = dlogits @ W2.T
dW2 = h.T @ dlogits
db2 = dlogits.sum(0)
dhpreact = (1.0 - h**2) * dh
dbngain = (bnraw * dhpreact).sum(0, keepdims=True)
dbnraw = bngain * dhpreact
dbnbias = dhpreact.sum(0, keepdims=True)
dbndiff = bnvar_inv * dbnraw
dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)
dbnvar = (-0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv
dbndiff2 = (1.0/(n-1))*np.ones_like(bndiff2) * dbnvar
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
    ix = Xb[k,j]
    dC[ix] += demb[k,j]
"""

EX2 = """\
dlogits = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
dlogits[range(n), Yb] -= 1
dlogits /= n
"""

EX3 = """\
dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0)
                                 - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))
"""


def run_cells(ns, *cells):
    """Run cells in the namespace ns (numpy as np), as a notebook runs them; returns ns."""
    import numpy as np

    ns.setdefault("np", np)
    for cell in cells:
        exec(cell, ns)
    return ns
