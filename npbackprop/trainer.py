"""Exercise 4: the training loop, its checkpoints, progress, signals and divergence.

    run = train(Config(max_steps=5000), dataset)          # in memory, returns a Run
    run = train(Config(), dataset, "out")                 # also writes out/model.npz, ...
    run = train(out_dir="out", resume=True)               # the run in out/, continued

A numpy Generator seeded from cfg.seed draws the initial parameters; the
minibatches come from batches.py, a chunk of steps at a time, each chunk
from its own generator seeded from (cfg.seed, chunk), so a resumed run
continues exactly where the interrupted one stopped, at any step. A resumed run is the run
that was started: its settings come from the checkpoint (a larger max_steps
extends it). A run stops as diverged when a loss or gradient is not finite,
or when the loss exceeds EXPLODE_FACTOR times its first step's loss; no
checkpoint ever holds non-finite parameters or statistics.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import numpy as np

from npbackprop import batches, checkpoint, datafile, networks
from npbackprop.checkpoint import (CONFIG_FILE, DIAGNOSTICS_FILE, METRICS_FILE, MODEL_FILE,
                                   RunState, WriteError)
from npbackprop.config import (DTYPES, RESUME_KEYS, Config, ConfigError,  # noqa: F401
                               config_of, learning_rate, resume_changes, validate)
from npbackprop.data import Dataset, load_dataset
from npbackprop.diagnostics import Recorder, resumed
from npbackprop.errors import NpbackpropError
from npbackprop.folder import RunFolder
from npbackprop.run import Run, evaluate, finite_metrics, load_run

# a loss above this many times the run's first loss has exploded: the lecture's runs
# start near ln(27) = 3.3 and never come back from 330
EXPLODE_FACTOR = 100.0
CLI_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal arrived; the run stopped at `step` (after a checkpoint, with an out_dir)."""

    def __init__(self, signum, step, out_dir):
        where = f"; checkpoint written to {Path(out_dir) / MODEL_FILE}" if out_dir else ""
        super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}{where}")
        self.signum, self.step, self.out_dir = signum, step, out_dir


class Diverged(NpbackpropError):
    """The loss exploded, or a loss, gradient or parameter is not finite: the run stops."""

    exit_code = 3


class _SignalFlag:
    """Turns signals into a flag the loop reads between steps (main thread only)."""

    def __init__(self, signals):
        self.signum, self._old = None, {}
        if threading.current_thread() is threading.main_thread():
            self.signals = tuple(signals)
        else:
            self.signals = ()  # Python lets only the main thread install handlers

    def __enter__(self):
        for s in self.signals:
            self._old[s] = signal.signal(s, self._set)
        return self

    def _set(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)


