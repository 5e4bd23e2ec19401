"""The figures: made for a short and a longer run, with their parts, backend untouched."""

import subprocess
from dataclasses import replace
import sys
from pathlib import Path

import numpy as np
import pytest

from npbackprop import cli, data, diagnostics, model, trainer
from npbackprop.config import ConfigError
from npbackprop.errors import NpbackpropError

matplotlib = pytest.importorskip("matplotlib")
from npbackprop import plot  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SMALL = dict(n_embd=4, n_hidden=16, batch_size=8)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 60-step and a 600-step run with diagnostics every 10 steps."""
    from conftest import make_names
    path = make_names(tmp_path_factory.mktemp("names"))
    dataset = data.load_dataset(path, 3)
    out = {}
    for steps in (60, 600):
        rec = diagnostics.Recorder(every=10)
        cfg = trainer.Config(max_steps=steps, lr_decay_step=steps // 2, **SMALL)
        out[steps] = trainer.train(cfg, dataset, diagnostics=rec)
    return dataset, out


def labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("steps", [60, 600])
def test_loss_figure_has_its_parts(runs, steps):
    _, byrun = runs
    run = byrun[steps]
    fig = plot.loss_figure(run.losses, lr_decay_step=run.config.lr_decay_step,
                           metrics=run.metrics)
    ax = fig.axes[0]
    faint, smooth = ax.lines[0], ax.lines[1]
    assert len(faint.get_ydata()) == steps and faint.get_alpha() < 0.5
    # a smoothed curve even for a short run, its window fitting the run's length
    w = plot.smoothing_window(steps)
    assert len(smooth.get_ydata()) == steps - w + 1
    np.testing.assert_allclose(smooth.get_ydata()[0], run.losses[:w].mean())
    assert f"lr decay (step {steps // 2:,})" in labels(ax)
    assert f"train {run.metrics['train_loss']:.4f}" in ax.get_title()
    # the loss in its own units on the axis
    assert ax.yaxis.get_major_formatter()(2.07, 0) == "2.07"


def test_dlogits_figure_shows_the_batch_and_its_targets(runs):
    dataset, byrun = runs
    run = byrun[600]
    Xb, Yb = dataset.Xtr[:8], dataset.Ytr[:8]
    acts = {}
    model.forward_backward(run.params, Xb, Yb, acts)
    fig = plot.dlogits_figure(acts["dlogits"], Yb, run.itos)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), acts["dlogits"], rtol=1e-6)
    np.testing.assert_array_equal(ax.collections[0].get_offsets(),
                                  np.column_stack([Yb, np.arange(8)]))
    # each row sums to zero: the targets' negative entries balance the rest
    np.testing.assert_allclose(acts["dlogits"].sum(1), 0, atol=1e-6)


def check_diagnostics_figures(run, tanh, weights):
    """The three part-3 figures of a run, each label against a direct computation."""
    diag = run.diagnostics
    assert list(diag["tanh_names"]) == tanh and list(diag["weight_names"]) == weights
    a, b = plot.activations_figure(diag).axes
    for j, name in enumerate(tanh):
        h, dh = diag[f"h_{j}"], diag[f"dh_{j}"]
        share = np.count_nonzero(np.abs(h) > 0.97) / h.size
        assert labels(a)[j] == (f"{name} (Tanh): mean {h.mean():+.2f}, std {h.std():.2f}, "
                                f"saturated {share:.2%}")
        assert labels(b)[j] == f"{name} (Tanh): mean {dh.mean():+.1e}, std {dh.std():.2e}"
    assert len(a.lines) == len(b.lines) == len(tanh)
    assert "activation distribution" in a.get_title() and "gradient" in b.get_title()
    ax = plot.weight_gradients_figure(diag).axes[0]
    for j, name in enumerate(weights):
        g = diag[f"grad_{j}"]
        ratio = g.std() / run.params[name].std()
        assert labels(ax)[j] == (f"{name} {tuple(g.shape)}: mean {g.mean():+.1e}, "
                                 f"std {g.std():.2e}, grad:data {ratio:.2e}")
    ax = plot.update_ratio_figure(diag).axes[0]
    # the 2-D weights, as the lecture's plot, and its guide line at 1e-3
    assert labels(ax) == weights + ["1e-3, the lecture's guide"]
    names = list(diag["ud_names"])
    for line, name in zip(ax.lines, weights):
        np.testing.assert_array_equal(line.get_xdata(), diag["steps"])
        np.testing.assert_array_equal(line.get_ydata(), diag["ud"][:, names.index(name)])
    guide = ax.lines[len(weights)]
    assert set(guide.get_ydata()) == {-3}


@pytest.mark.parametrize("steps", [60, 600])
def test_diagnostics_figures(runs, steps):
    _, byrun = runs
    run = byrun[steps]
    assert list(run.diagnostics["steps"]) == list(range(0, steps, 10))
    # the mlp's one tanh layer is the lecture's h; its 2-D weights C, W1, W2 (the (1, H)
    # bngain and bnbias are vectors)
    check_diagnostics_figures(run, ["h"], ["C", "W1", "W2"])


def test_figures_leave_the_backend_and_pyplot_alone():
    code = """
