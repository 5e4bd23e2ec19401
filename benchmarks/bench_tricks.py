"""The tricks of fast.fast_sgd_step, each timed against what it replaces.

Two tables at the lecture's sizes (N 32, T 3, E 10, H 200, V 27, float32,
one BLAS thread). First, micro-benchmarks: each trick's statement against
the one it replaces, in microseconds per call. Second (--ablation), the
whole step with one trick undone at a time, in microseconds per step: each
variant is fast_sgd_step's own source with a few lines put back the way
they were, so the table says what each trick buys in place. In both, the
statements (or variants) alternate within every round and the numbers are
medians over the rounds. benchmarks/RESULTS.md holds these tables, under the
trick names that fast.py's comments use.

    python benchmarks/bench_tricks.py --ablation
"""

import argparse
import gc
import inspect
import math
import re
import statistics
import sys
import textwrap
import time
import timeit
from pathlib import Path
from unittest import mock

# run from a checkout without installing: the package is beside this folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from npbackprop import data, datafile, fast, fast_workspace, model  # noqa: E402
from npbackprop.bench import harness  # noqa: E402
from npbackprop.layers import BN_EPS  # noqa: E402
from npbackprop.names import PARAM_NAMES  # noqa: E402

N, T, E, H, V = 32, 3, 10, 200, 27

# (what, the plain way, the other way, per): both statements run on the names
# in setup(); the second is divided by `per` (a draw for 1000 steps at once)
TRICKS = [
    ("batch sum of an (N, H) array", "x.sum(0)", "np.dot(ones, x, out=colH)", 1),
    ("batch mean of an (N, H) array", "x.mean(0)", "np.dot(ones_n, x, out=colH)", 1),
    ("x * row on (N, H): broadcast vs tile + same shape", "np.multiply(x, row, out=y)",
     "tileH[...] = row; np.multiply(x, tileH, out=y)", 1),
    ("x - row on (N, T*E): broadcast vs tile", "np.subtract(e, erow, out=e2)",
     "tileTE[...] = erow; np.subtract(e, tileTE, out=e2)", 1),
    ("counts / counts_sum on (N, V): broadcast vs tile", "np.divide(L, rowN_col, out=L2)",
     "tileV[...] = rowN_col; np.divide(L, tileV, out=L2)", 1),
    ("a call: np.multiply(out=) vs local, positional", "np.multiply(x, x2, out=y)",
     "multiply(x, x2, y)", 1),
    ("scalar operand: Python float vs 0-d array", "np.add(colH, 1e-5, out=colH)",
     "np.add(colH, eps, out=colH)", 1),
    ("targets' -= : Python float vs (N,) array", "Lflat[picks] -= 0.003",
     "Lflat[picks] -= rowN", 1),
    ("(var + eps) ** -0.5 vs 1 / sqrt", "pos **= -0.5",
     "np.reciprocal(np.sqrt(pos, out=pos), out=pos)", 1),
    ("(1, H) *= (H,) vs (H,) *= (H,)", "gain1H *= oneH", "np.multiply(gainH, oneH, out=gainH)", 1),
    ("tanh of (N, H), new array vs out=", "np.tanh(x)", "np.tanh(x, out=y)", 1),
    ("embedding gather: np.take vs the method", "np.take(C, Xb, axis=0, out=emb)",
     "C.take(Xb, 0, emb)", 1),
    ("one-hot: fill + fancy set vs identity rows",
     "onehotVN.fill(0); onehotVN[Xflat, positions] = 1", "eye.take(Xb, 0, onehot, 'wrap')", 1),
    ("dC scatter-add: add.at vs one-hot matmul", "dC.fill(0); np.add.at(dC, Xflat, demb)",
     "eye.take(Xb, 0, onehot, 'wrap'); np.dot(onehotT, demb, out=dC)", 1),
    ("softmax row-max shift vs the range check", "np.subtract(L, "
     "np.maximum.reduce(L, axis=1, out=rowN)[:, None], out=L2)", "rowN[rowN.argmin()] > 1e-30", 1),
    ("row min: np.minimum.reduce vs argmin", "np.minimum.reduce(rowN) > 1e-30",
     "rowN[rowN.argmin()] > 1e-30", 1),
    ("targets' entries: [rows, Yb] vs flat index", "L[rows, Yb]",
     "Lflat[np.add(row_starts, Yb, out=picks)]", 1),
    ("finite check: 7 isfinite vs one sum", "all(np.isfinite(g).all() for g in grads)",
     "math.isfinite(np.dot(gflat, gflat))", 1),
    ("finite check: dot with ones vs sum of squares", "math.isfinite(np.dot(ones_flat, gflat))",
     "math.isfinite(np.dot(gflat, gflat))", 1),
    ("SGD update: 7 p -= lr*g vs one flat -=", "for p, g in zip(ps, grads): p -= 0.1 * g",
     "np.subtract(flat, gflat, out=flat)", 1),
    ("minibatch draw + gathers, per step vs chunk*", "ix = rng.integers(0, M, N); "
     "Xtr[ix]; Ytr[ix]", "ix = rng.integers(0, M, N * 1000); Xtr[ix]; Ytr[ix]", 1000),
]

