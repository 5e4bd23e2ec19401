"""A measured prototype, not used by the package: the part-5 step on each stage's distinct rows.

    python benchmarks/prototype_distinct_rows.py NAMES_FILE   # checks it, then times it

Contexts of names repeat: in random minibatches of 32 from names.txt, 37.5% of
the stage-0 rows (character pairs) are distinct, 56% of stage 1's (windows of
4) and 87% of stage 2's (whole contexts), mostly the '.' padding of a word's
start. Rows with the same characters have the same activations, so each stage
here computes its distinct rows once: batchnorm's statistics weight each row
by its count, the backward's row-constant term is multiplied by it, and the
gradients of a stage's inputs are summed into the previous stage's distinct
rows by a (U_prev, 2U) one-hot product. The arithmetic is fast_wavenet's
otherwise (float64: parameters within 5e-14 relative of nets.sgd_step).

Measured in session 23 (AMD EPYC Zen 4, OpenBLAS SkylakeX kernels, one
thread, 12 interleaved rounds of 200 steps on real minibatches): 389.3 us
beside fast_wavenet's 433.5 (0.898); the weight matmuls of stages 1-2 fall
from ~226 to ~167 us, but grouping (~16 us), the one-hot sums (~23 us) and
the gathers (~11 us) take back half. Not merged: 0.9x does not reach the 4x
of issue 14 (it would need ~359 us), and on data without repeats (uniform
random characters) it would be slower than fast_wavenet.
"""
import math
import numpy as np
from npbackprop.fast import _empty, all_finite, check_batch
from npbackprop.fast_wavenet import Workspace, _ones  # noqa


class Buffers:
    def __init__(self, ws, N):
        dtype, H, V = ws.flat.dtype, ws.H, ws.V
        rows = [N * ws.T >> (s + 1) for s in range(len(ws.stages))]
        self.rows = rows
        new = [_empty((M, H), dtype) for M in rows for _ in range(6)]
        self.x, self.h, self.dh, self.tmp, self.tile, self.ctile = (new[i::6] for i in range(6))
        self.xin = [_empty((M, 2 * H), dtype) for M in rows]
        self.din = [_empty((M, 2 * H), dtype) for M in rows]
        self.dxT = [_empty(2 * H * M, dtype) for M in rows]
        self.S = [_empty(4 * M * M, dtype) for M in rows]   # (U_{s-1}, 2 U_s)
        self.cnt = [_empty(M, dtype) for M in rows]
        self.mean_w = [_empty(M, dtype) for M in rows]
        self.var_w = [_empty(M, dtype) for M in rows]
        self.ones = [_ones(M, dtype) for M in rows]
        self.inv_n = [np.array(1 / M, dtype) for M in rows]
        self.bessel = [np.array(1 / (M - 1), dtype) for M in rows]
        self.var_inv, self.scale, self.coef, self.shift = (
            [_empty(H, dtype) for _ in rows] for _ in range(4))
        self.tables = _empty((2, V, H), dtype)
        self.onehot = _empty(rows[0] * 2 * V, dtype)
        self.logits_u = _empty((N, V), dtype)
        self.logits = _empty((N, V), dtype)
        self.logits_flat = self.logits.reshape(-1)
        self.tile_vocab = _empty((N, V), dtype)
        self.ones_N, self.ones_V = _ones(N, dtype), _ones(V, dtype)
        self.row_starts, self.picks = np.arange(N) * V, _empty(N, np.intp)
        self.counts_sum, self.losses = _empty(N, dtype), _empty(N, dtype)
        self.counts_sum_col = self.counts_sum[:, None]
        self.n_over_lr = np.array(1.0, dtype)
        self.Sout = _empty(N * N, dtype)
        self.dlog_u = _empty((N, V), dtype)
        self.gC = _empty((2, V, ws.E), dtype)
        self.tiny = np.finfo(dtype).tiny / np.finfo(dtype).eps
        self.ar = np.arange(2 * rows[0])
        self.mean_var = [tuple(mv) for mv in ws.batch_mean_var]
        self.new = np.empty(rows[0], bool)
        self.lut = np.empty(max(V * V, rows[0] * rows[0]), np.intp)
        self.pos = np.empty(rows[0], np.intp)


def _groups(b, keys):
    """Rows with equal keys (ints below b.lut's size): (inv (M,), first (U,), counts (U,)).
    Any row of a key may win the lut write: each key gets one representative."""
    M = keys.shape[0]
    ar = b.ar[:M]
    lut = b.lut
    lut[keys] = ar
    rep = lut[keys]
    first = np.equal(rep, ar, b.new[:M]).nonzero()[0]
    pos = b.pos
    pos[first] = ar[:first.shape[0]]
    inv = pos[rep]
    return inv, first, np.bincount(inv)


