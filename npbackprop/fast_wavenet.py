"""Part 5's training step, fast: nets.sgd_step for the wavenet, rearranged.

    ws = Workspace(state, vocab_size, n_embd, n_hidden, block_size)
    loss, finite = fast_sgd_step(ws, Xb, Yb, lr)    # the same numbers as nets.sgd_step

The readable network (nets.wavenet, modules.py, layers.py) stays the
reference; tests hold this step equal to it. The tricks, each named where used:
- flat rows: a stage's (N, T', H) activation is kept as (N*T', H). Batchnorm
  over dims (0, 1) is then batchnorm over rows, and FlattenConsecutive(2) a
  reshape to (N*T'/2, 2H): every matmul is one 2-D BLAS call.
- first-layer tables: the first Linear sees two embeddings side by side, so
  x @ W = C[a] @ W[:E] + C[b] @ W[E:]; the products C @ W[:E] and C @ W[E:]
  (V, H) are computed once and gathered. Its backward sums dh into those
  tables with one one-hot matmul, and dW and dC come from (V, H) arrays.
- one flat buffer: parameters, then running statistics, in one array; the
  lr-scaled gradients (lr * grad, the cross-entropy backward starts scaled) in
  another of the same layout, so SGD is one `flat -= gflat` and the finiteness
  check one sum; the batch statistics in a third, laid out as the running ones,
  so the momentum update of all of them is two operations.
"""

import math

import numpy as np

from npbackprop.layers import BN_EPS
from npbackprop.nets import Workspace as _ReadableWorkspace


class Workspace(_ReadableWorkspace):
    """The state in one flat array (params first, then running statistics), the gradients
    in `gflat` laid out as the params, and the stage structure of the network."""

    def __init__(self, state, vocab_size, n_embd, n_hidden, block_size, momentum=0.1):
        super().__init__("wavenet", state, vocab_size, n_embd, n_hidden, block_size)
        names = list(self.net.params)
        self.n_params = sum(self.params[k].size for k in names)
        self.gflat = np.zeros(self.n_params, self.flat.dtype)
        self.grads, offset = {}, 0
        for k in names:
            self.grads[k] = self.gflat[offset:offset + self.params[k].size].reshape(
                self.params[k].shape)
            offset += self.params[k].size
        self.stages = [(f"{i}.weight", f"{i + 1}.gamma", f"{i + 1}.beta",
                        f"{i + 1}.running_mean", f"{i + 1}.running_var")
                       for i in range(2, len(self.net.modules) - 1, 4)]
        self.out = f"{len(self.net.modules) - 1}."
        self.E, self.V, self.momentum = n_embd, vocab_size, momentum
        self.eye = np.eye(2 * vocab_size, dtype=self.flat.dtype)   # one-hot rows, by lookup
        # the batch statistics laid out as the running ones (after the params in flat)
        self.running = self.flat[self.n_params:]
        self.batch_stats = np.empty_like(self.running)
        self.batch_mean_var = [self.batch_stats[2 * i * n_hidden:(2 * i + 2) * n_hidden]
                               .reshape(2, n_hidden) for i in range(len(self.stages))]


def _batchnorm_tanh(x, gain, bias, mean_var):
    """Batchnorm over the rows of x (M, H), Bessel-corrected, then tanh; as layers.py,
    rearranged: x is overwritten by x - mean, and gain * var_inv is one (H,) scale.
    The batch mean and variance are written into mean_var (2, H)."""
    n = x.shape[0]
    mean, var = mean_var
    np.divide(x.sum(0), n, out=mean)
    diff = np.subtract(x, mean, out=x)
    np.divide(np.einsum("ij,ij->j", diff, diff), n - 1, out=var)
    var_inv = (var + BN_EPS) ** -0.5
    h = diff * (gain * var_inv)
    h += bias
    np.tanh(h, out=h)
    return h, (diff, var_inv, mean, var)