# The whole step with one trick undone: (what, [(text in fast_sgd_step, what it was)]).
# A variant whose text is not found in the source says so: update it with the step.
_TILES = [
    ("    ws.tile_embcat[...] = dot(ws.mean_weights, embcat, ws.embmean)\n"
     "    embcen = subtract(embcat, ws.tile_embcat, ws.embcen)",
     "    embcen = subtract(embcat, dot(ws.mean_weights, embcat, ws.embmean), ws.embcen)"),
    ("    bnscale = ws.tile_hidden\n    bnscale[...] = multiply(bngain, bnvar_inv, ws.bnscale)",
     "    bnscale = multiply(bngain, bnvar_inv, ws.bnscale)"),
    ("    ws.scratch[...] = bnbias\n    add(h, ws.scratch, h)", "    add(h, bnbias, h)"),
    ("    ws.tile_vocab[...] = ws.counts_sum_col\n    dlogits = divide(counts, ws.tile_vocab, "
     "counts)", "    dlogits = divide(counts, ws.counts_sum_col, counts)"),
    ("    ws.scratch[...] = coef\n    dhprebn = multiply(bndiff, ws.scratch, ws.scratch)",
     "    dhprebn = multiply(bndiff, coef, ws.scratch)"),
    ("    ws.tile_embcat[...] = dot(ws.mean_weights, dembcat, ws.embmean)\n"
     "    subtract(dembcat, ws.tile_embcat, dembcat)",
     "    subtract(dembcat, dot(ws.mean_weights, dembcat, ws.embmean), dembcat)"),
]
# the step with b2 apart from the W2 buffer, as before the b2 row
_B2_APART = [
    ("    ws.h_ones[...] = ws.one", ""),
    ("    logits = dot(h, ws.W2b2, ws.logits)" + " " * 42 + "# (N, V)\n",
     "    logits = dot(h, ws.W2b2, ws.logits)\n    ws.tile_vocab[...] = b2\n"
     "    add(logits, ws.tile_vocab, logits)\n"),
    ("    dot(*ws.dW2_product)\n", "    dot(*ws.dW2_product)\n    dot(ones, dlogits, db2)\n")]