def step(ws, Xb, Yb, lr):
    p, g, E, V, H = ws.params, ws.grads, ws.E, ws.V, ws.H
    if ws.check_batches:
        check_batch(Xb, Yb, (None, ws.T), V)
    N = Xb.shape[0]
    b = ws.buffers.get(N)
    if b is None:
        b = ws.buffers[N] = Buffers(ws, N)
    dot, multiply, subtract, eps, one = np.dot, np.multiply, np.subtract, ws.eps, ws.one
    C = p["0.weight"]
    W1 = p[ws.stages[0][0]]
    tables = np.matmul(C, W1.reshape(2, E, -1), out=b.tables)
    pairs = Xb.reshape(-1, 2)
    a, c = pairs[:, 0], pairs[:, 1]
    inv, first, cnt = _groups(b, a * V + c)
    au, cu = a[first], c[first]
    U = cnt.shape[0]
    x = np.add(tables[0][au], tables[1][cu], b.x[0][:U])
    Us, children = [U], [None]
    h = None
    for s, (w, gam, bet, _, _) in enumerate(ws.stages):
        if s > 0:
            pr = inv.reshape(-1, 2)
            inv, first, cnt = _groups(b, pr[:, 0] * U + pr[:, 1])
            U = cnt.shape[0]
            ch = pr[first].reshape(-1)
            Us.append(U)
            children.append(ch)
            xin = b.xin[s][:U]
            h.take(ch, 0, xin.reshape(-1, H))
            x = dot(xin, p[w], b.x[s][:U])
        cf = b.cnt[s][:U]
        cf[...] = cnt
        mean, var = b.mean_var[s]
        dot(multiply(cf, b.inv_n[s], b.mean_w[s][:U]), x, mean)
        tile, hh, tmp = b.tile[s][:U], b.h[s][:U], b.tmp[s][:U]
        tile[...] = mean
        diff = subtract(x, tile, x)
        dot(multiply(cf, b.bessel[s], b.var_w[s][:U]), multiply(diff, diff, hh), var)
        var_inv = np.add(var, eps, b.var_inv[s])
        np.reciprocal(np.sqrt(var_inv, var_inv), var_inv)
        tile[...] = multiply(p[gam], var_inv, b.scale[s])
        hh = multiply(diff, tile, hh)
        tmp[...] = p[bet]
        np.add(hh, tmp, hh)
        h = np.tanh(hh, hh)
        b.ctile[s][:U] = cf[:, None]
    # the output on the last stage's distinct rows, gathered back to the batch's
    lu = dot(h, p[ws.out + "weight"], b.logits_u[:U])
    logits = lu.take(inv, 0, b.logits)
    b.tile_vocab[...] = p[ws.out + "bias"]
    np.add(logits, b.tile_vocab, logits)
    picks = np.add(b.row_starts, Yb, b.picks)
    picked = b.logits_flat[picks]
    counts = np.exp(logits, b.tile_vocab)
    counts_sum = dot(counts, b.ones_V, b.counts_sum)
    loss = math.nan
    in_range = counts_sum[counts_sum.argmin()] > b.tiny
    if in_range:
        loss = float(dot(b.ones_N, subtract(np.log(counts_sum, b.losses), picked, b.losses))) / N
    if not (in_range and math.isfinite(loss)):
        maxes = logits.max(1)
        counts = np.exp(logits - maxes[:, None], b.tile_vocab)
        counts_sum = dot(counts, b.ones_V, b.counts_sum)
        loss = float(np.log(counts_sum).sum() - (picked - maxes).sum()) / N
    counts.reshape(-1)[picks] -= counts_sum
    b.n_over_lr[...] = N / lr
    multiply(counts_sum, b.n_over_lr, counts_sum)
    b.logits[...] = b.counts_sum_col
    dlogits = np.divide(counts, b.logits, counts)
    S = b.Sout[:U * N].reshape(U, N)
    S.fill(0)
    S.reshape(-1)[inv * N + b.ar[:N]] = 1
    dlog_u = dot(S, dlogits, b.dlog_u[:U])
    dot(h.T, dlog_u, g[ws.out + "weight"])
    dot(b.ones_N, dlogits, g[ws.out + "bias"])
    last = len(ws.stages) - 1
    dh = dot(dlog_u, p[ws.out + "weight"].T, b.dh[last][:U])
    for s in reversed(range(len(ws.stages))):
        w, gam, bet, _, _ = ws.stages[s]
        U = Us[s]
        diff, hh, t, var_inv = b.x[s][:U], b.h[s][:U], b.tmp[s][:U], b.var_inv[s]
        ones = b.ones[s][:U]
        subtract(one, multiply(hh, hh, t), t)
        dpre = multiply(dh, t, dh)
        dbias = dot(ones, dpre, g[bet])
        dgain = g[gam]
        multiply(dot(ones, multiply(diff, dpre, t), dgain), var_inv, dgain)
        coef = multiply(multiply(dgain, var_inv, b.coef[s]), b.bessel[s], b.coef[s])
        t = multiply(diff, coef, t)
        np.add(t, multiply(dbias, b.inv_n[s], b.shift[s]), t)
        multiply(t, b.ctile[s][:U], t)
        subtract(dpre, t, t)
        dx = multiply(t, b.tile[s][:U], t)
        if s > 0:
            Up = Us[s - 1]
            xin = b.xin[s][:U]
            dot(xin.T, dx, g[w])
            din = b.din[s][:U]
            if U > 48:
                dot(dx, p[w].T, din)
            else:
                np.copyto(din, dot(p[w], dx.T, b.dxT[s][:2 * H * U].reshape(2 * H, U)).T)
            S = b.S[s][:Up * 2 * U].reshape(Up, 2 * U)
            S.fill(0)
            S.reshape(-1)[children[s] * (2 * U) + b.ar[:2 * U]] = 1
            dh = dot(S, din.reshape(-1, H), b.dh[s - 1][:Up])
    U = Us[0]
    oh = b.onehot[:U * 2 * V].reshape(U, 2 * V)
    oh.fill(0)
    rows2 = b.ar[:U] * (2 * V)
    oh.reshape(-1)[rows2 + au] = 1
    oh.reshape(-1)[rows2 + (cu + V)] = 1
    dtables = dot(oh.T, dx, b.tables.reshape(2 * V, -1)).reshape(2, V, -1)
    np.matmul(C.T, dtables, out=g[ws.stages[0][0]].reshape(2, E, -1))
    gC = np.matmul(dtables, W1.reshape(2, E, -1).transpose(0, 2, 1), out=b.gC)
    np.add(gC[0], gC[1], g["0.weight"])
    finite = math.isfinite(loss) and all_finite(ws.gflat)
    if finite:
        subtract(ws.flat[:ws.n_params], ws.gflat, ws.flat[:ws.n_params])
        ws.running *= 1 - ws.momentum
        ws.running += ws.momentum * ws.batch_stats
    return loss, finite


