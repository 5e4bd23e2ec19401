"""The training loop's own cost: `train`'s steps against the fast step alone, interleaved.

    result = bench_loop(dataset, rounds=5, steps=5000)
    text = format_loop_table(result)

Each round runs, in turn, (a) fast.fast_sgd_step over `steps` minibatches
drawn beforehand (the step alone, as train runs it: on a workspace that
skips the per-batch checks, the split checked once) and (b) trainer.train
of a `steps`-step run in memory (drawing the minibatches, the step, the
checks, the loss history; no checkpoints, since an in-memory run writes
none). Same network, batch size and learning rate. Two clocks: wall,
train's own loop clock (metrics["seconds"]) against perf_counter; and CPU,
this thread's CPU time (time.thread_time), train's taken as train(steps) -
train(0 steps) so that init, calibration and evaluation cancel. CPU time does not count the time
the thread waits for a core, so it is the steadier on a shared machine.
The overhead is the median over rounds of (b / a - 1). Nothing here prints.
"""

import statistics
import time

import numpy as np

from npbackprop import fast, model, trainer
from npbackprop.bench.harness import _no_log, machine_info, make_batches, pinned_threads


def bench_loop(dataset, *, rounds=5, steps=5000, threads=1, log=_no_log):
    """us/step of the step alone and of train's loop, and the loop's overhead in percent."""
    cfg = trainer.Config(max_steps=steps)
    params = model.init_params(dataset.vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size,
                               rng=np.random.default_rng(cfg.seed), dtype=np.float32)
    batches = make_batches(dataset, cfg.batch_size, steps, cfg.seed)
    lr = trainer.learning_rate(0, cfg)
    times = {k: [] for k in ("step", "train", "step_cpu", "train_cpu")}
    with pinned_threads(threads) as notes:
        for r in range(rounds + 1):
            ws = fast.Workspace(params, cfg.batch_size, check_batches=False)
            t0, c0 = time.perf_counter(), time.thread_time()
            for Xb, Yb in batches:
                fast.fast_sgd_step(ws, Xb, Yb, lr)
            t1, c1 = time.perf_counter(), time.thread_time()
            seconds = trainer.train(cfg, dataset).metrics["seconds"]
            c2 = time.thread_time()
            trainer.train(trainer.Config(max_steps=0), dataset)
            c3 = time.thread_time()
            row = {"step": t1 - t0, "train": seconds, "step_cpu": c1 - c0,
                   "train_cpu": (c2 - c1) - (c3 - c2)}
            if r:  # round 0 warms up
                for k, t in row.items():
                    times[k].append(t / steps * 1e6)
                log(f"loop round {r}/{rounds}: " + ", ".join(
                    f"{k} {t[-1]:.1f} us" for k, t in times.items()))
    med = {k: statistics.median(ts) for k, ts in times.items()}
    over = {k: 100 * statistics.median(b / a - 1 for a, b in zip(times[k], times[t]))
            for k, t in (("step", "train"), ("step_cpu", "train_cpu"))}
    return {"machine": machine_info(), "notes": notes, "threads": threads, "rounds": rounds,
            "steps": steps, "step_us": med["step"], "train_us": med["train"],
            "step_cpu_us": med["step_cpu"], "train_cpu_us": med["train_cpu"],
            "overhead_pct": over["step"], "overhead_cpu_pct": over["step_cpu"],
            "rounds_us": {k: [round(t, 2) for t in ts] for k, ts in times.items()}}


def format_loop_table(result):
    r = result
    lines = [f"the loop around the step: {r['rounds']} rounds of {r['steps']:,} steps, "
             f"{r['threads']} thread(s), float32; us/step, median",
             f"{'':40s} {'wall':>8s} {'CPU':>8s}",
             f"{'fast step alone, batches drawn before':40s} {r['step_us']:8.1f} "
             f"{r['step_cpu_us']:8.1f}",
             f"{'train (in memory)':40s} {r['train_us']:8.1f} {r['train_cpu_us']:8.1f}",
             f"{'loop overhead, % (median of train/step-1)':40s} {r['overhead_pct']:8.1f} "
             f"{r['overhead_cpu_pct']:8.1f}"]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)
