"""A learner's notebook, run as "Run all" would: code cells in order, in one namespace.

    ns, notes, err = run_notebook("my_solution.ipynb", namespace)   # in the child only
    ns["cmp"] = make_cmp(setup)                  # the lecture's cmp, one row printed

The .ipynb is read as JSON (no nbformat needed). Shell (`!pip ...`) and
magic (`%matplotlib`) lines are skipped with a note, cell magics (`%%time`)
skip their cell. The first cell that raises stops the run, as in a
notebook; its error keeps the cell's own traceback lines.
"""

import ast
import json
import linecache
import sys
import traceback
from pathlib import Path

from npbackprop.check.learner import (LearnerError, _assigned_grad, _first_line, closest_name,
                                      from_torch, grad_name)
from npbackprop.check.report import format_row, grade_row
from npbackprop.check.setups import reference_grads
from npbackprop.errors import NpbackpropError

# the key of lecture_setup's namespace that holds the Setup it was made from
SETUP_KEY = "npbackprop_setup"


def code_cells(path):
    """[(cell number counting code cells from 1, source)] of the notebook at path."""
    p = Path(path)
    if not p.is_file():
        raise NpbackpropError(f"notebook not found: {path}")
    try:
        cells = json.loads(p.read_text(encoding="utf-8"))["cells"]
        sources = [c.get("source", "") for c in cells if c.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise NpbackpropError(f"not a notebook (.ipynb JSON with cells): {path}") from None
    return [(i, "".join(s) if isinstance(s, list) else str(s))
            for i, s in enumerate(sources, 1)]


def strip_magics(source):
    """(source with shell and magic lines made `pass`, [what was skipped]); None skips the
    whole cell (a cell magic)."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        return None, [f"a cell magic {lines[0].split()[0]}"]
    skipped, out = [], []
    for j, line in enumerate(lines, 1):
        body = line.lstrip()
        if body.startswith(("!", "%")) or body.endswith("?") and body[:-1].isidentifier():
            out.append(line[:len(line) - len(body)] + "pass")
            skipped.append(f"line {j}: {body.split()[0] if body.split() else body}")
        else:
            out.append(line)
    return "\n".join(out), skipped


def run_notebook(path, ns):
    """Run the notebook's code cells in ns; returns (ns, notes, LearnerError or None)."""
    notes = []
    for number, source in code_cells(path):
        code, skipped = strip_magics(source)
        if skipped:
            notes.append(f"{Path(path).name} cell {number}: skipped {', '.join(skipped)} "
                         f"(shell and magic lines do not run here)")
        if code is None:
            continue
        filename = f"{path} (cell {number})"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            tree = ast.parse(code, filename)
            exec(compile(tree, filename, "exec"), ns)
        except SyntaxError as e:
            notes.append(f"cell {number} is not valid Python: line {e.lineno}: {e.msg}; "
                         f"the cells after it did not run")
            return ns, notes, None
        except Exception as exc:  # the learner's cell; shown as their traceback
            return ns, notes, _cell_error(exc, filename, tree)
    return ns, notes, None


def _cell_error(exc, filename, tree):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    text = tuple(x for chunk in lines for x in chunk.rstrip("\n").split("\n"))
    lineno = frames[-1].lineno if frames else None
    row = _assigned_grad(tree, lineno) if lineno else None
    line = (frames[-1].line or "") if frames else ""
    return LearnerError(type(exc).__name__, _first_line(exc), lineno, row, text, {}, line)


def make_cmp(setup, file=None):
    """The lecture's cmp(s, dt, t): one row of the table for gradient `s`, printed.

    dt is graded against npbackprop's reference for `s` (t is not needed:
    numpy arrays have no .grad). Returns the Row.
    """
    refs = {}

    def cmp(s, dt, t=None):
        name = grad_name(s)
        out = file or sys.stdout
        if name is None:
            near = closest_name(s)
            print(f"{str(s):15s} | not one of the 26 names the lecture checks"
                  + (f" (did you mean {near}?)" if near else ""), file=out)
            return None
        if name not in refs:
            refs.update(reference_grads(setup, (name,)))
        (dt,), _ = from_torch([dt])
        row = grade_row(name, dt, refs[name], setup.tolerance)
        print(format_row(row), file=out)
        return row

    return cmp
