"""The benchmarks: the step side by side, BLAS threads, scaling, the full run.

    result = bench_step(dataset, rounds=15, steps_per_round=200)
    text = format_step_table(result)

Every variant trains on the same batches, timed by harness.time_rounds with
its threads pinned and reported. Nothing here prints.
"""

import statistics
import tempfile
import time

import numpy as np

from npbackprop import chunked, fast, model, trainer
from npbackprop.bench.harness import (FAST, LR, _no_log, machine_info, make_batches,
                                      pinned_threads, set_blas_threads, blas_threads,
                                      load_torch_variants, summarize, time_rounds)


# -----------------------------------------------------------------------------
# the variants of one training step: factory(params, batches) -> step(i, lr)

def _fast(dtype):
    def factory(params, batches):
        ws = fast.Workspace({k: v.astype(dtype) for k, v in params.items()},
                            batches[0][0].shape[0])
        return lambda i, lr: fast.fast_sgd_step(ws, *batches[i], lr)
    return factory


def _layered(dtype):
    def factory(params, batches):
        p = {k: v.astype(dtype) for k, v in params.items()}
        return lambda i, lr: model.sgd_step(p, *batches[i], lr)
    return factory


def _chunked(dtype):
    # exercise 1: the lecture's chunked forward and its 26-gradient backward, no update
    def factory(params, batches):
        p = {k: v.astype(dtype) for k, v in params.items()}

        def step(i, lr):
            loss, cache = chunked.forward(p, *batches[i])
            chunked.backward(cache)
            return float(loss)
        return step
    return factory


NUMPY_VARIANTS = {
    FAST: _fast(np.float32),
    "npbackprop fast float64": _fast(np.float64),
    "npbackprop layered float32": _layered(np.float32),
    "chunked exercise-1 fwd+bwd float32": _chunked(np.float32),
}


def bench_step(dataset, *, rounds=15, steps_per_round=200, warmup_rounds=1, threads=1,
               use_torch=True, n_embd=10, n_hidden=200, batch_size=32, seed=0, log=_no_log):
    """The side-by-side table: every variant on the same batches, interleaved in rounds.

    Returns {"machine", "settings", "notes", "variants": {name: summary}}; each
    summary has median_us, min_us, max_us, rounds_us and ratio_to_fast.
    """
    tv, why = load_torch_variants() if use_torch else (None, "torch variants not requested")
    with pinned_threads(threads, tv) as notes:
        return _bench_step(dataset, tv, ([why] if why else []) + notes, rounds=rounds,
                           steps_per_round=steps_per_round, warmup_rounds=warmup_rounds,
                           threads=threads, n_embd=n_embd, n_hidden=n_hidden,
                           batch_size=batch_size, seed=seed, log=log)


def _bench_step(dataset, tv, notes, *, rounds, steps_per_round, warmup_rounds, threads, n_embd,
                n_hidden, batch_size, seed, log):
    params = model.init_params(dataset.vocab_size, n_embd, n_hidden, dataset.block_size,
                               rng=np.random.default_rng(seed), dtype=np.float64)
    batches = make_batches(dataset, batch_size, min(rounds + warmup_rounds, 50)
                           * steps_per_round, seed)
    factories = dict(NUMPY_VARIANTS)
    if tv is not None:
        factories.update(tv.VARIANTS)
    steps = {name: f(params, batches) for name, f in factories.items()}
    times = time_rounds(steps, len(batches), rounds, steps_per_round, warmup_rounds, log=log)
    return {"machine": machine_info(tv), "notes": notes,
            "settings": {"rounds": rounds, "steps_per_round": steps_per_round,
                         "warmup_rounds": warmup_rounds, "threads": threads, "lr": LR,
                         "n_embd": n_embd, "n_hidden": n_hidden,
                         "block_size": dataset.block_size, "vocab_size": dataset.vocab_size,
                         "batch_size": batch_size},
            "variants": summarize(times)}


