"""Learner code runs apart: a child process with a time and a memory limit.

    out = run_apart(request, timeout=60)     # in the grader: a Result, never an exception
    python -c "...; main(REQUEST, RESPONSE)"   # the child (CHILD), started by run_apart

The child loads FILE.py and calls FUNC on the arguments it is sent, or runs a
notebook's code cells in order in a namespace from lecture_setup, and sends
back what came out: values (torch tensors made arrays there), the learner's
error, notes. The reference is never computed in it, and nothing it does
(sys.exit, monkeypatching, a hang, a crash) reaches the grader: an exit, a
timeout or a kill comes back as a Result with `failure` set.
"""

import os
import pickle
import re
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from npbackprop.errors import NpbackpropError

DEFAULT_TIMEOUT = 60            # seconds: the lecture's sizes take well under one
MEMORY_LIMIT = 4 << 30          # bytes of address space for the child
MIN_MEMORY = 256 << 20          # below this, python and numpy alone may not start
# the child's program: main() through the module's name, so pickles name this module
CHILD = "import sys; from npbackprop.check.child import main; main(*sys.argv[1:3])"


class Opaque(NamedTuple):
    """A value that could not be sent back (a module, a lambda): its type's name."""

    type_name: str


class Result(NamedTuple):
    value: object = None        # FUNC's return value, or {name: value} from a notebook
    error: object = None        # a learner.LearnerError, or None
    notes: tuple = ()           # what the child has to say (tensors converted, cells skipped)
    setup_args: object = None   # (seed, sizes) of a lecture_setup the notebook called itself
    failure: str = ""           # the child exited, hung or was killed: one line


