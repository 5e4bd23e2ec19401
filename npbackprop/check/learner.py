"""A learner's FILE.py:FUNC: loading it, calling it safely, and the starting file.

    learner = load_learner("mine.py:backward")
    out, err = call_learner(learner, (cache,), "cache")   # err: a LearnerError or None
    text = template()                                      # backprop_template.py

FUNC runs on copies of its arguments. When it raises, the LearnerError holds
the traceback frames from the learner's file only, the gradient row being
computed (from the assignment at the failing line) and the gradients its
frames held so far. Mistakes in loading raise NpbackpropError, one line.
"""

import ast
import difflib
import linecache
import traceback
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np

from npbackprop.check.hints import hint
from npbackprop.errors import NpbackpropError
from npbackprop.names import GRAD_NAMES


class Learner(NamedTuple):
    """A learner's function, loaded, and where it came from."""

    func: object
    label: str              # FILE.py:FUNC as given
    path: Path              # resolved, as in the learner's tracebacks
    tree: ast.AST


def load_learner(spec, default_func="backward"):
    """Import FUNC from FILE.py given as "FILE.py:FUNC" (or "FILE.py" for default_func).

    Raises NpbackpropError, one line, for a missing or non-Python file, a
    syntax error, an exception while loading, or a FUNC absent or not callable.
    """
    file, name = parse_spec(spec, default_func)
    path = Path(file)
    if not path.exists():
        raise NpbackpropError(f"learner file not found: {file}")
    if path.is_dir() or path.suffix != ".py":
        raise NpbackpropError(f"not a Python file: {file} (expected FILE.py:FUNC)")
    resolved = path.resolve()
    try:
        source = resolved.read_text(encoding="utf-8")
        tree = ast.parse(source, str(resolved))
        code = compile(tree, str(resolved), "exec")
    except SyntaxError as e:
        raise NpbackpropError(f"{file} is not valid Python: line {e.lineno}: {e.msg}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise NpbackpropError(f"not a Python file: {file} ({e})") from None
    module = types.ModuleType(f"npbackprop_learner_{path.stem}")
    module.__file__ = str(resolved)
    try:
        exec(code, module.__dict__)
    except Exception as e:  # the learner's module-level code
        line = _learner_frames(e, resolved)[-1:]
        at = f" at line {line[0].lineno}" if line else ""
        raise NpbackpropError(f"{file} raised {type(e).__name__}{at} while loading: "
                              f"{_first_line(e)}") from None
    if not hasattr(module, name):
        defined = sorted(k for k, f in vars(module).items()
                         if isinstance(f, types.FunctionType) and f.__module__ == module.__name__)
        also = f" (it defines: {', '.join(defined)})" if defined else " (it defines no functions)"
        raise NpbackpropError(f"{file} has no function {name!r}{also}")
    func = getattr(module, name)
    if not callable(func):
        raise NpbackpropError(f"{file}:{name} is not a function: it is of type "
                              f"{type(func).__name__}")
    return Learner(func, f"{file}:{name}", resolved, tree)


def parse_spec(spec, default_func):
    """"FILE.py:FUNC" -> (FILE.py, FUNC); "FILE.py" -> (FILE.py, default_func)."""
    file, sep, name = spec.rpartition(":")
    # no FUNC given, or the colon is the path's own (a Windows drive)
    if not sep or not file or not name.isidentifier():
        return spec, default_func
    return file, name


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def _learner_frames(exc, path):
    """The traceback entries of exc that are in the learner's file."""
    return [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]


def _assigned_grad(tree, lineno):
    """The gradient a statement at lineno assigns (dX = ..., d["X"] = ...), or None."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            continue
        if not node.lineno <= lineno <= (node.end_lineno or node.lineno):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            for name in _target_names(t):
                grad = grad_name(name)
                if grad:
                    return grad
    return None


def _target_names(t):
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        return [n for e in t.elts for n in _target_names(e)]
    if isinstance(t, ast.Subscript):
        key = t.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return [key.value]
        return _target_names(t.value)
    return []


def grad_name(name):
    """"dW1" or "W1" -> "W1"; anything else -> None."""
    if not isinstance(name, str):
        return None
    if name in GRAD_NAMES:
        return name
    return name[1:] if name.startswith("d") and name[1:] in GRAD_NAMES else None


def closest_name(key):
    """The lecture's name nearest an unknown key, spelled as the key is ("dW1" or "W1"):
    "dlogits_maxes" -> "dlogit_maxes"; None when nothing is close."""
    if not isinstance(key, str) or grad_name(key) is not None:
        return None
    bare = key[1:] if key.startswith("d") else key
    match = difflib.get_close_matches(bare, GRAD_NAMES, n=1, cutoff=0.75)
    return None if not match else (f"d{match[0]}" if key.startswith("d") else match[0])


def misspelled(names, wanted=None):
    """Notes for names (a namespace's, a dict's keys) that look like a lecture gradient
    misspelled: "dlogits_maxes: did you mean dlogit_maxes?". wanted: the names graded
    (d-prefixed); a near name is only suggested when that name is missing."""
    notes = []
    for k in names:
        near = closest_name(k) if isinstance(k, str) and k.startswith("d") else None
        if near and (wanted is None or (near in wanted and near not in names)):
            notes.append(f"{k} is not a lecture name: did you mean {near}?")
    return notes


class LearnerError(NamedTuple):
    """An exception raised by the learner's FUNC."""

    exc_type: str
    message: str
    lineno: object          # the learner's innermost line, or None
    row: object             # the gradient being computed, or None
    traceback: tuple        # lines, frames from the learner's file only
    local_grads: dict       # the gradients computed so far, from the learner's frames
    line: str = ""          # the source of the learner's innermost line, for the hint


def call_learner(learner, args, params, row=None):
    """Run FUNC on copies of args. Returns (result, None) or (None, LearnerError).

    params names the arguments for messages ("logits, Yb"); row, the one
    gradient FUNC computes (exercises 2 and 3), else found from the failing
    line. An exception with
    no frame in the learner's file means FUNC could not be called that way:
    NpbackpropError.
    """
    args = tuple(_copy(a) for a in args)
    try:
        return learner.func(*args), None
    except Exception as exc:  # the learner's code; shown as their traceback
        frames = _learner_frames(exc, learner.path)
        if not frames:
            call_text = f"{learner.label.rpartition(':')[2]}({params})"
            raise NpbackpropError(f"{learner.label} could not be called as {call_text}: "
                                  f"{type(exc).__name__}: {_first_line(exc)}") from None
        grads, func_line = _grads_so_far(exc, learner, args), None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is getattr(learner.func, "__code__", None):
                func_line = tb.tb_lineno
            tb = tb.tb_next
        row = row or _assigned_grad(learner.tree, frames[-1].lineno)
        if row is None and func_line is not None:
            row = _assigned_grad(learner.tree, func_line)
        if row is None:
            # the first gradient, in the lecture's order, not yet computed
            row = next((k for k in GRAD_NAMES if k not in grads), None)
        lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
        text = tuple(x for chunk in lines for x in chunk.rstrip("\n").split("\n"))
        return None, LearnerError(type(exc).__name__, _first_line(exc), frames[-1].lineno, row,
                                  text, grads, frames[-1].line or "")


def learner_from_callable(func, label=None):
    """A Learner for a function defined in a notebook cell or a module, not loaded by path."""
    if not callable(func):
        raise NpbackpropError(f"expected a function or a namespace dict, got a "
                              f"{type(func).__name__}")
    code = getattr(func, "__code__", None)
    filename = code.co_filename if code else "<unknown>"
    try:
        tree = ast.parse("".join(linecache.getlines(filename)), filename)
    except (SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])
    name = getattr(func, "__name__", type(func).__name__)
    return Learner(func, label or f"{name}()", Path(filename), tree)