def format_step_table(result):
    """The side-by-side table as text, the fast step's ratio to each variant at the right."""
    s = result["settings"]
    lines = [f"one training step, n_embd {s['n_embd']}, n_hidden {s['n_hidden']}, block_size "
             f"{s['block_size']}, vocab {s['vocab_size']}, batch {s['batch_size']}; "
             f"{s['rounds']} rounds of {s['steps_per_round']} steps, {s['threads']} thread(s)",
             *([f"torch {result['machine']['torch']} (BLAS {result['machine']['torch_blas']}), "
                f"{result['machine']['torch_threads']} thread(s)"] if "torch" in result["machine"]
               else []),
             f"{'variant':36s} {'median':>8s} {'min':>8s} {'max':>8s}  {'x fast f32':>10s}",
             f"{'':36s} {'us/step':>8s} {'us/step':>8s} {'us/step':>8s}  {'(median)':>10s}"]
    for name, v in result["variants"].items():
        ratio = f"{v['ratio_to_fast']:10.2f}" if "ratio_to_fast" in v else ""
        lines.append(f"{name:36s} {v['median_us']:8.1f} {v['min_us']:8.1f} {v['max_us']:8.1f}"
                     f"  {ratio}")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# BLAS threads: the fast step at 1 and 2 threads, interleaved

def bench_threads(dataset, *, counts=(1, 2), sizes=((200, 32), (200, 512), (1024, 512)),
                  rounds=9, steps_per_round=50, log=_no_log):
    """us/step of the fast float32 step per BLAS thread count, for (n_hidden, batch) sizes.

    Thread counts alternate within each round. Returns {"notes", "rows": [...]};
    rows are empty (and a note says why) if the BLAS threads cannot be set here.
    """
    before = blas_threads()
    if before is None:
        return {"notes": ["numpy's BLAS threads cannot be set at run time here: compare "
                          "runs started with OPENBLAS_NUM_THREADS=1 and =2 instead"], "rows": []}
    rows = []
    try:
        for n_hidden, batch_size in sizes:
            params = model.init_params(dataset.vocab_size, 10, n_hidden, dataset.block_size,
                                       rng=np.random.default_rng(0), dtype=np.float32)
            batches = make_batches(dataset, batch_size, steps_per_round)
            ws = fast.Workspace(params, batch_size)
            steps = {}
            for k in counts:
                def step(i, lr, k=k):
                    fast.fast_sgd_step(ws, *batches[i], lr)
                steps[k] = step
            times = {k: [] for k in counts}
            for r in range(rounds + 1):
                for k in counts:
                    set_blas_threads(k)
                    t = time_rounds({k: steps[k]}, len(batches), 1, steps_per_round, 0)[k][0]
                    if r:  # round 0 warms up
                        times[k].append(t)
            row = {"n_hidden": n_hidden, "batch_size": batch_size,
                   "median_us": {k: statistics.median(ts) for k, ts in times.items()}}
            row["ratio_2_to_1"] = statistics.median(
                b / a for a, b in zip(times[counts[0]], times[counts[-1]]))
            rows.append(row)
            log(f"threads, n_hidden {n_hidden}, batch {batch_size}: " + ", ".join(
                f"{k}: {t:.0f} us" for k, t in row["median_us"].items()))
    finally:
        set_blas_threads(before)
    return {"notes": [], "counts": list(counts), "rows": rows}


def format_threads_table(result):
    if not result["rows"]:
        return "\n".join(f"note: {n}" for n in result["notes"])
    counts = result["counts"]
    lines = ["BLAS threads, fast float32 step (us/step, median over rounds)",
             f"{'n_hidden':>8s} {'batch':>6s} " + " ".join(f"{f'{k} thr':>9s}" for k in counts)
             + f" {f'{counts[-1]}/{counts[0]}':>7s}"]
    for row in result["rows"]:
        lines.append(f"{row['n_hidden']:8d} {row['batch_size']:6d} "
                     + " ".join(f"{row['median_us'][k]:9.1f}" for k in counts)
                     + f" {row['ratio_2_to_1']:7.2f}")
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# scaling: the fast step over network and batch sizes

def matmul_flops(batch_size, block_size, n_embd, n_hidden, vocab_size):
    """Floating-point operations of the six weight matmuls of one step: 6 N H (T E + V).

    (The step's seventh matmul, the one-hot scatter into dC, is left out.)
    """
    return 6 * batch_size * n_hidden * (block_size * n_embd + vocab_size)


