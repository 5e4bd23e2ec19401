"""The part-5 step side by side with eager torch autograd: `npbackprop bench --only wavenet`.

    result = bench_wavenet(dataset8, rounds=15, steps_per_round=100)
    text = format_wavenet_table(result)

The lecture's hierarchical network (block_size 8, n_embd 24, n_hidden 128,
batch 32) from one initial state, every variant on the same batches,
interleaved in rounds (harness.time_rounds); the ratio is the median over
rounds of variant / npbackprop float32. Nothing here prints.
"""

import importlib

import numpy as np

from npbackprop import fast_wavenet, nets
from npbackprop.bench.harness import (LR, _no_log, machine_info, make_batches, pinned_threads,
                                      summarize, time_rounds)

NUMPY = "npbackprop fast wavenet float32"
TORCH = "torch autograd wavenet float32"


def _numpy_step(state, batches, dtype, fast=True):
    V = state["0.weight"].shape[0]
    s = {k: v.astype(dtype) for k, v in state.items()}
    if fast:
        ws = fast_wavenet.Workspace(s, V, 24, 128, 8)
        return lambda i, lr: fast_wavenet.fast_sgd_step(ws, *batches[i], lr)
    ws = nets.Workspace("wavenet", s, V, 24, 128, 8)
    return lambda i, lr: nets.workspace_sgd_step(ws, *batches[i], lr)


def _load_torch():
    try:
        return importlib.import_module("npbackprop.bench.torch_wavenet"), None
    except ImportError:
        return None, "torch variant skipped: torch is not installed"


def bench_wavenet(dataset, *, rounds=15, steps_per_round=100, warmup_rounds=1, threads=1,
                  use_torch=True, batch_size=32, seed=0, log=_no_log):
    """{"machine", "settings", "notes", "variants"}: us/step of each variant, ratio to NUMPY."""
    if dataset.block_size != 8:
        raise ValueError(f"the wavenet bench needs block_size 8 data, got {dataset.block_size}")
    tw, why = _load_torch() if use_torch else (None, "torch variant not requested")
    state = nets.init_state("wavenet", dataset.vocab_size, 24, 128, 8,
                            rng=np.random.default_rng(seed), dtype=np.float64)
    batches = make_batches(dataset, batch_size, min(rounds + warmup_rounds, 20)
                           * steps_per_round, seed)
    with pinned_threads(threads, tw) as notes:
        steps = {NUMPY: _numpy_step(state, batches, np.float32),
                 "npbackprop fast wavenet float64": _numpy_step(state, batches, np.float64),
                 "npbackprop readable wavenet float32": _numpy_step(state, batches, np.float32,
                                                                     fast=False)}
        if tw is not None:
            net = nets.bound("wavenet", state, dataset.vocab_size, 24, 128, 8)
            steps[TORCH] = tw.autograd(net, state, batches)
        times = time_rounds(steps, len(batches), rounds, steps_per_round, warmup_rounds,
                            log=log)
        machine = machine_info(tw)
    return {"machine": machine, "notes": ([why] if why else []) + notes,
            "settings": {"rounds": rounds, "steps_per_round": steps_per_round,
                         "warmup_rounds": warmup_rounds, "threads": threads, "lr": LR,
                         "batch_size": batch_size, "params": nets.count_params(
                             nets.bound("wavenet", state, dataset.vocab_size, 24, 128, 8))},
            "variants": summarize(times, reference=NUMPY)}


def format_wavenet_table(result):
    """The table as text: median/min/max us/step and each variant's ratio to NUMPY."""
    s = result["settings"]
    lines = [f"part 5 wavenet step ({s['params']:,} parameters), batch {s['batch_size']}; "
             f"{s['rounds']} rounds of {s['steps_per_round']} steps, {s['threads']} thread(s)",
             f"{'variant':36s} {'median':>8s} {'min':>8s} {'max':>8s}  {'x np f32':>10s}",
             f"{'':36s} {'us/step':>8s} {'us/step':>8s} {'us/step':>8s}  {'(median)':>10s}"]
    for name, v in result["variants"].items():
        lines.append(f"{name:36s} {v['median_us']:8.1f} {v['min_us']:8.1f} {v['max_us']:8.1f}"
                     f"  {v['ratio_to_fast']:10.2f}")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)
