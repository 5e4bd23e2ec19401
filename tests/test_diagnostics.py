"""Part 3's diagnostics for the deep MLP and the wavenet: what is recorded, checked
against hand computations, and the figures, the command line and Python paths."""

from dataclasses import replace

import numpy as np
import pytest

from npbackprop import checkpoint, data, diagnostics, layers, nets, networks
from npbackprop import run as run_module
from npbackprop import trainer
from npbackprop.modules import Sequential
from test_cli import npbackprop

SMALL = {"deep": dict(n_embd=4, n_hidden=16, block_size=3, batch_size=8, lr_decay_step=30),
         "wavenet": dict(n_embd=3, n_hidden=8, block_size=4, batch_size=8, lr_decay_step=30)}
# the Tanh modules' indices and the 2-D weights of each network
TANH = {"deep": ["layer 4", "layer 7", "layer 10", "layer 13", "layer 16"],
        "wavenet": ["layer 4", "layer 8"]}
WEIGHTS = {"deep": ["0.weight", "2.weight", "5.weight", "8.weight", "11.weight", "14.weight",
                    "17.weight"],
           "wavenet": ["0.weight", "2.weight", "6.weight", "9.weight"]}


def cfg_of(name, max_steps, **kw):
    return trainer.Config(model=name, max_steps=max_steps, **{**SMALL[name], **kw})


@pytest.fixture(scope="module")
def names(tmp_path_factory):
    from conftest import make_names
    return make_names(tmp_path_factory.mktemp("names"))


@pytest.fixture(scope="module", params=["deep", "wavenet"])
def trained(request, names):
    """(name, dataset, a 60-step float64 run with diagnostics every 10 steps)."""
    name = request.param
    dataset = data.load_dataset(names, SMALL[name]["block_size"])
    return name, dataset, trainer.train(cfg_of(name, 60, dtype="float64"), dataset,
                                        diagnostics=10)


def test_what_is_recorded(trained):
    name, _, run = trained
    diag = run.diagnostics
    assert list(diag["steps"]) == list(range(0, 60, 10)) and int(diag["every"]) == 10
    # every trained parameter, no running statistic; the weights marked
    trained_names = [k for k in run.params if "running" not in k]
    assert list(diag["ud_names"]) == trained_names and diag["ud"].shape == (6, len(trained_names))
    assert [n for n, w in zip(diag["ud_names"], diag["ud_weight"]) if w] == WEIGHTS[name]
    assert list(diag["tanh_names"]) == TANH[name]
    assert list(diag["weight_names"]) == WEIGHTS[name]
    for j, k in enumerate(WEIGHTS[name]):
        assert diag["data_std"][j] == pytest.approx(run.params[k].std(), rel=1e-12)


@pytest.mark.parametrize("name", ["deep", "wavenet"])
def test_update_ratio_is_the_step_actually_applied(names, name):
    # independent of the recorder: the update is the difference of the parameters
    # before and after step 10, and the lecture divides by the std after the update
    dataset = data.load_dataset(names, SMALL[name]["block_size"])
    cfg = cfg_of(name, 11, dtype="float64")
    before = trainer.train(replace(cfg, max_steps=10), dataset).params
    run = trainer.train(cfg, dataset, diagnostics=10)
    assert list(run.diagnostics["steps"]) == [0, 10]
    for j, k in enumerate(run.diagnostics["ud_names"]):
        after = run.params[str(k)]
        expected = np.log10(np.std(before[str(k)] - after) / np.std(after))
        assert run.diagnostics["ud"][1, j] == pytest.approx(expected, abs=1e-9), k


