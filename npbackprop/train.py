"""Exercise 4: the training loop, its schedule, checkpoints, progress and signals.

    cfg = Config(max_steps=200_000)          # the lecture's defaults
    metrics = train(cfg, dataset, "out/")    # writes model.npz, config.json, metrics.json

One numpy Generator, seeded from cfg.seed, draws the initial parameters and
then every minibatch; it is saved with the checkpoint, so a resumed run
continues exactly where the interrupted one stopped.
"""

import hashlib
import math
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from npbackprop import checkpoint, fast, model
from npbackprop.checkpoint import CONFIG_FILE, METRICS_FILE, MODEL_FILE, RunState
from npbackprop.errors import NpbackpropError

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class Config:
    """What a run is: the network, the schedule and the seed (the lecture's values)."""

    n_embd: int = 10
    n_hidden: int = 200
    block_size: int = 3
    batch_size: int = 32
    max_steps: int = 200_000
    lr: float = 0.1
    lr_decayed: float = 0.01
    lr_decay_step: int = 100_000
    seed: int = 2147483647
    dtype: str = "float32"


# a resumed run must agree with its checkpoint on everything but max_steps
RESUME_KEYS = tuple(f.name for f in fields(Config) if f.name != "max_steps")


def validate(cfg):
    """Raise NpbackpropError naming the first setting that cannot work."""
    if cfg.batch_size < 2:
        raise NpbackpropError(
            f"--batch-size must be at least 2, got {cfg.batch_size}: batchnorm's variance "
            f"divides by batch_size - 1 (Bessel's correction)")
    for name in ("block_size", "n_embd", "n_hidden"):
        if getattr(cfg, name) < 1:
            raise NpbackpropError(f"--{name.replace('_', '-')} must be at least 1, "
                                  f"got {getattr(cfg, name)}")
    for name in ("max_steps", "lr_decay_step"):
        if getattr(cfg, name) < 0:
            raise NpbackpropError(f"--{name.replace('_', '-')} must not be negative, "
                                  f"got {getattr(cfg, name)}")
    for name in ("lr", "lr_decayed"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value > 0):
            raise NpbackpropError(f"--{name.replace('_', '-')} must be a finite number "
                                  f"above 0, got {value}")
    if cfg.dtype not in DTYPES:
        raise NpbackpropError(f"--dtype must be one of {', '.join(DTYPES)}, got {cfg.dtype!r}")


