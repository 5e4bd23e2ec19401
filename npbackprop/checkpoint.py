"""Atomic saving and careful loading of checkpoints (.npz) and JSON files.

A write goes to a temporary file in the same folder, is flushed and fsynced,
then os.replace'd over the target: a reader sees the old file or the new
one, never half of one. Nothing is pickled: loading refuses object arrays.
"""

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from npbackprop.errors import NpbackpropError


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