ABLATIONS = [
    ("[aligned buffers] where numpy puts them, not on 64 bytes", "unaligned"),
    ("[W2 transposed] W2 kept (H, V), as given (and b2 apart)",
     {"workspace": {"transposed_w2": False}, "edits": _B2_APART}),
    ("[b2 row] b2 added by a tile, db2 by a gemv", {"workspace": {"b2_row": False},
                                                    "edits": _B2_APART}),
    ("[tiles] rows broadcast by the ufuncs, not tiled", _TILES),
    ("[local calls] np.f(..., out=b), not local f(..., b)", "keyword"),
    ("[no Python floats] Python floats as operands", [
        ("add(bnvar_inv, ws.eps, bnvar_inv)", "add(bnvar_inv, BN_EPS, bnvar_inv)"),
        ("reciprocal(sqrt(bnvar_inv, bnvar_inv), bnvar_inv)", "bnvar_inv **= -0.5"),
        ("subtract(ws.one, one_minus_h2", "subtract(1.0, one_minus_h2"),
        ("multiply(coef, ws.bessel, coef)", "multiply(coef, 1 / (n - 1), coef)"),
        ("    ws.counts_flat[picks] -= counts_sum\n", ""),
        ("    ws.n_over_lr[...] = n / lr\n    multiply(counts_sum, ws.n_over_lr, counts_sum)",
         "    multiply(counts_sum, n / lr, counts_sum)"),
        ("    dh = dot(dlogits", "    ws.counts_flat[picks] -= lr / n\n    dh = dot(dlogits")]),
    ("[range check] by np.minimum.reduce, not argmin", [
        ("counts_sum[counts_sum.argmin()] > ws.tiny", "np.minimum.reduce(counts_sum) > ws.tiny")]),
    ("[take method] np.take, not the take method", [
        ("C.take(Xb, 0, ws.emb)", "np.take(C, Xb, axis=0, out=ws.emb)")]),
    ("[one-hot rows] by fill + fancy set, not identity", [
        ('ws.eye.take(Xb, 0, ws.onehot, "wrap")',
         "ws.onehotVN.fill(0)\n    ws.onehotVN[Xb.reshape(-1), ws.positions] = 1"),
        ("dot(ws.onehotT, ws.dembrows, dC)", "dot(ws.onehotVN, ws.dembrows, dC)")]),
    ("[(H,) views] dbngain as a (1, H) view", [
        ("multiply(dbngain, bnvar_inv, dbngain)",
         "multiply(dbngain[None], bnvar_inv, dbngain[None])")]),
    ("[take method] a new array C[Xb], not a take into a buffer", [
        ("    C.take(Xb, 0, ws.emb)" + " " * 56 + "# (N, T, E)\n    embcat = ws.embcat",
         "    embcat = C[Xb].reshape(n, -1)")]),
    ("[target check] no range check of Xb and Yb", [
        ("check_batch(Xb, Yb, ws.batch_shape, ws.vocab_size)",
         "check_shapes(Xb, Yb, *ws.batch_shape)")]),
    # what the trainer runs (its split checked once): the same step on a workspace made
    # with check_batches=False
    ("[split checked once] no shape, dtype or range check", "unchecked"),
]
# numpy functions fast_sgd_step binds to locals, and how many inputs each takes
_FUNCS = {"dot": 2, "multiply": 2, "add": 2, "subtract": 2, "divide": 2,
          "exp": 1, "log": 1, "tanh": 1, "sqrt": 1, "reciprocal": 1}


def setup(dataset):
    rng = np.random.default_rng(0)
    f = np.float32
    params = model.init_params(V, E, H, T, rng=rng, dtype=f)
    ws = fast.Workspace(params, N)

    def buf(*shape, fill=None):
        # on a 64-byte boundary, as the step's buffers are
        return fast._empty(shape, f, fill=fill)

    def randn(*shape):
        return buf(*shape, fill=rng.standard_normal(shape))
    Xb, Yb = rng.integers(0, V, (N, T)), rng.integers(0, V, N)
    onehot, L, rowN = buf(N, T, V), randn(N, V), buf(N, fill=1)
    names = dict(
        np=np, math=math, rng=rng, M=dataset.Xtr.shape[0], N=N, Xtr=dataset.Xtr, Ytr=dataset.Ytr,
        ix=rng.integers(0, dataset.Xtr.shape[0], N),
        x=randn(N, H), x2=randn(N, H), y=buf(N, H), row=randn(H), tileH=buf(N, H),
        e=randn(N, T * E), e2=buf(N, T * E), erow=randn(T * E), tileTE=buf(N, T * E),
        tileV=buf(N, V), multiply=np.multiply, eps=np.array(1e-5, f),
        gain1H=buf(1, H, fill=1), gainH=buf(H, fill=1), oneH=buf(H, fill=1), pos=buf(H, fill=2),
        ones=buf(N, fill=1), ones_n=buf(N, fill=1 / N), colH=buf(H, fill=1),
        C=ws.params["C"], Xb=Xb, Xflat=Xb.reshape(-1), emb=buf(N, T, E),
        demb=randn(N * T, E), dC=buf(V, E), onehotVN=buf(V, N * T), positions=np.arange(N * T),
        eye=buf(V, V, fill=np.eye(V)), onehot=onehot, onehotT=onehot.reshape(N * T, V).T,
        L=L, Lflat=L.reshape(-1), L2=buf(N, V), rowN=rowN, rowN_col=rowN[:, None],
        rows=np.arange(N), Yb=Yb, row_starts=np.arange(N) * V, picks=np.arange(N) * V + Yb,
        grads=[ws.grads[k] for k in PARAM_NAMES], ps=[ws.params[k].copy() for k in PARAM_NAMES],
        gflat=ws.gflat, flat=buf(ws.flat.size, fill=ws.flat), ones_flat=buf(ws.gflat.size, fill=1))
    return names, params, ws