def learning_rate(step, cfg):
    """The lecture's step decay: lr before lr_decay_step, lr_decayed from it on."""
    return cfg.lr if step < cfg.lr_decay_step else cfg.lr_decayed


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint at `step` has been written."""

    def __init__(self, signum, step, out_dir):
        super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}")
        self.signum, self.step, self.out_dir = signum, step, out_dir


class Diverged(NpbackpropError):
    """A non-finite loss or gradient: the run stops, the last checkpoint stays."""

    exit_code = 3


class _SignalFlag:
    """Turns SIGINT/SIGTERM into a flag the loop reads between steps."""

    def __init__(self):
        self.signum = None

    def __enter__(self):
        self._old = {s: signal.signal(s, self._set) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _set(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)


def data_fingerprint(dataset):
    """A short hash of the names and their order, to refuse resuming on other data."""
    return hashlib.sha256("\n".join(dataset.words).encode()).hexdigest()[:16]


def _run_config(cfg, dataset):
    return {**asdict(cfg), "vocab": "".join(dataset.itos), "vocab_size": dataset.vocab_size,
            "data": str(dataset.path), "data_fingerprint": data_fingerprint(dataset)}


def _resume_state(out_dir, cfg, dataset):
    arrays, saved = checkpoint.load_run(out_dir)
    wanted = _run_config(cfg, dataset)
    keys = RESUME_KEYS + ("vocab", "data_fingerprint")
    differ = [k for k in keys if saved.get(k) != wanted[k]]
    if differ:
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r}, now {wanted[k]!r}" for k in differ)
        raise NpbackpropError(f"cannot resume the run in {out_dir}: {detail}. Resume with the "
                              f"checkpoint's settings and data, or train into a new --out-dir")
    return checkpoint.resume_state(arrays)


def _progress(step, cfg, loss, rate, start_step):
    left = (cfg.max_steps - step) / rate if rate else float("nan")
    eta = time.strftime("%H:%M:%S", time.gmtime(left)) if math.isfinite(left) else "?"
    speed = f" | {rate:,.0f} steps/s, {eta} left" if step > start_step else ""
    return f"{step:7d}/{cfg.max_steps:7d}: {loss:.4f}{speed}"


def train(cfg, dataset, out_dir, *, resume=False, force=False, log_interval=10_000,
          checkpoint_interval=10_000, log=lambda message: None):
    """Train (or resume) a run in out_dir; return its metrics dict.

    Writes out_dir/model.npz every checkpoint_interval steps and at the end,
    config.json at the start, metrics.json at the end. Raises Interrupted on
    SIGINT/SIGTERM (after a checkpoint), Diverged on a non-finite loss or
    gradient, NpbackpropError for unusable settings or folders.
    """
    validate(cfg)
    out_dir = Path(out_dir)
    run_config = _run_config(cfg, dataset)
    _prepare_out_dir(out_dir, resume, force)
    if resume:
        state = _resume_state(out_dir, cfg, dataset)
        log(f"resuming {out_dir / MODEL_FILE} at step {state.step}")
    else:
        rng = np.random.default_rng(cfg.seed)
        params = model.init_params(dataset.vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size,
                                   rng=rng, dtype=DTYPES[cfg.dtype])
        state = RunState(params, 0, rng, [], 0.0)
    checkpoint.save_json(out_dir / CONFIG_FILE, run_config)

    Xtr, Ytr = dataset.Xtr, dataset.Ytr
    # the fast step works in preallocated buffers; the parameters become views into them
    ws = fast.Workspace(state.params, cfg.batch_size)
    state.params = ws.params
    start_step, t0 = state.step, time.perf_counter()
    seconds_before = state.seconds

    def save_checkpoint():
        state.seconds = seconds_before + time.perf_counter() - t0
        bnmean, bnvar = fast.calibrate(state.params, dataset.Xtr)
        checkpoint.save_checkpoint(out_dir, state, bnmean, bnvar, run_config)

    # overflow is detected below and reported with its step; numpy's warnings would only add noise
    with _SignalFlag() as stop, np.errstate(over="ignore", invalid="ignore"):
        for step in range(state.step, cfg.max_steps):
            if stop.signum is not None:
                save_checkpoint()
                raise Interrupted(stop.signum, step, out_dir)
            # minibatch, drawn uniformly with replacement from the training split
            ix = state.rng.integers(0, Xtr.shape[0], cfg.batch_size)
            loss, finite = fast.fast_sgd_step(ws, Xtr[ix], Ytr[ix], learning_rate(step, cfg))
            if not finite:
                kept = (f"the last checkpoint, {out_dir / MODEL_FILE}, is untouched"
                        if (out_dir / MODEL_FILE).exists() else "no checkpoint was written")
                raise Diverged(
                    f"step {step}: the loss or a gradient is not finite (loss {loss}); "
                    f"the learning rate {learning_rate(step, cfg)} is probably too high; "
                    f"{kept}")
            state.losses.append(loss)
            state.step = step + 1
            if step % log_interval == 0:
                rate = (step - start_step) / (time.perf_counter() - t0)
                log(_progress(step, cfg, loss, rate, start_step))
            if state.step % checkpoint_interval == 0 and state.step < cfg.max_steps:
                save_checkpoint()
        # the final checkpoint too is written with signals held back, so it completes
        save_checkpoint()
    if stop.signum is not None:
        raise Interrupted(stop.signum, state.step, out_dir)
    metrics = evaluate_run(state.params, dataset)
    metrics.update(step=state.step, seconds=round(state.seconds, 3),
                   split_sizes=dataset.split_sizes)
    checkpoint.save_json(out_dir / METRICS_FILE, metrics)
    return metrics


def evaluate_run(params, dataset, splits=("train", "val", "test")):
    """Calibrate batchnorm on the training split, then the loss of each split."""
    bnmean, bnvar = fast.calibrate(params, dataset.Xtr)
    return {f"{s}_loss": model.split_loss(params, bnmean, bnvar, *dataset.split(s))
            for s in splits}


def _prepare_out_dir(out_dir, resume, force):
    """Create out_dir; refuse to overwrite a run unless resuming or forced."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NpbackpropError(f"--out-dir {out_dir} exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NpbackpropError(f"cannot create --out-dir {out_dir}: {e.strerror}") from None
    existing = (out_dir / MODEL_FILE).exists()
    if resume and not existing:
        raise NpbackpropError(f"nothing to resume: {out_dir / MODEL_FILE} does not exist")
    if existing and not resume and not force:
        raise NpbackpropError(f"{out_dir} already holds a run ({MODEL_FILE}); continue it with "
                              f"--resume, overwrite it with --force, or choose another --out-dir")
    probe = out_dir / ".npbackprop-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise NpbackpropError(f"cannot write in --out-dir {out_dir}: {e.strerror}") from None