def as_array(x):
    """A learner's value as numpy sees it: a torch tensor (duck-typed) becomes its array;
    anything else is returned as it is, for the table to say what is wrong with it."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        try:
            return x.detach().cpu().numpy()
        except Exception:  # a tensor-like object that is not one: graded as what it is
            return x
    return x


def from_torch(grads):
    """Torch tensors among grads (a dict or a list) as numpy arrays, without importing torch.

    Returns (grads converted, notes): a note names the converted tensors.
    """
    items = grads.items() if isinstance(grads, dict) else enumerate(grads)
    out, names = dict(items), []
    for k, x in out.items():
        out[k] = as_array(x)
        if out[k] is not x:
            names.append(f"d{k}" if isinstance(k, str) else "the result")
    out = out if isinstance(grads, dict) else [out[i] for i in range(len(grads))]
    note = (f"torch tensors converted with .detach().cpu().numpy(): {', '.join(names)}"
            if names else None)
    return out, [note] if note else []


def _grads_so_far(exc, learner, args):
    """The gradients the learner's frames held when exc was raised.

    From each frame in the learner's file, outermost first: variables named
    dX, and dicts keyed by gradient names (not the cache passed in).
    """
    passed = {id(a) for a in args}
    grads = {}
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if Path(frame.f_code.co_filename) == learner.path:
            for k, x in frame.f_locals.items():
                if isinstance(x, dict) and id(x) not in passed and "Xb" not in x:
                    grads.update({grad_name(j): y for j, y in x.items()
                                  if grad_name(j) and y is not None})
                elif grad_name(k) and k != grad_name(k) and x is not None:
                    grads[grad_name(k)] = x
        tb = tb.tb_next
    return grads


def _copy(x):
    """An array copied, a dict's arrays copied (a new dict); anything else as it is."""
    if isinstance(x, dict):
        return {k: _copy(y) for k, y in x.items()}
    return x.copy() if isinstance(x, np.ndarray) else x


def error_notes(label, err):
    """The notes under the table for err: the learner's traceback, and a hint."""
    at = f" while computing d{err.row}" if err.row else ""
    notes = [f"{label} raised {err.exc_type}{at}:"] + list(err.traceback)
    if err.exc_type == "ValueError" and "matmul" in err.message:
        notes.append("hint: a matmul gradient needs a transpose: for y = a @ b, "
                     "da = dy @ b.T and db = a.T @ dy")
    elif hint(err.exc_type, err.message, err.line):
        notes.append(f"hint: {hint(err.exc_type, err.message, err.line)}")
    return notes


# -----------------------------------------------------------------------------
# the learner's starting file

TEMPLATE_PATH = Path(__file__).with_name("backprop_template.py")


def template():
    """The text of backprop_template.py, the starting file for `check --template`."""
    return TEMPLATE_PATH.read_text(encoding="utf-8")