def _timer(stmt, names):
    # the names become the timed function's locals, so `gain1H *= oneH` works as in the step
    bind = "; ".join(f"{k} = _ns[{k!r}]" for k in names)
    return timeit.Timer(stmt, setup=bind, globals={"_ns": names})


def interleaved_us(stmts, names, number, rounds):
    """Median us per call of each statement, the statements alternating within each round."""
    timers = [(_timer(s, names), per) for s, per in stmts]
    times = [[] for _ in stmts]
    for _ in range(rounds):
        for (t, per), ts in zip(timers, times):
            k = max(1, number // per)
            ts.append(t.timeit(k) / (k * per) * 1e6)
    return [statistics.median(ts) for ts in times]


# -----------------------------------------------------------------------------
# the whole step with one trick undone

def _to_keywords(src):
    """fast_sgd_step's source with np.f(..., out=buf) for its local f(..., buf) calls."""
    out, i = [], 0
    call = re.compile(r"(?<![\w.])(" + "|".join(_FUNCS) + r")\(")
    while (m := call.search(src, i)) is not None:
        out.append(src[i:m.start()] + "np." + m.group(1) + "(")
        depth, j, commas = 1, m.end(), []
        while depth:
            if src[j] in "([":
                depth += 1
            elif src[j] in ")]":
                depth -= 1
            elif src[j] == "," and depth == 1:
                commas.append(j)
            j += 1
        args = src[m.end():j - 1]
        if len(commas) == _FUNCS[m.group(1)]:   # one argument more than the inputs: the output
            cut = commas[-1] - m.end()
            args = _to_keywords(args[:cut]) + ", out=" + _to_keywords(args[cut + 2:])
        else:
            args = _to_keywords(args)
        out.append(args + ")")
        i = j
    return "".join(out) + src[i:]


def step_variant(edits):
    """fast_sgd_step compiled from its source with `edits` applied (or "keyword"); for a
    WORKSPACES key, unedited but compiled alike, so that it times as the reference does."""
    src = textwrap.dedent(inspect.getsource(fast.fast_sgd_step))
    if isinstance(edits, str) and edits != "keyword":
        # the same step on another Workspace (WORKSPACES), compiled as the reference is
        edits = []
    if isinstance(edits, dict):  # another Workspace, and the step edited to match it
        edits = edits["edits"]
    if edits == "keyword":
        # without comments (they quote calls) and without the line binding the locals
        src = re.sub(r"\s*#.*", "", src)
        src = _to_keywords(re.sub(r"\n    (dot|exp), .* = np\.\w+.*", "", src))
    else:
        for new, old in edits:
            if new not in src:
                raise SystemExit(f"bench_tricks.py: the ablation text {new!r} is no longer in "
                                 "fast_sgd_step; update ABLATIONS to match the step")
            src = src.replace(new, old)
    namespace = dict(vars(fast), BN_EPS=BN_EPS)
    exec(compile(src, "<fast_sgd_step variant>", "exec"), namespace)
    return namespace["fast_sgd_step"]


def _numpy_empty(shape, dtype, fill=None):
    # the buffers as numpy allocates them, wherever malloc puts them
    return np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)


# the ablations that are the same step on a Workspace made otherwise
WORKSPACES = {"unaligned": {}, "unchecked": {"check_batches": False}}


