"""The training loop's own cost: `train`'s steps against the fast step alone, interleaved.

    result = bench_loop(dataset, rounds=5, steps=5000)
    text = format_loop_table(result)

Each round runs, in turn, (a) fast.fast_sgd_step over `steps` minibatches
drawn beforehand (the step alone) and (b) trainer.train of a `steps`-step
run in memory, timed by the loop's own clock (metrics["seconds"]: drawing
the minibatches, the step, the checks, the loss history; no checkpoints,
since an in-memory run writes none). Same network, same batch size, same
learning rate. The overhead is the median over rounds of (b / a - 1).
Nothing here prints.
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
    alone, loop = [], []
    with pinned_threads(threads) as notes:
        for r in range(rounds + 1):
            ws = fast.Workspace(params, cfg.batch_size)
            t0 = time.perf_counter()
            for Xb, Yb in batches:
                fast.fast_sgd_step(ws, Xb, Yb, lr)
            a = (time.perf_counter() - t0) / steps * 1e6
            b = trainer.train(cfg, dataset).metrics["seconds"] / steps * 1e6
            if r:  # round 0 warms up
                alone.append(a)
                loop.append(b)
                log(f"loop round {r}/{rounds}: step alone {a:.1f} us, train {b:.1f} us")
    return {"machine": machine_info(), "notes": notes, "threads": threads, "rounds": rounds,
            "steps": steps, "step_us": statistics.median(alone),
            "train_us": statistics.median(loop),
            "overhead_pct": 100 * statistics.median(b / a - 1 for a, b in zip(alone, loop)),
            "rounds_us": {"step": [round(t, 2) for t in alone],
                          "train": [round(t, 2) for t in loop]}}


def format_loop_table(result):
    r = result
    lines = [f"the loop around the step: {r['rounds']} rounds of {r['steps']:,} steps, "
             f"{r['threads']} thread(s), float32",
             f"{'fast step alone, batches drawn before':40s} {r['step_us']:8.1f} us/step",
             f"{'train (in memory), its loop clock':40s} {r['train_us']:8.1f} us/step",
             f"{'loop overhead (median of train/step - 1)':40s} {r['overhead_pct']:7.1f} %"]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)