import sys, matplotlib, numpy as np
matplotlib.use("svg")
from npbackprop import plot
fig = plot.loss_figure(2 + np.exp(-np.arange(300) / 50))
fig.savefig(sys.argv[1])
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules, len(fig._repr_png_()) > 0)
"""
    done = subprocess.run([sys.executable, "-c", code, "/dev/null"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.stdout.split() == ["svg", "False", "True"], done.stderr


def test_without_diagnostics_nothing_is_recorded(runs, monkeypatch):
    dataset, _ = runs
    calls = []
    monkeypatch.setattr(model, "forward_backward", lambda *a, **k: calls.append(a))
    run = trainer.train(trainer.Config(max_steps=30, **SMALL), dataset)
    assert calls == [] and run.diagnostics is None


# -----------------------------------------------------------------------------
# the command line

def test_train_plot_and_diagnostics_then_the_plot_command(tmp_path, names_file, capsys):
    out = tmp_path / "run"
    args = ["-i", str(names_file), "-o", str(out), "--n-embd", "4", "--n-hidden", "16",
            "-b", "8", "--max-steps", "100", "--num-samples", "0"]
    assert cli.main(["train", *args, "--plot", "--diagnostics", "10"]) == 0
    for name in ("loss.png", "dlogits.png", "activations.png", "weight_gradients.png",
                 "update_ratio.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
        (out / name).unlink()
    assert cli.main(["plot", "-o", str(out), "--diagnostics"]) == 0
    assert (out / "update_ratio.png").exists() and (out / "loss.png").exists()
    other = tmp_path / "plain"
    assert cli.main(["train", *args[:2], "-o", str(other), *args[4:]]) == 0
    capsys.readouterr()
    assert cli.main(["plot", "-o", str(other), "--diagnostics"]) == 2
    assert "has no diagnostics: train it with --diagnostics" in capsys.readouterr().err


def test_a_missing_matplotlib_is_said_before_training(tmp_path, names_file, monkeypatch,
                                                       capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = cli.main(["train", "-i", str(names_file), "-o", str(tmp_path / "run"), "--plot"])
    err = capsys.readouterr().err
    assert code == 2 and "the figures need matplotlib: pip install matplotlib" in err
    assert not (tmp_path / "run").exists()


def test_run_figures_from_python(runs):
    dataset, byrun = runs
    run = byrun[600]
    assert set(run.figures(dataset)) == {"loss.png", "dlogits.png"}
    figs = run.figures(dataset, diagnostics=True)
    assert set(figs) == {"loss.png", "dlogits.png", "activations.png", "weight_gradients.png",
                         "update_ratio.png"}
    assert all(f._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n" for f in figs.values())
    assert set(run.figures()) == {"loss.png"}  # no dataset: no batch to draw dlogits for
    assert figs["loss.png"].axes[0].get_title().endswith("after calibration")


def test_train_takes_diagnostics_as_a_number_of_steps(runs):
    dataset, _ = runs
    run = trainer.train(trainer.Config(max_steps=30, **SMALL), dataset, diagnostics=10)
    assert list(run.diagnostics["steps"]) == [0, 10, 20]
    plain = trainer.train(trainer.Config(max_steps=30, **SMALL), dataset)
    assert plain.diagnostics is None
    with pytest.raises(NpbackpropError, match="this run has no diagnostics"):
        plain.figures(dataset, diagnostics=True)


@pytest.mark.parametrize("every", [0, -5, 2.5, True, "100"])
def test_diagnostics_interval_must_be_a_positive_whole_number(runs, every):
    dataset, _ = runs
    with pytest.raises(ConfigError, match="^diagnostics must be a whole number"):
        trainer.train(trainer.Config(max_steps=30, **SMALL), dataset, diagnostics=every)


def test_update_ratio_is_the_step_actually_applied(runs):
    # independent of the recorder: the update is the difference of the parameters
    # before and after step 10, and the lecture divides by the std after the update
    dataset, _ = runs
    cfg = trainer.Config(max_steps=11, dtype="float64", **SMALL)
    before = trainer.train(replace(cfg, max_steps=10), dataset).params
    run = trainer.train(cfg, dataset, diagnostics=10)
    assert list(run.diagnostics["steps"]) == [0, 10]
    for j, name in enumerate(run.diagnostics["ud_names"]):
        after = run.params[str(name)]
        with np.errstate(divide="ignore"):  # b1: the fast step's db1 is exactly 0, -inf
            expected = np.log10(np.std(before[str(name)] - after) / np.std(after))
        assert run.diagnostics["ud"][1, j] == pytest.approx(expected, abs=1e-9), name

