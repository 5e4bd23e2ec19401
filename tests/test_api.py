"""`import npbackprop` as a user reaches for it: every public name, the README's examples."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npbackprop as nb

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", nb.__all__)
def test_every_public_name_resolves(name):
    assert getattr(nb, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        nb.trian


def test_import_is_quick_and_loads_nothing_heavy():
    code = "import sys, npbackprop; print(sorted(m for m in sys.modules if 'numpy' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]"


def test_the_version_is_in_one_place():
    setup = (ROOT / "setup.cfg").read_text()
    assert "version = attr: npbackprop.__version__" in setup
    done = subprocess.run([sys.executable, "-m", "npbackprop", "--version"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == f"npbackprop {nb.__version__}"


def test_the_readme_api_example_runs(tmp_path, names_file, monkeypatch):
    # the README's "From Python" block at small sizes, as a notebook cell would run it
    monkeypatch.chdir(tmp_path)
    dataset = nb.load_dataset(names_file, block_size=3)
    small = dict(n_embd=4, n_hidden=16, batch_size=8)
    run = nb.train(nb.Config(max_steps=60, **small), dataset)
    assert run.out_dir is None and not list(tmp_path.glob("out*"))
    run = nb.train(nb.Config(max_steps=60, **small), dataset, out_dir="out")
    assert (tmp_path / "out" / "metrics.json").is_file()
    loaded = nb.load_run("out")
    assert loaded.evaluate(dataset, "val") == pytest.approx(run.metrics["val_loss"])
    assert len(loaded.sample(5)) == 5
    x, W, b = np.ones((4, 3)), np.ones((3, 2)), np.zeros(2)
    out, cache = nb.layers.linear_forward(x, W, b)
    dx, dW, db = nb.layers.linear_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and nb.unbroadcast(np.ones((4, 2)), (1, 2)).tolist() == [[4, 4]]
    results = nb.check_layer(nb.layers.tanh_forward, nb.layers.tanh_backward,
                             [np.linspace(-1, 1, 6).reshape(2, 3)])
    assert results[0].ok
    assert nb.grade(str(ROOT / "tests/learners/ninja.py:backward"), 1, nb.make_setup()).ok


def test_py_typed_is_shipped():
    assert (Path(nb.__file__).parent / "py.typed").is_file()
    assert "py.typed" in (ROOT / "setup.cfg").read_text()


README_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(README_BLOCKS)))
def test_each_readme_python_block_runs_as_pasted(index, tmp_path, real_names_file):
    # each block as a user pastes it into a fresh interpreter (a script or a notebook
    # cell), in an empty folder: every name it uses defined in it, the lecture's runs
    pytest.importorskip("matplotlib")
    env = dict(os.environ, NPBACKPROP_DATA=str(real_names_file), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", README_BLOCKS[index]], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    if "nb.defaults(\"wavenet\")" in README_BLOCKS[index]:
        assert float(last) <= 2.00                   # issue 14: the default run's val loss
    else:
        assert last == "False" and "1/26 attempted, 1 correct" in done.stdout


def test_the_readme_has_its_two_python_blocks():
    assert len(README_BLOCKS) == 2