def hand_forward(params, Xb, name, n_layers):
    """The tanh outputs of the deep MLP or the wavenet written out with numpy alone
    (training mode: batch statistics, Bessel-corrected variance, as the lecture)."""
    x = params["0.weight"][Xb]                                     # (N, T, E)
    if name == "deep":
        x = x.reshape(len(Xb), -1)                                 # (N, T*E)
        idx = [2 + 3 * s for s in range(n_layers)]                 # the Linear modules
    else:
        idx = [2 + 4 * s for s in range(n_layers)]
    hs = []
    for i in idx:
        if name == "wavenet":
            N, T, D = x.shape
            x = x.reshape(N, T // 2, 2 * D)
            x = x[:, 0] if T // 2 == 1 else x
        z = x @ params[f"{i}.weight"]
        axes = tuple(range(z.ndim - 1))
        mean, var = z.mean(axes), z.var(axes, ddof=1)
        x = np.tanh(params[f"{i + 1}.gamma"] * (z - mean) / np.sqrt(var + layers.BN_EPS)
                    + params[f"{i + 1}.beta"])
        hs.append(x)
    return hs


def snapshot_batch(run, dataset):
    # the trainer's snapshot batch: from its own generator, seeded seed + 1
    ix = np.random.default_rng(run.config.seed + 1).integers(0, dataset.Xtr.shape[0],
                                                             run.config.batch_size)
    return dataset.Xtr[ix], dataset.Ytr[ix]


def test_activations_and_saturation_against_a_hand_computation(trained):
    name, dataset, run = trained
    Xb, _ = snapshot_batch(run, dataset)
    hs = hand_forward(run.params, Xb, name, len(TANH[name]))
    for j, ((layer, h, _), ref) in enumerate(zip(diagnostics.tanh_layers(run.diagnostics), hs)):
        np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-12, err_msg=layer)
        # the saturated share against a direct count
        count = sum(abs(v) > 0.97 for v in ref.ravel())
        assert diagnostics.saturated_share(h) == count / ref.size
        assert f"saturated {100 * count / ref.size:.2f}%" in diagnostics.summary(
            run.diagnostics)[j]


def directional(run, dataset, layer, h, dh):
    """(sum(dh * v), the loss's central difference along v): v a random direction of the
    layer's output, the rest of the network run on from there (float64)."""
    _, Yb = snapshot_batch(run, dataset)
    net = networks._net(run.config, run.params, dataset.vocab_size)
    rest = Sequential(net.modules[int(layer.split()[1]) + 1:])

    def loss(x):
        return float(layers.cross_entropy_forward(rest.train().forward(x)[0], Yb)[0])
    v, eps = np.random.default_rng(1).standard_normal(h.shape), 1e-6
    return float(np.sum(dh * v)), (loss(h + eps * v) - loss(h - eps * v)) / (2 * eps)


def test_tanh_gradients_against_finite_differences(trained):
    name, dataset, run = trained
    for layer, h, dh in diagnostics.tanh_layers(run.diagnostics):
        analytic, numeric = directional(run, dataset, layer, h, dh)
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-10), layer


def test_that_check_catches_a_wrong_tanh_gradient(trained):
    # the gradient taken below the tanh (dh * (1 - h^2)) instead of at its output
    name, dataset, run = trained
    for layer, h, dh in diagnostics.tanh_layers(run.diagnostics):
        analytic, numeric = directional(run, dataset, layer, h, dh * (1 - h ** 2))
        assert analytic != pytest.approx(numeric, rel=1e-6, abs=1e-10), layer


def test_weight_gradients_are_the_networks(trained):
    name, dataset, run = trained
    Xb, Yb = snapshot_batch(run, dataset)
    net = networks._net(run.config, run.params, dataset.vocab_size)
    _, grads, _ = nets.loss_and_grads(net, Xb, Yb)
    for k, g, std in diagnostics.weights(run.diagnostics):
        np.testing.assert_array_equal(g, grads[k], err_msg=k)
        assert std == pytest.approx(run.params[k].std(), rel=1e-12)


