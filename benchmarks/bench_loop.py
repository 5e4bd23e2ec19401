"""What bought the loop's speed: train's loop with its minibatch drawing undone or resized.

Each variant is trainer.train of a STEPS-step run in memory with
batches.minibatches replaced: the way before issue 15 (one Generator.integers
call and two gathers a step) or chunks of other sizes; beside them the fast
step alone on batches drawn beforehand. Interleaved rounds, this thread's
CPU time (the steadier clock on a shared machine) and the loop's wall clock,
us per step, medians over rounds.

    python benchmarks/bench_loop.py --rounds 9 --steps 3000
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

# run from a checkout without installing: the package is beside this folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from npbackprop import batches, data, datafile, fast, model, trainer  # noqa: E402
from npbackprop.bench import harness  # noqa: E402


def per_step(Xtr, Ytr, seed, batch_size, start, stop, chunk_steps=None):
    # before issue 15: one generator, one draw of batch_size indices and two gathers a step
    rng = np.random.default_rng(seed)
    for _ in range(start, stop):
        ix = rng.integers(0, Xtr.shape[0], batch_size)
        yield Xtr[ix], Ytr[ix]


MINIBATCHES = batches.minibatches   # the real one, before any variant replaces it


def chunked(k):
    def draws(Xtr, Ytr, seed, batch_size, start, stop, chunk_steps=None):
        return MINIBATCHES(Xtr, Ytr, seed, batch_size, start, stop, k)
    return draws


VARIANTS = {"per step (before)": per_step, "chunks of 10": chunked(10),
            "chunks of 100": chunked(100), "chunks of 1000 (now)": chunked(1000),
            "chunks of 10000": chunked(10000)}


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_loop.py", description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--input-file")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--steps", type=int, default=3000)
    args = p.parse_args(argv)
    dataset = data.load_dataset(datafile.find_names_file(args.input_file, log=print), 3)
    cfg = trainer.Config(max_steps=args.steps)
    params = model.init_params(dataset.vocab_size, 10, 200, 3, rng=np.random.default_rng(42),
                               dtype=np.float32)
    pre = harness.make_batches(dataset, 32, args.steps, 42)
    names = ["fast step alone", *VARIANTS]
    cpu, wall = {n: [] for n in names}, {n: [] for n in names}
    with harness.pinned_threads(1):
        print(harness.format_machine(harness.machine_info()))
        for r in range(args.rounds + 1):
            for name in names:
                c0 = time.thread_time()
                if name == "fast step alone":
                    ws, t0 = fast.Workspace(params, 32), time.perf_counter()
                    for Xb, Yb in pre:
                        fast.fast_sgd_step(ws, Xb, Yb, 0.1)
                    w = time.perf_counter() - t0
                    c = time.thread_time() - c0
                else:
                    with mock.patch.object(batches, "minibatches", VARIANTS[name]):
                        w = trainer.train(cfg, dataset).metrics["seconds"]
                        c1 = time.thread_time()
                        trainer.train(trainer.Config(max_steps=0), dataset)
                    c = (c1 - c0) - (time.thread_time() - c1)
                if r:
                    cpu[name].append(c / args.steps * 1e6)
                    wall[name].append(w / args.steps * 1e6)
    ref = cpu["fast step alone"]
    print(f"\n{'variant':28s} {'CPU us':>8s} {'wall us':>8s} {'CPU/step-1':>10s}   median of "
          f"{args.rounds} rounds of {args.steps} steps")
    for name in names:
        over = statistics.median(a / b - 1 for a, b in zip(cpu[name], ref)) * 100
        print(f"{name:28s} {statistics.median(cpu[name]):8.1f} "
              f"{statistics.median(wall[name]):8.1f} {over:9.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