def workspace_for(edits, params, n):
    """The Workspace a variant runs on, with the buffers the old one-hot needs."""
    if edits == "unaligned":
        with mock.patch.object(fast_workspace, "_empty", _numpy_empty):
            ws = fast.Workspace(params, n)
    else:
        kwargs = (WORKSPACES.get(edits, {}) if isinstance(edits, str) else
                  edits["workspace"] if isinstance(edits, dict) else {})
        ws = fast.Workspace(params, n, **kwargs)
    V, T = params["C"].shape[0], params["W1"].shape[0] // params["C"].shape[1]
    ws.onehotVN, ws.positions = np.empty((V, n * T), params["C"].dtype), np.arange(n * T)
    return ws


def ablation(dataset, rounds, steps):
    """{what: median us/step}, the real step first, every variant on the same batches."""
    params = model.init_params(dataset.vocab_size, E, H, T, rng=np.random.default_rng(0),
                               dtype=np.float32)
    batches = harness.make_batches(dataset, N, steps)
    # the step as it is compiled from its source like the variants: the module's own function
    # measured 0.5-1% slower than the same source exec'd here, which would favour every variant
    steps_by_name = {"fast_sgd_step as it is": step_variant([])}
    steps_by_name.update({what: step_variant(edits) for what, edits in ABLATIONS})
    workspaces = {name: workspace_for(dict(ABLATIONS).get(name), params, N)
                  for name in steps_by_name}
    times = {name: [] for name in steps_by_name}
    for r in range(rounds + 1):
        for name, step in steps_by_name.items():
            ws = workspaces[name]
            gc.disable()
            t0 = time.perf_counter()
            for Xb, Yb in batches:
                step(ws, Xb, Yb, 0.01)
            dt = (time.perf_counter() - t0) / len(batches) * 1e6
            gc.enable()
            if r:  # round 0 warms up
                times[name].append(dt)
    ref = times["fast_sgd_step as it is"]
    return {name: (statistics.median(ts), statistics.median(t - r for t, r in zip(ts, ref)))
            for name, ts in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_tricks.py", description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--input-file", help="names file (default: found as for train)")
    p.add_argument("--number", type=int, default=2000, help="calls per statement per round")
    p.add_argument("--rounds", type=int, default=15, help="rounds; statements alternate in each")
    p.add_argument("--ablation", action="store_true", help="also time the whole step with one "
                   "trick undone at a time")
    p.add_argument("--steps-per-round", type=int, default=400, help="steps per variant per "
                   "round of --ablation")
    args = p.parse_args(argv)
    dataset = data.load_dataset(datafile.find_names_file(args.input_file, log=print), 3)
    with harness.pinned_threads(1):
        print(harness.format_machine(harness.machine_info()))
        names, params, ws = setup(dataset)
        print(f"\n{'trick':50s} {'plain':>7s} {'fast':>7s}   us per call, median of "
              f"{args.rounds} interleaved rounds")
        for what, plain, quick, per in TRICKS:
            a, b = interleaved_us([(plain, 1), (quick, per)], names, args.number, args.rounds)
            print(f"{what:50s} {a:7.2f} {b:7.2f}")
        batches = harness.make_batches(dataset, N, 64)
        layered = {k: v.copy() for k, v in params.items()}
        names.update(model=model, fast=fast, layered=layered, ws=ws, batches=batches)
        a, b = interleaved_us(
            [("for Xb, Yb in batches: model.sgd_step(layered, Xb, Yb, 0.01)", 64),
             ("for Xb, Yb in batches: fast.fast_sgd_step(ws, Xb, Yb, 0.01)", 64)],
            names, args.number, args.rounds)
        print(f"{'the whole step: sgd_step vs fast_sgd_step':50s} {a:7.2f} {b:7.2f}")
        print("* not used by train.py: see benchmarks/RESULTS.md")
        if args.ablation:
            result = ablation(dataset, args.rounds, args.steps_per_round)
            print(f"\n{'the step with one trick undone':58s} {'us/step':>7s} {'+us':>7s}   median "
                  f"of {args.rounds} interleaved rounds of {args.steps_per_round} steps")
            for what, (us, more) in result.items():
                print(f"{what:58s} {us:7.2f} {more:+7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