if __name__ == "__main__":
    import sys
    import time

    from npbackprop import data, nets

    def _pair(state, V, E, H, T):
        return Workspace(state, V, E, H, T), nets.Workspace("wavenet", state, V, E, H, T)

    for (N, T, V) in [(5, 8, 3), (20, 8, 3), (4, 4, 5), (3, 2, 2)]:
        state = nets.init_state("wavenet", V, 3, 4, T, rng=np.random.default_rng(1),
                                dtype=np.float64)
        fast, readable = _pair(state, V, 3, 4, T)
        rng = np.random.default_rng(2)
        for _ in range(3):
            Xb, Yb = rng.integers(0, V, (N, T)), rng.integers(0, V, N)
            assert math.isclose(step(fast, Xb, Yb, 0.1)[0],
                                nets.workspace_sgd_step(readable, Xb, Yb, 0.1)[0], rel_tol=1e-12)
        worst = max(np.abs(fast.params[k] - v).max() / np.abs(v).max()
                    for k, v in readable.params.items())
        print(f"N {N} T {T} V {V}: worst relative parameter difference {worst:.1e}")
    ds = data.load_dataset(sys.argv[1], block_size=8)
    X, Y = ds.Xtr, ds.Ytr
    rng = np.random.default_rng(0)
    batches = [(X[i], Y[i]) for i in (rng.integers(0, len(X), 32) for _ in range(400))]
    state = nets.init_state("wavenet", 27, 24, 128, 8, rng=np.random.default_rng(42),
                            dtype=np.float32)
    from npbackprop import fast_wavenet
    variants = {"fast_wavenet": (fast_wavenet.fast_sgd_step, Workspace(
        state, 27, 24, 128, 8, check_batches=False)),
        "distinct rows": (step, Workspace(state, 27, 24, 128, 8, check_batches=False))}
    times = {k: [] for k in variants}
    for r in range(12):
        for k, (f, ws) in variants.items():
            t = time.perf_counter()
            for i in range(200):
                f(ws, *batches[i % 400], 0.1)
            times[k].append((time.perf_counter() - t) / 200 * 1e6)
    base = np.median(times["fast_wavenet"][2:])
    for k, v in times.items():
        print(f"{k:14s} {np.median(v[2:]):7.1f} us/step  x {np.median(v[2:]) / base:.3f}")
