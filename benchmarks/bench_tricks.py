"""The tricks of model.fused_sgd_step, each timed against what it replaces.

Micro-benchmarks at the lecture's sizes (N 32, T 3, E 10, H 200, V 27,
float32, one BLAS thread): best of several timeit repeats, in microseconds
per call. The numbers quoted in model.py's comments come from this table.

    python benchmarks/bench_tricks.py
"""

import argparse
import math
import sys
import timeit
from pathlib import Path

# run from a checkout without installing: the package is beside this folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from npbackprop import bench, data, model  # noqa: E402
from npbackprop.chunked import PARAM_NAMES  # noqa: E402

N, T, E, H, V = 32, 3, 10, 200, 27

# (what, the plain way, the other way, per): both statements run on the names
# in setup(); the second is divided by `per` (a draw for 1000 steps at once)
TRICKS = [
    ("batch sum of an (N, H) array", "x.sum(0)", "np.dot(ones, x, out=colH)", 1),
    ("batch mean of an (N, H) array", "x.mean(0)", "np.dot(ones_n, x, out=colH)", 1),
    ("(N, H) op with an (H,) row, vs same shape", "np.multiply(x, row, out=y)",
     "np.multiply(x, x2, out=y)", 1),
    ("tanh of (N, H), new array vs out=", "np.tanh(x)", "np.tanh(x, out=y)", 1),
    ("embedding gather", "np.take(C, Xb, axis=0, out=emb)",
     "np.take(C, Xb, axis=0, out=emb, mode='wrap')", 1),
    ("dC scatter-add: add.at vs one-hot matmul", "dC.fill(0); np.add.at(dC, Xflat, demb)",
     "onehot.fill(0); onehot[Xflat, positions] = 1; np.dot(onehot, demb, out=dC)", 1),
    ("softmax row-max shift vs the range check", "np.subtract(L, "
     "np.maximum.reduce(L, axis=1, out=rowN)[:, None], out=L2)",
     "np.minimum.reduce(rowN) > 1e-30", 1),
    ("row max: np.max vs maximum.reduce", "np.max(L, axis=1, out=rowN)",
     "np.maximum.reduce(L, axis=1, out=rowN)", 1),
    ("targets' entries: [rows, Yb] vs flat index", "L[rows, Yb]",
     "L.ravel()[np.add(row_starts, Yb, out=picks)]", 1),
    ("finite check: 7 isfinite vs one sum", "all(np.isfinite(g).all() for g in grads)",
     "math.isfinite(np.dot(ones_flat, gflat))", 1),
    ("SGD update: 7 p -= lr*g vs one flat -=", "for p, g in zip(ps, grads): p -= 0.1 * g",
     "np.subtract(flat, gflat, out=flat)", 1),
    ("minibatch draw + gathers, per step vs chunk*", "ix = rng.integers(0, M, N); "
     "Xtr[ix]; Ytr[ix]", "ix = rng.integers(0, M, N * 1000); Xtr[ix]; Ytr[ix]", 1000),
]

def setup(dataset):
    rng = np.random.default_rng(0)
    f = np.float32
    params = model.init_params(V, E, H, T, rng=rng, dtype=f)
    ws = model.Workspace(params, N)
    Xb = rng.integers(0, V, (N, T))
    names = dict(
        np=np, math=math, rng=rng, M=dataset.Xtr.shape[0], N=N, Xtr=dataset.Xtr, Ytr=dataset.Ytr,
        ix=rng.integers(0, dataset.Xtr.shape[0], N),
        x=rng.standard_normal((N, H)).astype(f), x2=rng.standard_normal((N, H)).astype(f),
        y=np.empty((N, H), f), row=rng.standard_normal(H).astype(f),
        ones=np.ones(N, f), ones_n=np.full(N, 1 / N, f), colH=np.empty(H, f),
        C=params["C"], Xb=Xb, Xflat=Xb.reshape(-1), emb=np.empty((N, T, E), f),
        demb=rng.standard_normal((N * T, E)).astype(f), dC=np.empty((V, E), f),
        onehot=np.empty((V, N * T), f), positions=np.arange(N * T),
        L=rng.standard_normal((N, V)).astype(f), L2=np.empty((N, V), f),
        rowN=np.ones(N, f), rows=np.arange(N), Yb=rng.integers(0, V, N),
        row_starts=np.arange(N) * V, picks=np.empty(N, np.intp),
        grads=[ws.grads[k] for k in PARAM_NAMES], ps=[ws.params[k].copy() for k in PARAM_NAMES],
        gflat=ws.gflat, flat=ws.flat.copy(), ones_flat=np.ones(ws.gflat.size, f))
    return names, params, ws


def best_us(stmt, names, number):
    return min(timeit.repeat(stmt, number=number, repeat=7, globals=names)) / number * 1e6


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_tricks.py", description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--input-file", help="names file (default: found as for train)")
    p.add_argument("--number", type=int, default=2000, help="calls per timeit repeat")
    args = p.parse_args(argv)
    dataset = data.load_dataset(data.find_names_file(args.input_file, log=print), 3)
    with bench.pinned_threads(1):
        print(bench.format_machine(bench.machine_info()))
        names, params, ws = setup(dataset)
        print(f"\n{'trick':44s} {'plain':>8s} {'fast':>8s}   us per call, best of 7")
        for what, plain, fast, per in TRICKS:
            a = best_us(plain, names, args.number)
            b = best_us(fast, names, max(1, args.number // per)) / per
            print(f"{what:46s} {a:8.2f} {b:8.2f}")
        batches = bench.make_batches(dataset, N, 64)
        layered = {k: v.copy() for k, v in params.items()}
        names.update(model=model, layered=layered, ws=ws, batches=batches)
        a = best_us("for Xb, Yb in batches: model.sgd_step(layered, Xb, Yb, 0.01)", names,
                    args.number // 64) / 64
        b = best_us("for Xb, Yb in batches: model.fused_sgd_step(ws, Xb, Yb, 0.01)", names,
                    args.number // 64) / 64
        print(f"{'the whole step: sgd_step vs fused_sgd_step':46s} {a:8.2f} {b:8.2f}")
        print("* not used by train.py: see benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
