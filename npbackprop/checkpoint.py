"""What a run folder holds, and how it is written and read.

    out/model.npz     parameters, calibrated (or running) bnmean/bnvar, step, RNG state,
                      loss history, seconds, the run's config (no pickle)
    out/config.json   the run's settings, its vocabulary and data fingerprint
    out/metrics.json  the losses after training (strict JSON: null, never NaN)
    out/diagnostics.npz, out/*.png   with --diagnostics and --plot

A write goes to a temporary file in the same folder, is flushed and fsynced,
then os.replace'd over the target: a reader sees the old file or the new
one, never half of one. Files get the permissions the user's umask gives.
Nothing is pickled, and a checkpoint is checked against its own config
before anything uses it. (folder.py holds a folder for one run at a time.)
"""

import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npbackprop.config import upgrade_saved
from npbackprop.errors import NpbackpropError
from npbackprop.names import param_shapes

MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.npz", "config.json", "metrics.json"
DIAGNOSTICS_FILE = "diagnostics.npz"
FIGURES = ("loss.png", "dlogits.png", "activations.png", "weight_gradients.png",
           "update_ratio.png")
# beside these, the arrays names.param_shapes lists for the run's model
CHECKPOINT_KEYS = ("bnmean", "bnvar", "step", "losses", "rng_state", "config")
# the files a run writes; a new run in a folder removes the old run's
RUN_FILES = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, DIAGNOSTICS_FILE) + FIGURES


class WriteError(NpbackpropError):
    """A run file could not be written (a full disk, a folder made read-only)."""

    exit_code = 1


def _umask():
    """The process's umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(path, write):
    """Call write(fileobj) on a temp file beside `path`, then move it into place.

    Raises WriteError, one line, if the file cannot be written; the previous
    file at `path` is then as it was.
    """
    path = Path(path)
    tmp = None
    try:
        # mkstemp opens with O_EXCL: a planted link is never followed
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        # make the rename itself durable
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        # any failure, Ctrl-C included, leaves the previous file as it was
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def save_npz(path, arrays):
    """Atomically save a dict of arrays (no objects) as an uncompressed .npz."""
    _write_atomic(path, lambda f: np.savez(f, **arrays))


def strict(obj):
    """obj with every non-finite float replaced by None, so that it is strict JSON."""
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def save_json(path, obj):
    """Atomically save an object as indented, strict JSON (non-finite floats as null)."""
    text = json.dumps(strict(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    _write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def save_bytes(path, data):
    """Atomically save bytes (a figure, say) at path."""
    _write_atomic(path, lambda f: f.write(data))


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
# the checkpoint of a run

@dataclass
class RunState:
    """Everything a checkpoint holds but the calibration: parameters, step,
    the one random generator, the loss history and the training seconds;
    running, the mlp's running (bnmean, bnvar) when it keeps them."""

    params: dict
    step: int
    rng: np.random.Generator
    losses: list
    seconds: float
    running: tuple | None = None


def all_finite(arrays):
    """True if every array given holds only finite numbers."""
    return all(bool(np.isfinite(a).all()) for a in arrays)


def save_checkpoint(out_dir, state, bnmean, bnvar, run_config):
    """Atomically write out_dir/model.npz from a RunState and its calibration.

    Refuses (ValueError) parameters or statistics that are not finite: no
    checkpoint ever holds them.
    """
    if not all_finite([*state.params.values(), bnmean, bnvar]):
        raise ValueError("refusing to save non-finite parameters or batchnorm statistics")
    arrays = {**state.params, "bnmean": bnmean, "bnvar": bnvar,
              "step": np.int64(state.step), "seconds": np.float64(state.seconds),
              "losses": np.asarray(state.losses, dtype=np.float64),
              "rng_state": np.str_(json.dumps(state.rng.bit_generator.state)),
              "config": np.str_(json.dumps(run_config, sort_keys=True))}
    save_npz(Path(out_dir) / MODEL_FILE, arrays)


def _expected_shapes(cfg):
    # part 4 calibrates (1, H) statistics; parts 3 and 5 keep running ones among the params
    calibrated = (1, cfg["n_hidden"] if cfg.get("model", "mlp") == "mlp" else 0)
    return {**param_shapes(cfg), "bnmean": calibrated, "bnvar": calibrated}