def bench_scaling(dataset, *, hidden=(64, 200, 512, 1024), batch=(32, 128, 512), rounds=5,
                  steps_per_round=20, threads=1, dtype=np.float32, log=_no_log):
    """us/step and effective GFLOP/s of the fast step for each (n_hidden, batch) pair.

    All pairs are interleaved within each round. GFLOP/s counts only the six
    weight matmuls (matmul_flops), so it says how close a step comes to pure BLAS work.
    """
    steps = {}
    for n_hidden in hidden:
        for batch_size in batch:
            params = model.init_params(dataset.vocab_size, 10, n_hidden, dataset.block_size,
                                       rng=np.random.default_rng(0), dtype=dtype)
            batches = make_batches(dataset, batch_size, steps_per_round)
            ws = fast.Workspace(params, batch_size)
            steps[(n_hidden, batch_size)] = (
                lambda i, lr, ws=ws, b=batches: fast.fast_sgd_step(ws, *b[i], lr))
    with pinned_threads(threads) as notes:
        times = time_rounds(steps, steps_per_round, rounds, steps_per_round, 1)
    rows = []
    for (n_hidden, batch_size), ts in times.items():
        us = statistics.median(ts)
        flops = matmul_flops(batch_size, dataset.block_size, 10, n_hidden, dataset.vocab_size)
        rows.append({"n_hidden": n_hidden, "batch_size": batch_size, "median_us": us,
                     "min_us": min(ts), "max_us": max(ts), "gflops": flops / us / 1e3})
        log(f"scaling, n_hidden {n_hidden}, batch {batch_size}: {us:.0f} us/step")
    return {"notes": notes, "threads": threads, "dtype": np.dtype(dtype).name,
            "rounds": rounds, "steps_per_round": steps_per_round, "rows": rows}


def format_scaling_table(result):
    hidden = sorted({r["n_hidden"] for r in result["rows"]})
    batch = sorted({r["batch_size"] for r in result["rows"]})
    cell = {(r["n_hidden"], r["batch_size"]): r for r in result["rows"]}
    lines = [f"fast step scaling, {result['dtype']}, {result['threads']} thread(s): us/step "
             f"(matmul GFLOP/s), median of {result['rounds']} rounds of "
             f"{result['steps_per_round']} steps",
             f"{'n_hidden':>8s} " + " ".join(f"{f'batch {b}':>18s}" for b in batch)]
    for h in hidden:
        lines.append(f"{h:8d} " + " ".join(
            f"{cell[h, b]['median_us']:10.1f} ({cell[h, b]['gflops']:4.1f})" for b in batch))
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# the full default run

def bench_full_run(dataset, *, max_steps=None, threads=1, out_dir=None, log=_no_log):
    """Train the default run (trainer.Config(), optionally fewer steps) and time it.

    Into a temporary folder unless out_dir is given. Returns wall seconds
    (whole call: training, checkpoints, calibration, split losses), the
    training loop's own seconds, us/step and the calibrated losses.
    """
    cfg = trainer.Config() if max_steps is None else trainer.Config(max_steps=max_steps)
    with pinned_threads(threads) as notes, \
            tempfile.TemporaryDirectory(prefix="npbackprop-bench-") as tmp:
        t0 = time.perf_counter()
        # force only in the temporary folder: a given out_dir must not hold a run yet
        metrics = trainer.train(cfg, dataset, out_dir or tmp, force=out_dir is None,
                                log=log).metrics
        wall = time.perf_counter() - t0
    return {"notes": notes, "threads": threads, "max_steps": cfg.max_steps,
            "dtype": cfg.dtype, "wall_seconds": wall, "train_seconds": metrics["seconds"],
            "us_per_step": metrics["seconds"] / max(cfg.max_steps, 1) * 1e6,
            **{k: metrics[k] for k in ("train_loss", "val_loss", "test_loss")}}


def format_full_run(result):
    r = result
    lines = [f"full run: {r['max_steps']:,} steps, {r['dtype']}, {r['threads']} thread(s): "
             f"{r['train_seconds']:.1f} s of training ({r['us_per_step']:.0f} us/step), "
             f"{r['wall_seconds']:.1f} s wall in all",
             f"after calibration: train {r['train_loss']:.4f}  val {r['val_loss']:.4f}  "
             f"test {r['test_loss']:.4f}"]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)

