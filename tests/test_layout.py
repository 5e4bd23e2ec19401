"""The package's layout: imports point down only, no cycles, no torch, small modules."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "npbackprop"
CORE = ("broadcast", "layers", "chunked", "gradcheck", "model", "fast", "fast_workspace",
        "data", "datafile", "config", "run", "trainer", "checkpoint", "folder", "errors", "names",
        "plot", "memory", "batches", "diagnostics", "modules", "nets", "networks", "fast_wavenet")
# the benchmark's torch sides: the only modules that import torch
TORCH_MODULES = ("npbackprop.bench.torch_variants", "npbackprop.bench.torch_wavenet")
JAX_MODULES = ("npbackprop.bench.jax_variants",)  # and the only one that imports jax
APPLICATIONS = ("npbackprop.check", "npbackprop.bench", "npbackprop.cli", "npbackprop.cli_runs",
                "npbackprop.console")


def modules():
    """{dotted name: path} of every module of the package."""
    return {".".join(("npbackprop",) + p.relative_to(PACKAGE).with_suffix("").parts)
            .removesuffix(".__init__"): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path):
    """The npbackprop modules a file imports (at any depth in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    mods = modules()
    return {m for m in found if m in mods}


def test_the_core_never_imports_the_applications_or_the_command_line():
    for name in CORE:
        bad = [m for m in imports_of(PACKAGE / f"{name}.py")
               if any(m == a or m.startswith(a + ".") for a in APPLICATIONS)]
        assert not bad, f"npbackprop.{name} imports {bad}"


def test_every_module_is_core_or_an_application():
    # a new module must be placed: in CORE (and so checked above) or among the applications
    placed = {f"npbackprop.{name}" for name in CORE} | set(APPLICATIONS)
    loose = [m for m in modules() if m not in ("npbackprop", "npbackprop.__main__")
             and not any(m == p or m.startswith(p + ".") for p in placed)]
    assert not loose, f"place these in CORE or APPLICATIONS: {loose}"


def test_no_import_cycle():
    graph = {m: imports_of(p) - {m} for m, p in modules().items()}
    # a package imports its own modules through __init__ only for re-export; drop parent edges
    for m in graph:
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    done, path = set(), []

    def visit(m):
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if m in done:
            return
        path.append(m)
        for d in sorted(graph[m]):
            visit(d)
        path.pop()
        done.add(m)
    for m in sorted(graph):
        visit(m)


# __main__ runs the command line when imported: test_cli runs `python -m npbackprop`
@pytest.mark.parametrize("name", sorted(set(modules()) - {"npbackprop.__main__"}))
def test_each_module_imports_alone_without_torch(name):
    # a fresh interpreter, as `python -c "import npbackprop.X"`; only the bench's torch
    # variants may bring torch in, and only the bench's jax variants jax
    code = f"import sys, {name}; print('torch' in sys.modules, 'jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=PACKAGE.parent)
    for lib, allowed in (("torch", TORCH_MODULES), ("jax", JAX_MODULES)):
        if name in allowed and f"No module named '{lib}'" in done.stderr:
            pytest.skip(f"{lib} not installed")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(name in TORCH_MODULES), str(name in JAX_MODULES)]


def test_modules_are_small():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, f"modules over 300 lines: {long}"


def test_the_readable_model_holds_no_fast_path():
    source = (PACKAGE / "model.py").read_text()
    assert "Workspace" not in source and "fast" not in imports_of(PACKAGE / "model.py")
