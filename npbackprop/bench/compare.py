"""npbackprop beside compiled peers: JAX jit, JAX jit + lax.scan, torch eager and torch.compile.

    result = bench_compiled(dataset, rounds=9)     # us/step, chunks of 1000 steps
    result = bench_compiled_full_run(dataset)      # the whole 200,000-step training, seconds

Every variant starts from the same parameters and trains on the same
minibatches, the training stream itself (batches.draw_chunk): round r is
chunk r, 1000 steps, run by each variant in turn, so a busy moment of the
machine falls on all alike. A ratio is the median over rounds of (variant /
npbackprop). The losses of the first chunk are compared as a check that all
run the same training. torch.compile compiles before round 0, on a copy of
the parameters; its compile time is reported apart, and where it fails the
row is left out and a one-line note says why. jax and torch are imported here lazily, only if
installed; jax only through jax_variants.py. Nothing here prints.
"""

import importlib
import statistics
import time

import numpy as np

from npbackprop import batches, fast, model, trainer
from npbackprop.bench.harness import _no_log, load_torch_variants, machine_info, pinned_threads

NP = "npbackprop fast float32"
TORCH_COMPILE = "torch.compile functional step"


def load_jax_variants():
    """(module, None), or (None, why not)."""
    try:
        return importlib.import_module("npbackprop.bench.jax_variants"), None
    except ImportError:
        return None, 'jax variants skipped: jax is not installed (pip install "jax[cpu]")'


def _one_line(error):
    """An exception as one short line: its type and its message's first line."""
    first = next((ln.strip() for ln in str(error).splitlines() if ln.strip()), "")
    return f"{type(error).__name__}: {first}"[:200]


def _torch_compile(tv, params, Xb, Yb):
    """(step, compile seconds, None), or (None, None, why not) in one line."""
    try:
        step = tv.compiled_stream(params, Xb, Yb)
    except Exception as e:  # noqa: BLE001 (no compiler, an unsupported op: any reason is a note)
        return None, None, f"torch.compile skipped: {_one_line(e)}"
    return step, step.compile_seconds, None


def _variants(params, lr_of, tv, jv, first_batch):
    """({name: run(Xc, Yc, step0) -> losses of the chunk's steps}, {name: compile s}, notes)."""
    # the step as train runs it: the batches are rows of a split checked once
    ws = fast.Workspace(params, 32, check_batches=False)

    def np_run(Xc, Yc, step0):
        return [fast.fast_sgd_step(ws, Xb, Yb, lr_of(step0 + j))[0]
                for j, (Xb, Yb) in enumerate(zip(Xc, Yc))]
    out = {NP: np_run}
    if jv is not None:
        jit, scan = jv.jit_step(params), jv.scan_steps(params)
        out["jax jit step"] = lambda Xc, Yc, s: [jit(Xb, Yb, lr_of(s + j))
                                                 for j, (Xb, Yb) in enumerate(zip(Xc, Yc))]
        # one lr a chunk: the lecture's decay step, 100,000, is a chunk edge
        out["jax jit + lax.scan, 1000 steps a call"] = lambda Xc, Yc, s: list(
            np.asarray(scan(Xc, Yc, np.float32(lr_of(s)))))
    if tv is not None:
        auto = tv.autograd_stream(params)
        out["torch autograd (eager)"] = lambda Xc, Yc, s: [auto(Xb, Yb, lr_of(s + j))
                                                          for j, (Xb, Yb) in enumerate(zip(Xc, Yc))]
        comp, seconds, why = _torch_compile(tv, params, *first_batch)
        if comp is not None:
            out[TORCH_COMPILE] = lambda Xc, Yc, s: [comp(Xb, Yb, lr_of(s + j))
                                                    for j, (Xb, Yb) in enumerate(zip(Xc, Yc))]
            return out, {TORCH_COMPILE: seconds}, []
        return out, {}, [why]
    return out, {}, []


def bench_compiled(dataset, *, rounds=9, threads=1, use_torch=True, log=_no_log):
    """us/step of each variant over interleaved chunks of 1000 steps, and ratios to npbackprop."""
    cfg = trainer.Config()
    params = model.init_params(dataset.vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size,
                               rng=np.random.default_rng(cfg.seed), dtype=np.float32)
    jv, why_jax = load_jax_variants()
    tv, why_torch = load_torch_variants() if use_torch else (None, "torch not requested")
    with pinned_threads(threads, tv) as notes:
        Xc, Yc = batches.draw_chunk(dataset.Xtr, dataset.Ytr, cfg.seed, 0, cfg.batch_size)
        runs, compile_s, compile_notes = _variants(
            params, lambda s: trainer.learning_rate(s, cfg), tv, jv, (Xc[0], Yc[0]))
        times = {name: [] for name in runs}
        first = {}
        for r in range(rounds + 1):
            Xc, Yc = batches.draw_chunk(dataset.Xtr, dataset.Ytr, cfg.seed, r, cfg.batch_size)
            for name, run in runs.items():
                t0 = time.perf_counter()
                losses = run(Xc, Yc, r * len(Xc))
                dt = (time.perf_counter() - t0) / len(Xc) * 1e6
                if r == 0:          # round 0 compiles and warms up; its losses are compared
                    first[name] = np.asarray(losses, np.float64)
                else:
                    times[name].append(dt)
            log(f"compiled round {r}/{rounds}: " + ", ".join(
                f"{k} {t[-1]:.0f} us" for k, t in times.items() if t))
    ref = times[NP]
    rows = {name: {"median_us": statistics.median(ts), "min_us": min(ts), "max_us": max(ts),
                   "ratio_to_npbackprop": statistics.median(t / a for t, a in zip(ts, ref)),
                   "first_chunk_max_loss_diff": float(np.abs(first[name] - first[NP]).max()),
                   **({"compile_seconds": compile_s[name]} if name in compile_s else {})}
            for name, ts in times.items()}
    info = machine_info(tv)
    if jv is not None:
        info.update(jv.info())
    return {"machine": info,
            "notes": [n for n in (why_jax, why_torch) if n] + compile_notes + notes,
            "rounds": rounds, "threads": threads, "variants": rows}


