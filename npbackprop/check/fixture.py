"""The PyTorch reference for exercise 1, read without PyTorch.

tests/fixtures/make_torch_reference.py runs the lecture's chunked forward
pass and loss.backward() in torch and saves the arrays here, beside this
module, so an installed (or editable) package always finds them. Keys:

    Xb (N, T), Yb (N,), ix (N,)     int64 batch, shared by both dtypes
    n_train                         0-d int64, rows of Xtr that ix indexes
    torch_version                   0-d str, the torch that wrote the file
    <tag>/param/<name>              the 7 parameters, tag "f64" or "f32"
    <tag>/value/<name>              the 20 intermediates, `loss` last (0-d)
    <tag>/grad/<name>               the 26 gradients, each its tensor's shape

Names are the lecture's (names.PARAM_NAMES, INTERMEDIATES, GRAD_NAMES).
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from npbackprop.errors import NpbackpropError

FIXTURE_PATH = Path(__file__).with_name("torch_reference.npz")
DTYPE_TAGS = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}
KINDS = ("param", "value", "grad")
REGENERATE = "python tests/fixtures/make_torch_reference.py"


class Reference(NamedTuple):
    """One dtype's reference: params, Xb, Yb, intermediates, grads (dicts by name)."""

    params: dict
    Xb: np.ndarray
    Yb: np.ndarray
    values: dict
    grads: dict


def key(tag, kind, name):
    """The flat npz key of one array, e.g. key("f64", "grad", "W1") == "f64/grad/W1"."""
    return f"{tag}/{kind}/{name}"


def dtype_tag(dtype):
    """"f64" or "f32" for a float dtype (or the tag itself); NpbackpropError otherwise."""
    if isinstance(dtype, str) and dtype in DTYPE_TAGS.values():
        return dtype
    try:
        return DTYPE_TAGS[np.dtype(dtype)]
    except (TypeError, KeyError):
        raise NpbackpropError(
            f"no torch reference for dtype {dtype!r}; choose float64 or float32") from None


def _open(path):
    path = FIXTURE_PATH if path is None else Path(path)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NpbackpropError(
            f"torch reference not found at {path}; regenerate it with {REGENERATE}") from None


def load_reference(dtype=np.float64, path=None):
    """Load the torch reference for one dtype.

    Inputs: dtype float64 or float32 (or "f64" / "f32"); path defaults to
    FIXTURE_PATH. Returns Reference(params, Xb, Yb, values, grads), each dict
    keyed by the lecture's names in the order the file stores them.
    Raises NpbackpropError for a missing file or a file without that dtype.
    """
    tag = dtype_tag(dtype)
    with _open(path) as f:
        # one pass over the file's keys; names are whatever the file holds
        kinds = {kind: {} for kind in KINDS}
        for k in f.files:
            t, _, rest = k.partition("/")
            kind, _, name = rest.partition("/")
            if t == tag and kind in kinds:
                kinds[kind][name] = f[k]
        if not all(kinds.values()) or "Xb" not in f.files or "Yb" not in f.files:
            raise NpbackpropError(
                f"torch reference {path or FIXTURE_PATH} has no complete {tag} arrays; "
                f"regenerate it with {REGENERATE}")
        return Reference(kinds["param"], f["Xb"], f["Yb"], kinds["value"], kinds["grad"])


def torch_version(path=None):
    """The torch version string stored in the reference."""
    with _open(path) as f:
        return str(f["torch_version"])
