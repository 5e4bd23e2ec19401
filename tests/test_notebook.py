"""notebooks/backprop_ninja.ipynb: committed without outputs, and run on a real Jupyter kernel.

The run needs the `notebook` extra (nbclient, nbformat, ipykernel) and matplotlib;
.ci/run installs them, so there it runs, never skips. No display is needed: the
figures are matplotlib Figures made without pyplot, shown by their PNG.
"""

import base64
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "backprop_ninja.ipynb"
FIGURES = 5  # dlogits, the loss curve, activations, weight gradients, update:data


def test_the_notebook_is_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    assert all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run top to bottom in a fresh kernel, in an empty folder, no display."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    from conftest import make_names
    folder = tmp_path_factory.mktemp("notebook")
    names = make_names(folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("NPBACKPROP_DATA", str(names))
    mp.delenv("DISPLAY", raising=False)
    mp.delenv("MPLBACKEND", raising=False)
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        # raises CellExecutionError, naming the cell, if any cell raises
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        mp.undo()
    return nb


def outputs(nb, kind):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == kind]


def test_every_cell_runs_without_an_error(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert not outputs(executed, "error")
    text = "".join(o.text for o in outputs(executed, "stream") if o.name == "stderr")
    assert "Traceback" not in text


def test_the_figures_are_in_the_outputs(executed):
    pngs = [o for o in outputs(executed, "display_data") + outputs(executed, "execute_result")
            if "image/png" in o.data]
    assert len(pngs) == FIGURES
    for o in pngs:
        assert base64.b64decode(o.data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_tables_and_the_samples_are_printed(executed):
    printed = "".join(o.text for o in outputs(executed, "stream") if o.name == "stdout")
    # the lecture's answer: the first eight gradients, then all 26, then exercises 2 and 3
    summaries = [line for line in printed.splitlines() if line.endswith("correct")]
    assert summaries == ["8/26 attempted, 8 correct", "26/26 correct", "1/1 correct",
                         "1/1 correct", "4/4 correct"], printed
    assert "exercise 2" in printed and "exercise 3" in printed and "exercise 5" in printed
    # part 5: the network printed a module a line, its gradients checked by differences
    assert "(2): Linear(48, 128, bias=False)" in printed and "all within tolerance" in printed
    # the mlp's samples and the wavenet's, each cell's value the repr of a list of names
    sampled = [c for c in executed.cells if c.cell_type == "code" and ".sample(10)" in c.source]
    assert len(sampled) == 2
    for cell in sampled:
        samples = eval(cell.outputs[0].data["text/plain"])
        assert len(samples) == 10 and all(isinstance(s, str) and s for s in samples)