def test_the_figures_at_60_steps_name_the_layers(trained):
    pytest.importorskip("matplotlib")
    from test_plot import check_diagnostics_figures
    name, dataset, run = trained
    check_diagnostics_figures(run, TANH[name], WEIGHTS[name])
    figs = run.figures(dataset, diagnostics=True)
    # part 4's dlogits picture is the mlp's; the part-3 figures are every network's
    assert set(figs) == {"loss.png", "activations.png", "weight_gradients.png",
                         "update_ratio.png"}
    assert all(f._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n" for f in figs.values())
    # these networks are evaluated with their running statistics, not calibrated
    assert figs["loss.png"].axes[0].get_title().endswith("with the running statistics")


def test_the_python_path_takes_a_number_of_steps(names):
    import npbackprop as nb
    dataset = data.load_dataset(names, 3)
    run = nb.train(cfg_of("deep", 30), dataset, diagnostics=10)
    assert list(run.diagnostics["steps"]) == [0, 10, 20]
    assert run.diagnostics["h_0"].shape == (8, 16)
    plain = trainer.train(cfg_of("deep", 30), dataset)
    assert plain.diagnostics is None


def test_without_diagnostics_nothing_is_probed(names, monkeypatch):
    dataset = data.load_dataset(names, 3)
    calls = []
    monkeypatch.setattr(networks, "probe", lambda *a, **k: calls.append(a))
    run = trainer.train(cfg_of("deep", 30), dataset)
    assert calls == [] and run.diagnostics is None


@pytest.mark.parametrize("name", ["deep", "wavenet"])
def test_the_command_line_draws_them_and_plot_draws_them_again(tmp_path, names, name):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    s = SMALL[name]
    p = npbackprop("train", "--model", name, "-i", names, "-o", out, "--max-steps", 60,
                   "--n-embd", s["n_embd"], "--n-hidden", s["n_hidden"], "--block-size",
                   s["block_size"], "-b", 8, "--num-samples", 0, "--plot", "--diagnostics",
                   10, check=0)
    pngs = ("loss.png", "activations.png", "weight_gradients.png", "update_ratio.png")
    for png in pngs:
        assert f"figure: {out / png}" in p.stdout
        assert (out / png).read_bytes()[:4] == b"\x89PNG", png
        (out / png).unlink()
    assert not (out / "dlogits.png").exists()
    loaded = run_module.load_run(out)
    assert list(loaded.diagnostics["tanh_names"]) == TANH[name]
    npbackprop("plot", "-o", out, "--diagnostics", check=0)
    assert all((out / png).exists() for png in pngs)


def test_an_older_diagnostics_file_is_read_in_todays_layout(tmp_path):
    # an mlp run's diagnostics.npz as written before the layers were found by name
    dataset = data.load_dataset(__import__("conftest").make_names(tmp_path), 3)
    run = trainer.train(trainer.Config(max_steps=20, n_embd=4, n_hidden=16, batch_size=8),
                        dataset, tmp_path / "run", diagnostics=10)
    new = run.diagnostics
    old = {k: new[k] for k in ("steps", "ud", "ud_names", "every")}
    old.update(h=new["h_0"], dh=new["dh_0"])
    for j, k in enumerate(("C", "W1", "W2")):
        old[f"grad_{k}"], old[f"data_std_{k}"] = new[f"grad_{j}"], new["data_std"][j]
    checkpoint.save_npz(tmp_path / "run" / checkpoint.DIAGNOSTICS_FILE, old)
    loaded = run_module.load_run(tmp_path / "run").diagnostics
    assert set(loaded) == set(new)
    for k in new:
        np.testing.assert_array_equal(loaded[k], new[k], err_msg=k)


def test_refusals_for_the_deep_model(tmp_path, names):
    from test_cli import user_error
    out, s = tmp_path / "run", SMALL["deep"]
    args = ["--model", "deep", "-i", names, "--max-steps", 20, "--n-embd", s["n_embd"],
            "--n-hidden", s["n_hidden"], "-b", 8, "--num-samples", 0]
    user_error(npbackprop("train", *args, "-o", out, "--diagnostics", 0),
               "--diagnostics must be at least 1 step, got 0")
    assert not out.exists()
    npbackprop("train", *args, "-o", out, check=0)
    user_error(npbackprop("plot", "-o", out, "--diagnostics"),
               "this run has no diagnostics: train it with --diagnostics")


def test_an_interrupted_run_keeps_its_records_and_resume_continues_them(tmp_path, names,
                                                                         monkeypatch):
    # the deep model, stopped by SIGINT after 25 steps, then resumed without saying
    # diagnostics again: the same records and snapshot as the run never interrupted
    import os
    import signal
    dataset = data.load_dataset(names, SMALL["deep"]["block_size"])
    cfg = cfg_of("deep", 60, dtype="float64")
    straight = trainer.train(cfg, dataset, tmp_path / "a", diagnostics=10).diagnostics
    real, calls = networks.sgd_step, {"n": 0}

    def signalling(cfg):
        step = real(cfg)

        def then_signal(*args):
            calls["n"] += 1
            if calls["n"] == 25:
                os.kill(os.getpid(), signal.SIGINT)
            return step(*args)
        return then_signal
    monkeypatch.setattr(networks, "sgd_step", signalling)
    with pytest.raises(trainer.Interrupted, match="at step 25"):
        trainer.train(cfg, dataset, tmp_path / "b", diagnostics=10)
    monkeypatch.setattr(networks, "sgd_step", real)
    kept = checkpoint.load_npz(tmp_path / "b" / checkpoint.DIAGNOSTICS_FILE)
    assert list(kept["steps"]) == [0, 10, 20] and "h_0" not in kept
    resumed = trainer.train(dataset=dataset, out_dir=tmp_path / "b", resume=True).diagnostics
    assert resumed is not None and resumed.keys() == straight.keys()
    for k in straight:
        np.testing.assert_array_equal(resumed[k], straight[k], err_msg=k)