def _tanh_batchnorm_backward(dh, h, gain, cache):
    """Through tanh, then exercise 3's fused batchnorm backward: (dx, dgain, dbias).

    dh is overwritten. With raw = diff * var_inv, exercise 3's
    dx = gain * var_inv / n * (n * dpre - dbias - n / (n - 1) * raw * dgain)
    is spread into (H,) factors so that each (M, H) array is touched once or twice."""
    diff, var_inv, _, _ = cache
    n = dh.shape[0]
    t = h * h
    np.subtract(1.0, t, out=t)
    dpre = np.multiply(dh, t, out=dh)
    dbias = dpre.sum(0)
    dgain = var_inv * np.einsum("ij,ij->j", diff, dpre)
    scale = gain * var_inv
    np.multiply(diff, scale * var_inv * dgain / (n - 1), out=t)
    dx = np.multiply(dpre, scale, out=dpre)
    dx -= t
    dx -= scale * dbias / n
    return dx, dgain, dbias


def fast_sgd_step(ws, Xb, Yb, lr):
    """One SGD step on ws, then the running statistics; nothing changes if not finite.

    Inputs: Xb int (N, T), Yb int (N,), lr. Returns (loss as a float, finite).
    """
    p, g, E, V = ws.params, ws.grads, ws.E, ws.V
    N = Xb.shape[0]
    C = p["0.weight"]                                              # (V, E)
    W1 = p[ws.stages[0][0]]                                        # (2E, H)
    # first-layer tables: one product per half of W1, gathered by the pair's characters
    left, right = C @ W1[:E], C @ W1[E:]                           # (V, H) each
    a, b = Xb[:, 0::2].reshape(-1), Xb[:, 1::2].reshape(-1)        # (N*T/2,)
    x = left[a] + right[b]                                         # flat rows (N*T/2, H)
    saved, h = [], None
    for s, (w, gam, bet, _, _) in enumerate(ws.stages):
        if s > 0:
            # FlattenConsecutive(2) of flat rows is a reshape; then the Linear, no bias
            x_in = h.reshape(-1, 2 * h.shape[1])                   # (M/2, 2H)
            x = x_in @ p[w]
        else:
            x_in = None
        h, cache = _batchnorm_tanh(x, p[gam], p[bet], ws.batch_mean_var[s])
        saved.append((x_in, h, cache))
    logits = h @ p[ws.out + "weight"] + p[ws.out + "bias"]         # (N, V)

    # cross-entropy and its fused backward (exercise 2)
    # (in place; and scaled by lr / N, so that every gradient below is lr * grad)
    norm = np.subtract(logits, logits.max(1, keepdims=True), out=logits)
    rows = np.arange(N)
    picked = norm[rows, Yb].sum()
    counts = np.exp(norm, out=norm)
    counts_sum = counts.sum(1, keepdims=True)
    loss = float(np.log(counts_sum).sum() - picked) / N
    dlogits = np.multiply(counts, (lr / N) / counts_sum, out=counts)
    dlogits[rows, Yb] -= lr / N

    np.matmul(h.T, dlogits, out=g[ws.out + "weight"])
    dlogits.sum(0, out=g[ws.out + "bias"])
    dh = dlogits @ p[ws.out + "weight"].T                          # (N, H)
    for s in reversed(range(len(ws.stages))):
        w, gam, bet, _, _ = ws.stages[s]
        x_in, h, cache = saved[s]
        dx, g[gam][...], g[bet][...] = _tanh_batchnorm_backward(dh, h, p[gam], cache)
        if s > 0:
            np.matmul(x_in.T, dx, out=g[w])
            dh = (dx @ p[w].T).reshape(-1, dx.shape[1])            # back to flat rows
    # first-layer tables, backward: dx summed into rows a of dleft and b of dright at once
    onehot = ws.eye[a] + ws.eye[b + V]                             # (M, 2V): a 1 at a, at V+b
    dtables = onehot.T @ dx                                        # (2V, H): dleft; dright
    dleft, dright = dtables[:V], dtables[V:]
    np.matmul(C.T, dleft, out=g[w][:E])
    np.matmul(C.T, dright, out=g[w][E:])
    g["0.weight"][...] = dleft @ W1[:E].T + dright @ W1[E:].T

    # a nan or inf anywhere in the gradients makes their sum nan or inf
    finite = math.isfinite(loss) and math.isfinite(float(ws.gflat.sum()))
    if finite:
        ws.flat[:ws.n_params] -= ws.gflat                         # gflat is lr * grad
        # every running statistic at once: (1 - m) * running + m * batch
        ws.running *= 1 - ws.momentum
        ws.running += ws.momentum * ws.batch_stats
    return loss, finite