def parse_size(text):
    """"2G", "512M", "1.5GiB", "4096" (bytes) -> bytes, in powers of 1024.

    Raises NpbackpropError (one line) for a malformed size or one below MIN_MEMORY.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?b)?\s*", str(text), re.I)
    if not m or (m.group(3) and not m.group(2) and m.group(3).lower() == "ib"):
        raise NpbackpropError(f"--memory-limit: not a size: {text!r} (say 2G, 512M or 1.5GiB)")
    size = int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " "))
    if size < MIN_MEMORY:
        raise NpbackpropError(f"--memory-limit {text} is too small: python and numpy need at "
                              f"least {MIN_MEMORY >> 20}M to start")
    return size


def describe_size(size):
    """Bytes as --memory-limit takes them: 4294967296 -> "4G", 1610612736 -> "1.5G"."""
    if not size:
        return "none"
    for unit, power in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if size >= 1 << power:
            return f"{size / (1 << power):.4g}{unit}"
    return f"{size}"


def run_apart(request, timeout=DEFAULT_TIMEOUT, memory=MEMORY_LIMIT):
    """Run request (a dict, see _serve) in a child process; returns a Result.

    A usage mistake found in the child (file not found, no FUNC) raises
    NpbackpropError here, one line, as it would have in process.
    """
    with tempfile.TemporaryDirectory(prefix="npbackprop-check-") as tmp:
        req, resp = Path(tmp, "request.pkl"), Path(tmp, "response.pkl")
        req.write_bytes(pickle.dumps({**request, "memory": memory}))
        cmd = [sys.executable, "-c", CHILD, str(req), str(resp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            printed, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            printed, _ = proc.communicate()
            _show(printed)
            return Result(failure=f"your code did not finish within {timeout:g} s and was "
                          f"stopped (--timeout to give it longer)")
        code = proc.returncode
        _show(printed)
        if resp.exists():
            try:
                kind, payload = pickle.loads(resp.read_bytes())
            except Exception:  # a reply the child could not finish writing
                return Result(failure="what your code returned could not be read back")
            if kind == "usage":
                raise NpbackpropError(payload)
            return payload
        if code < 0:
            name = signal.Signals(-code).name
            why = (f" (out of memory? the limit is {describe_size(memory)}, --memory-limit to "
                   f"change it)" if name in ("SIGKILL", "SIGABRT") else "")
            return Result(failure=f"your code was killed by {name}{why}")
        return Result(failure=f"your code ended the process (exit code {code}) before "
                      f"returning: no gradients came back")


def _show(printed):
    # the learner's prints go to stderr: stdout is the table's
    if printed:
        sys.stderr.write(printed.decode("utf-8", "replace"))
        sys.stderr.flush()


# -----------------------------------------------------------------------------
# the child

SAFE = (type(None), bool, int, float, complex, str, bytes)


def _sendable(x):
    """x as the grader may unpickle it: numpy and builtins only, else described (Opaque)."""
    import numpy as np

    from npbackprop.check.learner import as_array
    y = as_array(x)
    if isinstance(y, (tuple, list)):
        return type(y)(_sendable(e) for e in y)
    if isinstance(y, np.ndarray):
        # an object array may hold anything: its shape and dtype are what the row needs
        return np.empty(y.shape, object) if y.dtype.hasobject else np.asarray(y)
    if isinstance(y, SAFE) or (isinstance(y, np.generic) and not isinstance(y, np.object_)):
        return y
    return Opaque(type(y).__name__)


def _tensors(before, after):
    names = [f"d{k}" if isinstance(k, str) and not k.startswith("d") else str(k)
             for k, x in before.items() if x is not after[k] and hasattr(x, "detach")]
    return [f"torch tensors converted with .detach().cpu().numpy(): {', '.join(names)}"] \
        if names else []


def _call(request):
    from npbackprop.check.learner import call_learner, load_learner
    learner = load_learner(request["spec"], request["func"])
    out, err = call_learner(learner, request["args"], request["params"], request.get("row"))
    if err is not None:
        grads = {k: _sendable(x) for k, x in err.local_grads.items()}
        return Result(error=err._replace(local_grads=grads))
    if isinstance(out, dict):
        sent = {k: _sendable(x) for k, x in out.items()}
        return Result(sent, notes=tuple(_tensors(out, sent)))
    sent = _sendable(out)
    return Result(sent, notes=tuple(_tensors({"result": out}, {"result": sent})))


def _serve(request):
    """The child's work: {"kind": "call", spec, func, args, params, row} or
    {"kind": "notebook", path, namespace, names}."""
    if request["kind"] == "call":
        return _call(request)
    from npbackprop.check.cells import SETUP_KEY, make_cmp, run_notebook
    from npbackprop.check.learner import misspelled
    ns, given = request["namespace"], request["namespace"][SETUP_KEY]
    ns["cmp"] = make_cmp(given)
    ns, notes, err = run_notebook(request["path"], ns)
    values = {k: _sendable(ns[k]) for k in request["names"] if k in ns}
    setup, setup_args = ns.get(SETUP_KEY), None
    if setup is not None and setup is not given and hasattr(setup, "sizes"):
        # as make_setup takes them: the lecture's fixture (no seed) is make_setup() alone
        setup_args = (setup.seed, setup.sizes._asdict() if setup.seed is not None else {})
    notes += misspelled(list(ns), request["names"])
    return Result(values, err, tuple(notes + _tensors({k: ns[k] for k in values}, values)),
                  setup_args)


def main(req_path, resp_path):
    request = pickle.loads(Path(req_path).read_bytes())
    limit = request.get("memory")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        reply = ("ok", _serve(request))
    except NpbackpropError as e:
        reply = ("usage", str(e))
    except SystemExit as e:
        reply = ("ok", Result(failure=f"your code called sys.exit({e.code!r}): no gradients "
                              "came back"))
    except MemoryError:  # outside the learner's function: loading it, or sending its values
        reply = ("ok", Result(failure=f"your code ran out of memory (the limit is "
                              f"{describe_size(limit)}, --memory-limit to change it)"))
    try:
        data = pickle.dumps(reply)
    except MemoryError:  # the values are there, but not room for a copy of them
        data = pickle.dumps(("ok", Result(failure=f"what your code returned is too large to "
                                          f"send back within the memory limit of "
                                          f"{describe_size(limit)} (--memory-limit)")))
    Path(resp_path).write_bytes(data)

