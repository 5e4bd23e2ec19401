"""What a run folder holds, and how it is written and read.

    out/model.npz     parameters, calibrated bnmean/bnvar, step, RNG state,
                      loss history, seconds, the run's config (no pickle)
    out/config.json   the run's settings, its vocabulary and data fingerprint
    out/metrics.json  the losses after training

A write goes to a temporary file in the same folder, is flushed and fsynced,
then os.replace'd over the target: a reader sees the old file or the new
one, never half of one. Nothing is pickled: loading refuses object arrays.
"""

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npbackprop.errors import NpbackpropError
from npbackprop.names import PARAM_NAMES

MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.npz", "config.json", "metrics.json"
CHECKPOINT_KEYS = PARAM_NAMES + ("bnmean", "bnvar", "step", "losses", "rng_state", "config")


def _write_atomic(path, write):
    """Call write(fileobj) on a temp file beside `path`, then move it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # any failure, Ctrl-C included, leaves the previous file as it was
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # make the rename itself durable
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def save_npz(path, arrays):
    """Atomically save a dict of arrays (no objects) as an uncompressed .npz."""
    _write_atomic(path, lambda f: np.savez(f, **arrays))


def save_json(path, obj):
    """Atomically save an object as indented JSON."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    _write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def load_npz(path, required=()):
    """Load every array of an .npz into a dict, refusing what is not ours.

    Raises NpbackpropError if the file is missing, truncated or not an .npz,
    holds pickled objects, or lacks any of the `required` keys.
    """
    path = Path(path)
    if not path.is_file():
        raise NpbackpropError(f"no checkpoint at {path}: train a model there first "
                              f"(npbackprop train -o {path.parent})")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise NpbackpropError(f"{path} is not a readable npbackprop checkpoint "
                              f"(truncated or not an .npz: {e})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise NpbackpropError(f"{path} is not an npbackprop checkpoint: "
                              f"it lacks {', '.join(missing)}")
    return arrays


def load_json(path):
    """Load a JSON file, with a clear error if it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NpbackpropError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise NpbackpropError(f"{path} is not valid JSON: {e}") from None


# -----------------------------------------------------------------------------
# the run folder

@dataclass
class RunState:
    """Everything a checkpoint holds but the calibration: parameters, step,
    the one random generator, the loss history and the training seconds."""

    params: dict
    step: int
    rng: np.random.Generator
    losses: list
    seconds: float


def save_checkpoint(out_dir, state, bnmean, bnvar, run_config):
    """Atomically write out_dir/model.npz from a RunState and its calibration."""
    arrays = {**state.params, "bnmean": bnmean, "bnvar": bnvar,
              "step": np.int64(state.step), "seconds": np.float64(state.seconds),
              "losses": np.asarray(state.losses, dtype=np.float64),
              "rng_state": np.str_(json.dumps(state.rng.bit_generator.state)),
              "config": np.str_(json.dumps(run_config, sort_keys=True))}
    save_npz(Path(out_dir) / MODEL_FILE, arrays)


def load_run(out_dir):
    """Read a run's checkpoint: (arrays, run config dict). NpbackpropError if unusable."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise NpbackpropError(f"no run in {out_dir}: the folder does not exist "
                              f"(train one with: npbackprop train -o {out_dir})")
    arrays = load_npz(out_dir / MODEL_FILE, required=CHECKPOINT_KEYS)
    try:
        run_config = json.loads(str(arrays["config"]))
    except ValueError:
        raise NpbackpropError(f"{out_dir / MODEL_FILE} holds an unreadable config") from None
    return arrays, run_config


def resume_state(arrays):
    """The RunState a checkpoint's arrays describe, its generator where it stopped."""
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(str(arrays["rng_state"]))
    params = {k: arrays[k] for k in PARAM_NAMES}
    return RunState(params, int(arrays["step"]), rng, list(arrays["losses"]),
                    float(arrays["seconds"]))


def load_model(out_dir):
    """A trained run's (params, bnmean, bnvar, run config, step), checked against its config."""
    arrays, cfg = load_run(out_dir)
    params = {k: arrays[k] for k in PARAM_NAMES}
    vocab = cfg.get("vocab", "")
    V, T = len(vocab), cfg.get("block_size")
    if params["C"].shape[0] != V or params["W1"].shape[0] != params["C"].shape[1] * (T or 0):
        raise NpbackpropError(f"{Path(out_dir) / MODEL_FILE} does not match its config "
                              f"(vocab of {V}, block_size {T}); retrain it")
    return params, arrays["bnmean"], arrays["bnvar"], cfg, int(arrays["step"])