def validate(arrays, cfg, path):
    """Raise NpbackpropError, one line, unless the checkpoint agrees with its config.

    Checks the vocabulary, every array's shape and dtype, finiteness, the
    step against the loss history and max_steps, and the generator state.
    """
    def refuse(why):
        raise NpbackpropError(f"{path} is not a usable npbackprop checkpoint: {why}; "
                              f"retrain it (npbackprop train -o {Path(path).parent} --force)")
    keys = ("vocab", "vocab_size", "n_embd", "n_hidden", "block_size", "dtype", "max_steps")
    if not isinstance(cfg, dict) or any(k not in cfg for k in keys):
        refuse("its config lacks the run's settings")
    ints = ("vocab_size", "n_embd", "n_hidden", "block_size", "max_steps")
    if not all(isinstance(cfg[k], int) and cfg[k] >= 0 for k in ints):
        refuse("its config holds sizes that are not counts")
    if not isinstance(cfg["vocab"], str) or len(cfg["vocab"]) != cfg["vocab_size"]:
        refuse(f"its vocabulary is not of vocab_size {cfg['vocab_size']} characters")
    if cfg.get("model", "mlp") not in ("mlp", "wavenet", "deep"):
        refuse(f"its model {cfg.get('model')!r} is not one npbackprop trains")
    for name, shape in _expected_shapes(cfg).items():
        if name not in arrays:
            refuse(f"it lacks {name}")
        a = arrays[name]
        if a.shape != shape or a.dtype != np.dtype(cfg["dtype"]):
            refuse(f"{name} is {a.dtype} {a.shape}, its config says {cfg['dtype']} {shape}")
        if not np.isfinite(a).all():
            refuse(f"{name} holds non-finite values")
    if (arrays["bnvar"] < 0).any():
        refuse("bnvar holds negative variances")
    step, losses = arrays["step"], arrays["losses"]
    if step.shape != () or step.dtype.kind not in "iu" or not 0 <= int(step) <= cfg["max_steps"]:
        refuse(f"its step {step!r} is not a step of a {cfg['max_steps']}-step run")
    if losses.shape != (int(step),) or not np.isfinite(losses).all():
        refuse(f"its loss history ({losses.shape[0] if losses.ndim == 1 else '?'} losses) "
               f"does not match its step {int(step)}")
    try:
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(arrays["rng_state"]))
    except (ValueError, TypeError, KeyError):
        refuse("its random generator state is unreadable")


def not_a_folder(path):
    """The message for -o naming a file (model.npz itself, say) where a run's folder goes."""
    path = Path(path)
    if path.name == MODEL_FILE and path.is_file():
        fix = f"-o {path.parent}, the folder that holds it"
    else:
        fix = f"-o {path.with_suffix('')}" if path.suffix else "another name"
    kind = "is a file" if path.exists() else "looks like a file name"
    return (f"-o/--out-dir names the run's folder (it holds {MODEL_FILE}, config.json and "
            f"metrics.json), and {path} {kind}: use {fix}")


def read_checkpoint(out_dir):
    """Read and check a run's checkpoint: (arrays, run config). NpbackpropError if unusable."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NpbackpropError(not_a_folder(out_dir))
    if not out_dir.is_dir():
        raise NpbackpropError(f"no run in {out_dir}: the folder does not exist "
                              f"(train one with: npbackprop train -o {out_dir})")
    path = out_dir / MODEL_FILE
    arrays = load_npz(path, required=CHECKPOINT_KEYS)
    try:
        run_config = json.loads(str(arrays["config"]))
    except ValueError:
        raise NpbackpropError(f"{path} holds an unreadable config") from None
    validate(arrays, run_config, path)
    run_config = upgrade_saved(run_config)
    return arrays, run_config


def resume_state(arrays):
    """The RunState a checkpoint's arrays describe, its generator where it stopped."""
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(str(arrays["rng_state"]))
    params = {k: arrays[k] for k in param_shapes(json.loads(str(arrays["config"])))}
    return RunState(params, int(arrays["step"]), rng, list(arrays["losses"]),
                    float(arrays["seconds"]))
