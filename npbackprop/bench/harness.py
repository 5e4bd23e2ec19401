"""The benchmark harness: the machine, BLAS threads, torch if installed, timing.

    with pinned_threads(1, torch_variants) as notes:
        times = time_rounds({"a": step_a, "b": step_b}, n_batches, rounds=15,
                            steps_per_round=200)
    summary = summarize(times)

Rounds interleave the variants (A B C A B C ...) after a warm-up round, so a
busy moment of the machine falls on all of them alike; a variant's
median/min/max is over rounds of `steps_per_round` steps, and a ratio is the
median of the per-round ratios. The torch variants (torch_variants.py in this
package) are imported only here, only when asked, and only if torch imports:
nothing else in npbackprop imports torch. Nothing here prints: progress goes
to a `log` callable.
"""

import contextlib
import ctypes
import gc
import importlib
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

FAST = "npbackprop fast float32"   # the default training step: every ratio is against it
LR = 0.1
TORCH_VERSION = "2.13.0"           # the torch the project tests with


def _no_log(message):
    pass


# -----------------------------------------------------------------------------
# the machine, and BLAS threads

def _openblas():
    """numpy's bundled OpenBLAS as a ctypes library, or None (another BLAS, or not found)."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("*openblas*")) if libs.is_dir() else []:
        lib = ctypes.CDLL(str(path))
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                # the kernel set OpenBLAS picked for this CPU at load time (e.g. SkylakeX)
                core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                if core is not None:
                    core.restype = ctypes.c_char_p
                if get is not None and put is not None:
                    return get, put, core
    return None


def blas_kernel():
    """The kernel set numpy's OpenBLAS runs (its corename, e.g. 'SkylakeX'), or None."""
    lib = _openblas()
    if lib is None or lib[2] is None:
        return None
    return lib[2]().decode("ascii", "replace")


def blas_threads():
    """The number of threads numpy's OpenBLAS uses now, or None if it cannot be read."""
    lib = _openblas()
    return int(lib[0]()) if lib else None


def set_blas_threads(n):
    """Set numpy's OpenBLAS thread count in this process; False if not possible.

    Unlike OPENBLAS_NUM_THREADS, which OpenBLAS reads once when numpy is
    imported, this works at any time.
    """
    lib = _openblas()
    if lib is None:
        return False
    lib[1](int(n))
    return True


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(torch_variants=None):
    """CPU, cores, Python, numpy and its BLAS, threads, and torch if loaded: a dict."""
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "blas": blas.get("name", "unknown"),
            "blas_version": blas.get("version", ""),
            "blas_config": blas.get("openblas configuration", ""),
            "blas_kernel": blas_kernel(), "blas_threads": blas_threads(),
            "env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                               "MKL_NUM_THREADS", "OPENBLAS_CORETYPE")
                    if k in os.environ}}
    if torch_variants is not None:
        info.update(torch_variants.info())
    return info


def format_machine(info):
    """The header lines of every table: what ran, where, with how many threads."""
    blas = f"{info['blas']} {info['blas_version']}".strip()
    lines = [f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}",
             f"numpy {info['numpy']}, BLAS {blas} ({info['blas_config'] or 'no config string'}),"
             f" kernel {info.get('blas_kernel') or 'unknown'},"
             f" {info['blas_threads'] or '?'} BLAS thread(s)"]
    if "torch" in info:
        lines.append(f"torch {info['torch']} (BLAS {info['torch_blas']}), "
                     f"{info['torch_threads']} thread(s)")
    if info["env"]:
        lines.append("environment: " + ", ".join(f"{k}={v}" for k, v in info["env"].items()))
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# torch, when installed

def load_torch_variants(name="npbackprop.bench.torch_variants"):
    """(module, None) with the torch variants imported, or (None, why not)."""
    try:
        # that module imports torch; no module outside this package does
        return importlib.import_module(name), None
    except ImportError:
        return None, (f"torch variants skipped: torch is not installed "
                      f"(pip install torch=={TORCH_VERSION})")


@contextlib.contextmanager
def pinned_threads(n, torch_variants=None):
    """Within the block, numpy's BLAS and torch use n threads; restored after.

    Yields a list of notes on what could not be pinned.
    """
    blas_before = blas_threads()
    notes = []
    if not set_blas_threads(n):
        notes.append(f"numpy's BLAS threads could not be set at run time; set "
                     f"OPENBLAS_NUM_THREADS={n} (or your BLAS's variable) before starting")
    torch_before = torch_variants.info()["torch_threads"] if torch_variants else None
    if torch_variants is not None:
        torch_variants.set_threads(n)
    try:
        yield notes
    finally:
        if blas_before is not None:
            set_blas_threads(blas_before)
        if torch_before is not None:
            torch_variants.set_threads(torch_before)


# -----------------------------------------------------------------------------
# timing

def make_batches(dataset, batch_size, count, seed=0):
    """count minibatches (Xb, Yb) drawn as train.py draws them, from one seed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ix = rng.integers(0, dataset.Xtr.shape[0], batch_size)
        out.append((dataset.Xtr[ix], dataset.Ytr[ix]))
    return out


def time_rounds(steps, n_batches, rounds, steps_per_round, warmup_rounds=1, lr=LR,
                log=_no_log):
    """Time each step(i, lr) on batches i, the variants interleaved within each round.

    steps: {name: step}. Round r runs the same batch indices for every variant.
    Returns {name: [microseconds per step, one per timed round]}.
    """
    times = {name: [] for name in steps}
    for r in range(warmup_rounds + rounds):
        batch_ids = [(r * steps_per_round + k) % n_batches for k in range(steps_per_round)]
        for name, step in steps.items():
            gc_was_on = gc.isenabled()
            gc.disable()  # as timeit does: a collection would land on one variant only
            try:
                t0 = time.perf_counter()
                for i in batch_ids:
                    step(i, lr)
                dt = time.perf_counter() - t0
            finally:
                if gc_was_on:
                    gc.enable()
            if r >= warmup_rounds:
                times[name].append(dt / steps_per_round * 1e6)
        if r >= warmup_rounds:
            log(f"round {r - warmup_rounds + 1}/{rounds}: " + ", ".join(
                f"{name} {t[-1]:.0f} us" for name, t in times.items()))
    return times


def summarize(times, reference=FAST):
    """Median/min/max per variant and the median of its per-round ratios to `reference`."""
    ref = times.get(reference)
    out = {}
    for name, ts in times.items():
        row = {"median_us": statistics.median(ts), "min_us": min(ts), "max_us": max(ts),
               "rounds_us": [round(t, 2) for t in ts]}
        if ref:
            row["ratio_to_fast"] = statistics.median(t / r for t, r in zip(ts, ref))
        out[name] = row
    return out