def run_config(cfg: Config, dataset: Dataset) -> dict:
    """What config.json and the checkpoint record: the settings, vocabulary and data."""
    return {**{k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
            "vocab": "".join(dataset.itos), "vocab_size": dataset.vocab_size,
            "data": str(dataset.path), "data_fingerprint": dataset.fingerprint}


def train(cfg: Config | None = None, dataset: Dataset | None = None, out_dir=None, *,
          resume: bool = False, force: bool = False, log_interval: int = 10_000,
          checkpoint_interval: int = 10_000, log=None, signals=(signal.SIGINT,),
          diagnostics: int | Recorder | None = None) -> Run:
    """Train a run (or resume the one in out_dir) and return it, calibrated and evaluated.

    cfg: the settings (default Config(); on resume, the checkpoint's, whose
    max_steps a given cfg may raise). dataset: default names.txt found as
    datafile.find_names_file finds it. out_dir: a folder (or a RunFolder) for
    model.npz every checkpoint_interval steps and at the end, config.json and
    metrics.json; None trains in memory. log: a callable for progress lines.
    signals: in the main thread, these stop the run at the next step, after a
    checkpoint, raising Interrupted (a KeyboardInterrupt). diagnostics: record
    part 3's statistics every this many steps (or into a given Recorder); the
    run's .diagnostics then holds them. Raises Diverged, ConfigError and
    NpbackpropError for what cannot work.
    """
    log = log or (lambda message: None)
    if diagnostics is not None and not isinstance(diagnostics, Recorder):
        diagnostics = Recorder(every=diagnostics)
    if out_dir is None:
        if resume or force:
            raise NpbackpropError("resume and force need an out_dir to find the run in")
        cfg = cfg or Config()
        validate(cfg)
        dataset = dataset or load_dataset(datafile.find_names_file(log=log), cfg.block_size)
        networks.check_trainable(cfg, dataset)
        state = _fresh_state(cfg, dataset)
        return _loop(cfg, dataset, None, state, log, log_interval, checkpoint_interval, signals,
                     diagnostics=diagnostics)
    opened = not isinstance(out_dir, RunFolder)
    folder = RunFolder.open(out_dir, resume=resume, force=force) if opened else out_dir
    try:
        if resume:
            arrays, saved = checkpoint.read_checkpoint(folder.path)
            cfg = cfg or config_of(saved)
        cfg = cfg or Config()
        validate(cfg)
        dataset = dataset or load_dataset(datafile.find_names_file(log=log), cfg.block_size)
        networks.check_trainable(cfg, dataset)
        if resume:
            state = _resume(folder.path, arrays, saved, cfg, dataset, log)
            if state.step >= cfg.max_steps:
                log(f"the run in {folder.path} is finished: {state.step:,} of "
                    f"{cfg.max_steps:,} steps (extend it with a larger max_steps)")
                return load_run(folder.path)
            diagnostics = resumed(folder.path / DIAGNOSTICS_FILE, state.step, diagnostics)
        else:
            state = _fresh_state(cfg, dataset)
        folder.clean(new_run=not resume)
        checkpoint.save_json(folder.path / CONFIG_FILE, run_config(cfg, dataset))
        return _loop(cfg, dataset, folder.path, state, log, log_interval, checkpoint_interval,
                     signals, saved_step=state.step if resume else None,
                     diagnostics=diagnostics)
    finally:
        if opened:
            folder.release()


def _fresh_state(cfg, dataset):
    rng = np.random.default_rng(cfg.seed)
    try:
        params = networks.init_params(cfg, dataset.vocab_size, rng, DTYPES[cfg.dtype])
    except MemoryError:
        raise NpbackpropError(f"out of memory making the model: n_embd {cfg.n_embd}, n_hidden "
                              f"{cfg.n_hidden}, block_size {cfg.block_size} and a vocabulary "
                              f"of {dataset.vocab_size} are too big for this machine") from None
    return RunState(params, 0, rng, [], 0.0, networks.init_running(cfg, params))


def _resume(out_dir, arrays, saved, cfg, dataset, log):
    """The checkpoint's RunState, after checking that cfg and dataset are its run's."""
    wanted = run_config(cfg, dataset)
    differ = resume_changes(saved, wanted, RESUME_KEYS + ("vocab", "data_fingerprint"))
    if differ:
        detail = ", ".join(f"{k}: checkpoint {v!r}, now {wanted[k]!r}" for k, v in differ.items())
        raise NpbackpropError(f"cannot resume the run in {out_dir}: {detail}. Resume with the "
                              f"checkpoint's settings and data, or train into a new --out-dir")
    state = checkpoint.resume_state(arrays)
    if networks.mlp_running(cfg):
        state.running = (arrays["bnmean"].copy(), arrays["bnvar"].copy())
    if state.step > cfg.max_steps:
        raise ConfigError("max_steps", f"{cfg.max_steps:,} is fewer than the {state.step:,} "
                          f"steps the run in {out_dir} has taken, and a run cannot be shortened"
                          f": resume with its own {saved['max_steps']:,} or more, or train a "
                          f"shorter run into another out_dir")
    log(f"resuming {out_dir / MODEL_FILE} at step {state.step:,}"
        + (f", extending the run from {saved['max_steps']:,} to {cfg.max_steps:,} steps"
           if cfg.max_steps != saved["max_steps"] else ""))
    return state


def _progress(step, cfg, loss, rate, start_step):
    left = (cfg.max_steps - step) / rate if rate else float("nan")
    eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left == left and left < 1e9 else "?"
    speed = f" | {rate:,.0f} steps/s, {eta} left" if step > start_step else ""
    return f"{step:7d}/{cfg.max_steps:7d}: {loss:.4f}{speed}"


def _workspace(state, cfg, dataset):
    try:
        # train() checked the split once, so the steps need not check each batch
        return networks.workspace(cfg, state.params, dataset.vocab_size, state.running,
                                  check_batches=False)
    except MemoryError:
        raise NpbackpropError(f"out of memory making the training buffers: batch {cfg.batch_size}"
                              f", n_hidden {cfg.n_hidden}, a vocabulary of {dataset.vocab_size} "
                              f"(the step keeps a vocabulary-squared one-hot table)") from None


def _loop(cfg, dataset, out_dir, state, log, log_interval, checkpoint_interval, signals,
          saved_step=None, diagnostics=None):
    run_cfg = run_config(cfg, dataset)
    Xtr, Ytr = dataset.Xtr, dataset.Ytr
    # the fast step works in preallocated buffers; the parameters become views into them
    ws = _workspace(state, cfg, dataset)
    state.params = ws.params
    start_step, t0, seconds_before = state.step, time.perf_counter(), state.seconds
    explode_at = EXPLODE_FACTOR * state.losses[0] if state.losses else None
    last = {"step": saved_step}

    def kept():
        if out_dir is None:
            return "the run was in memory only"
        if last["step"] is None:
            return "no checkpoint was written"
        return f"the last checkpoint, {out_dir / MODEL_FILE} at step {last['step']:,}, is intact"

    def save_checkpoint():
        state.seconds = seconds_before + time.perf_counter() - t0
        if out_dir is None:
            return
        bnmean, bnvar = networks.statistics(cfg, state.params, state.running, Xtr)
        if not checkpoint.all_finite([ws.flat, bnmean, bnvar]):
            raise Diverged(f"step {state.step}: the parameters or their batchnorm statistics "
                           f"are no longer finite; the learning rate is probably too high; "
                           f"{kept()}")
        try:
            checkpoint.save_checkpoint(out_dir, state, bnmean, bnvar, run_cfg)
            if diagnostics is not None:
                # the records so far, so that an interrupted run keeps them (resume reads them)
                checkpoint.save_npz(out_dir / DIAGNOSTICS_FILE, diagnostics.arrays())
        except WriteError as e:
            raise WriteError(f"{e}; {kept()}") from None
        last["step"] = state.step

    # overflow is detected below and reported with its step; numpy's warnings would only add noise
    with _SignalFlag(signals) as stop, np.errstate(over="ignore", invalid="ignore"):
        # each step's minibatch, drawn uniformly with replacement from the training split
        # (a chunk of steps at a time: batches.py)
        draws = batches.minibatches(Xtr, Ytr, cfg.seed, cfg.batch_size, state.step,
                                    cfg.max_steps)
        sgd_step = networks.sgd_step(cfg)  # the model's hand-written step, in place on ws
        for step, (Xb, Yb) in zip(range(state.step, cfg.max_steps), draws):
            if stop.signum is not None:
                save_checkpoint()
                raise Interrupted(stop.signum, step, out_dir)
            lr = learning_rate(step, cfg)
            loss, finite = sgd_step(ws, Xb, Yb, lr)
            if not finite:
                raise Diverged(f"step {step}: the loss or a gradient is not finite (loss "
                               f"{loss}); the learning rate {lr} is probably too high; {kept()}")
            if diagnostics is not None and step % diagnostics.every == 0:
                # ws.grads holds lr * grad, what the step subtracted
                diagnostics.record(step, ws.params, ws.grads)
            if explode_at is None:
                explode_at = EXPLODE_FACTOR * loss
            state.losses.append(loss)
            state.step = step + 1
            if loss > explode_at:
                raise Diverged(f"step {step}: the loss exploded to {loss:.4g}, over "
                               f"{EXPLODE_FACTOR:g} times its start ({state.losses[0]:.4g}); "
                               f"the learning rate {lr} is probably too high; {kept()}")
            if step % log_interval == 0:
                rate = (step - start_step) / (time.perf_counter() - t0)
                log(_progress(step, cfg, loss, rate, start_step))
            if state.step % checkpoint_interval == 0 and state.step < cfg.max_steps:
                save_checkpoint()
        # the final checkpoint too is written with signals held back, so it completes
        save_checkpoint()
    if stop.signum is not None:
        raise Interrupted(stop.signum, state.step, out_dir)
    if diagnostics is not None:
        # the snapshot batch: drawn from its own generator, so the run's stream is untouched
        ix = np.random.default_rng(cfg.seed + 1).integers(0, Xtr.shape[0], cfg.batch_size)
        diagnostics.snapshot(*networks.probe(cfg, state.params, Xtr[ix], Ytr[ix]),
                             state.params)
    return _finish(cfg, dataset, out_dir, state, kept, diagnostics)


def _finish(cfg, dataset, out_dir, state, kept, diagnostics=None):
    """Calibrate, evaluate each split, write metrics.json; a Run, or Diverged if not finite."""
    bnmean, bnvar = networks.statistics(cfg, state.params, state.running, dataset.Xtr)
    run = Run(cfg, {k: v.copy() for k, v in state.params.items()}, bnmean, bnvar,
              np.asarray(state.losses, dtype=np.float64), dataset.itos, state.step,
              out_dir=out_dir)
    run.metrics = {**evaluate(run, dataset), "step": state.step,
                   "seconds": round(state.seconds, 3), "split_sizes": dataset.split_sizes}
    run.diagnostics = diagnostics.arrays() if diagnostics is not None else None
    if out_dir is not None:
        try:
            if run.diagnostics is not None:
                checkpoint.save_npz(out_dir / DIAGNOSTICS_FILE, run.diagnostics)
            checkpoint.save_json(out_dir / METRICS_FILE, run.metrics)
        except WriteError as e:
            raise WriteError(f"{e}; {kept()}") from None
    if not finite_metrics(run.metrics):
        raise Diverged(f"step {state.step}: the run ended with a loss that is not finite "
                       f"({', '.join(f'{k} {v}' for k, v in run.metrics.items() if 'loss' in k)}"
                       f"); the learning rate is probably too high")
    return run