def format_compiled(result):
    m = result["machine"]
    lines = [f"npbackprop beside compiled peers: {result['rounds']} rounds of one 1000-step "
             f"chunk each, {result['threads']} thread(s), float32",
             *([f"jax {m['jax']} ({m['jax_backend']}), XLA_FLAGS={m['xla_flags']}"]
               if "jax" in m else []),
             f"{'variant':40s} {'median':>8s} {'min':>8s} {'max':>8s} {'x npbp':>7s} "
             f"{'loss diff':>9s}"]
    for name, v in result["variants"].items():
        lines.append(f"{name:40s} {v['median_us']:8.1f} {v['min_us']:8.1f} {v['max_us']:8.1f} "
                     f"{v['ratio_to_npbackprop']:7.2f} {v['first_chunk_max_loss_diff']:9.1e}"
                     + (f"  (compiled in {v['compile_seconds']:.1f} s, not timed)"
                        if "compile_seconds" in v else ""))
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def bench_compiled_full_run(dataset, *, max_steps=200_000, torch_steps=20_000, threads=1,
                            use_torch=True, log=_no_log):
    """Whole training time of the default run: npbackprop train, the JAX scan loop, torch.

    npbackprop: trainer.train in memory (wall of the call: init, the loop,
    calibration and the split losses; and the loop's own seconds). JAX: its
    compilation, then every chunk drawn by batches.draw_chunk and run by one
    scan call. Eager torch autograd is slow, so it runs `torch_steps` steps and
    its time is scaled to max_steps (said in the result).
    """
    cfg = trainer.Config(max_steps=max_steps)
    params = model.init_params(dataset.vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size,
                               rng=np.random.default_rng(cfg.seed), dtype=np.float32)
    jv, why_jax = load_jax_variants()
    tv, why_torch = load_torch_variants() if use_torch else (None, "torch not requested")
    out = {"max_steps": max_steps, "threads": threads, "rows": {}}
    with pinned_threads(threads, tv) as notes:
        t0 = time.perf_counter()
        run = trainer.train(cfg, dataset)
        out["rows"]["npbackprop train"] = {
            "seconds": time.perf_counter() - t0, "loop_seconds": run.metrics["seconds"],
            "val_loss": run.metrics["val_loss"], "last_loss": float(run.losses[-1])}
        log(f"npbackprop train: {out['rows']['npbackprop train']['seconds']:.1f} s")
        for name, steps, make in (("jax jit + lax.scan", max_steps, jv and jv.scan_steps),
                                  ("torch autograd (eager)", torch_steps,
                                   tv and tv.autograd_stream)):
            if make is None:
                continue
            t0 = time.perf_counter()
            step = make(params)
            last = None
            for k in range(-(-steps // batches.CHUNK)):
                Xc, Yc = batches.draw_chunk(dataset.Xtr, dataset.Ytr, cfg.seed, k,
                                            cfg.batch_size)
                n = min(batches.CHUNK, steps - k * batches.CHUNK)
                lr = trainer.learning_rate(k * batches.CHUNK, cfg)
                if name.startswith("jax"):
                    last = float(step(Xc[:n], Yc[:n], np.float32(lr))[-1])
                else:
                    last = [step(Xb, Yb, lr) for Xb, Yb in zip(Xc[:n], Yc[:n])][-1]
            dt = time.perf_counter() - t0
            out["rows"][name] = {"seconds": dt * max_steps / steps, "steps_run": steps,
                                 "last_loss": last}
            log(f"{name}: {dt:.1f} s for {steps:,} steps")
    ref = out["rows"]["npbackprop train"]["seconds"]
    for row in out["rows"].values():
        row["ratio_to_npbackprop"] = row["seconds"] / ref
    out["notes"] = [n for n in (why_jax, why_torch) if n] + notes
    return out


def format_compiled_full_run(result):
    lines = [f"whole training time, {result['max_steps']:,} steps, {result['threads']} "
             f"thread(s), float32",
             f"{'variant':28s} {'seconds':>8s} {'x npbp':>7s} {'last loss':>9s}"]
    for name, r in result["rows"].items():
        scaled = (f"  (from {r['steps_run']:,} steps, scaled)"
                  if r.get("steps_run", result["max_steps"]) != result["max_steps"] else "")
        lines.append(f"{name:28s} {r['seconds']:8.1f} {r['ratio_to_npbackprop']:7.2f} "
                     f"{r['last_loss']:9.4f}{scaled}")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)
