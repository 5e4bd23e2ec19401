"""Parts 3 and 5's networks through the one trainer: checkpoints, exact resume, eval,
sampling, refusals, and the command line's --model."""

import dataclasses
import json

import numpy as np
import pytest

from npbackprop import checkpoint, config, data, nets
from npbackprop import run as run_module
from npbackprop import trainer as train
from npbackprop.errors import NpbackpropError
from npbackprop.names import param_shapes
from test_cli import npbackprop, user_error

# small versions of each: block 4 is two wavenet merges
SMALL = {"wavenet": dict(n_embd=3, n_hidden=8, block_size=4, batch_size=8, lr_decay_step=30),
         "deep": dict(n_embd=3, n_hidden=8, block_size=3, batch_size=8, lr_decay_step=30)}


def cfg_of(name, max_steps, **kw):
    return train.Config(model=name, max_steps=max_steps, **{**SMALL[name], **kw})


@pytest.fixture(params=["wavenet", "deep"])
def name(request):
    return request.param


def datasets(names_file):
    return {b: data.load_dataset(names_file, block_size=b) for b in (3, 4)}


def test_lecture_defaults_per_model():
    w, d = config.defaults("wavenet"), config.defaults("deep")
    assert (w.n_embd, w.n_hidden, w.block_size, w.batch_size, w.lr, w.lr_decayed,
            w.lr_decay_step, w.max_steps) == (24, 128, 8, 32, 0.1, 0.01, 150_000, 200_000)
    assert (d.n_embd, d.n_hidden, d.block_size, d.lr_decay_step) == (10, 100, 3, 150_000)
    assert config.defaults() == train.Config()
    with pytest.raises(config.ConfigError, match="model must be one of mlp, wavenet, deep"):
        config.defaults("rnn")


@pytest.mark.parametrize("field, value, words", [
    ("model", "rnn", "mlp, wavenet, deep"), ("block_size", 6, "power of 2"),
    ("block_size", 1, "power of 2")])
def test_bad_model_settings_are_refused_naming_the_field(field, value, words):
    with pytest.raises(config.ConfigError, match=words) as err:
        train.validate(train.Config(**{"model": "wavenet", field: value}))
    assert err.value.field == field


def test_bn_stats_is_each_models_own_by_default(name):
    # the mlp calibrates (part 4); the wavenet and the deep MLP keep running statistics
    assert train.Config().bn_stats == "calibrate"
    assert train.Config(model="mlp", bn_stats="running").bn_stats == "running"
    assert train.Config(model=name).bn_stats == "running"
    assert config.defaults(name).bn_stats == "running"
    train.validate(cfg_of(name, 1, bn_stats="running"))


def test_a_run_from_before_per_model_bn_stats_resumes(tmp_path, names_file, name):
    # earlier versions recorded the mlp's "calibrate" for every model; it never applied
    ds = datasets(names_file)[SMALL[name]["block_size"]]
    train.train(cfg_of(name, 40), ds, tmp_path / "a", checkpoint_interval=20)
    train.train(cfg_of(name, 20), ds, tmp_path / "b")
    path = tmp_path / "b" / "model.npz"
    arrays = dict(np.load(path))
    saved = json.loads(str(arrays["config"]))
    arrays["config"] = np.str_(json.dumps({**saved, "bn_stats": "calibrate"}))
    np.savez(path, **arrays)
    assert checkpoint.read_checkpoint(tmp_path / "b")[1]["bn_stats"] == "running"
    assert run_module.load_run(tmp_path / "b").config.bn_stats == "running"
    train.train(cfg_of(name, 40), ds, tmp_path / "b", resume=True, checkpoint_interval=20)
    a, b = (np.load(tmp_path / d / "model.npz") for d in "ab")
    for k in a.files:
        if k != "seconds":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_train_writes_a_checkpoint_that_loads_evaluates_and_samples(tmp_path, names_file, name):
    ds = datasets(names_file)[SMALL[name]["block_size"]]
    made = train.train(cfg_of(name, 60), ds, tmp_path, checkpoint_interval=25)
    shapes = param_shapes({**train.run_config(made.config, ds)})
    assert {k: v.shape for k, v in made.params.items()} == shapes
    assert any(k.endswith("running_var") for k in shapes)
    loaded = run_module.load_run(tmp_path)
    assert loaded.config.model == name and loaded.step == 60
    for k in shapes:
        np.testing.assert_array_equal(loaded.params[k], made.params[k])
    # the metrics are the eval-mode losses with the running statistics
    assert loaded.evaluate(ds, "val") == pytest.approx(made.metrics["val_loss"], rel=1e-6)
    assert made.metrics["train_loss"] < np.log(ds.vocab_size)
    names = loaded.sample(5)
    assert len(names) == 5 and names == made.sample(5)
    assert all(set(n) <= set(ds.itos) for n in names)


def test_running_statistics_move_during_training(tmp_path, names_file, name):
    ds = datasets(names_file)[SMALL[name]["block_size"]]
    made = train.train(cfg_of(name, 40), ds)
    means = [v for k, v in made.params.items() if k.endswith("running_mean")]
    assert means and all(np.abs(m).max() > 0 for m in means)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_is_bit_exact(tmp_path, names_file, name, dtype):
    ds = datasets(names_file)[SMALL[name]["block_size"]]
    straight = train.train(cfg_of(name, 70, dtype=dtype), ds, tmp_path / "a",
                           checkpoint_interval=25)
    train.train(cfg_of(name, 35, dtype=dtype), ds, tmp_path / "b", checkpoint_interval=25)
    resumed = train.train(cfg_of(name, 70, dtype=dtype), ds, tmp_path / "b", resume=True,
                          checkpoint_interval=25)
    a, b = (np.load(tmp_path / d / "model.npz") for d in "ab")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        if k != "seconds":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert a["0.weight"].dtype == np.dtype(dtype)
    assert straight.metrics["val_loss"] == resumed.metrics["val_loss"]


def test_a_split_out_of_range_is_refused_before_any_step(names_file, name):
    ds = datasets(names_file)[cfg_of(name, 1).block_size]
    bad = ds.Ytr.copy()
    bad[3] = -1
    with pytest.raises(NpbackpropError, match=r"targets hold -1 \(row 3\)"):
        train.train(cfg_of(name, 5), dataclasses.replace(ds, Ytr=bad))


def test_resume_with_another_model_is_refused(tmp_path, names_file):
    ds = datasets(names_file)[4]
    train.train(cfg_of("wavenet", 30), ds, tmp_path)
    with pytest.raises(NpbackpropError, match="model: checkpoint 'wavenet', now 'mlp'"):
        train.train(train.Config(max_steps=60, n_embd=3, n_hidden=8, block_size=4,
                                 batch_size=8), ds, tmp_path, resume=True)


def test_an_edited_checkpoint_is_refused(tmp_path, names_file):
    ds = datasets(names_file)[4]
    train.train(cfg_of("wavenet", 30), ds, tmp_path)
    arrays = dict(np.load(tmp_path / "model.npz"))
    del arrays["3.running_var"]
    np.savez(tmp_path / "model.npz", **arrays)
    with pytest.raises(NpbackpropError, match="it lacks 3.running_var"):
        checkpoint.read_checkpoint(tmp_path)
    arrays["3.running_var"] = np.ones(5, np.float32)
    np.savez(tmp_path / "model.npz", **arrays)
    with pytest.raises(NpbackpropError, match=r"3.running_var is float32 \(5,\)"):
        checkpoint.read_checkpoint(tmp_path)


def test_the_training_step_is_the_readable_one(names_file):
    # the Workspace only holds the state in one buffer: its step is nets.sgd_step's
    rng = np.random.default_rng(0)
    state = nets.init_state("wavenet", 7, 3, 5, 4, rng=rng, dtype=np.float64)
    ws = nets.Workspace("wavenet", state, 7, 3, 5, 4)
    net = nets.bound("wavenet", {k: v.copy() for k, v in state.items()}, 7, 3, 5, 4)
    ref = {**net.params, **{k: v.copy() for k, v in state.items() if "running" in k}}
    for _ in range(3):
        Xb, Yb = rng.integers(0, 7, (6, 4)), rng.integers(0, 7, 6)
        assert nets.workspace_sgd_step(ws, Xb, Yb, 0.1) == nets.sgd_step(net, ref, Xb, Yb, 0.1)
    for k in state:
        np.testing.assert_array_equal(ws.params[k], ref[k], err_msg=k)
    assert np.shares_memory(ws.params["2.weight"], ws.flat)


def test_cli_trains_evaluates_and_samples_a_wavenet(tmp_path, names_file):
    out = tmp_path / "run"
    p = npbackprop("train", "--model", "wavenet", "-i", names_file, "-o", out, "--max-steps",
                   40, "--n-embd", 3, "--n-hidden", 8, "--block-size", 4, "-b", 8,
                   "--num-samples", 2, check=0)
    assert "model: wavenet, n_embd 3, n_hidden 8, block_size 4" in p.stdout
    assert "running statistics: train" in p.stdout
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"] == "wavenet" and saved["lr_decay_step"] == 150_000
    assert saved["bn_stats"] == "running"
    ev = json.loads(npbackprop("eval", "-o", out, "--json", check=0).stdout)
    assert ev["step"] == 40 and np.isfinite(ev["val_loss"])
    assert len(npbackprop("sample", "-o", out, "-n", 3, check=0).stdout.splitlines()) == 3
    # resume keeps the model: --model is not given again
    p = npbackprop("train", "-i", names_file, "-o", out, "--resume", "--max-steps", 50,
                   "--num-samples", 0, check=0)
    assert "model: wavenet" in p.stdout


def test_cli_lists_the_models_and_refuses_others(tmp_path):
    text = " ".join(npbackprop("train", "--help", check=0).stdout.split())
    assert "--model NAME" in text and "mlp (part 4), wavenet (part 5), deep (part 3)" in text
    p = npbackprop("train", "--model", "rnn", "-o", tmp_path / "x")
    # argparse's own refusal: its usage, then the line naming the flag
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "argument --model: invalid choice: 'rnn'" in p.stderr
    user_error(npbackprop("train", "--model", "wavenet", "--block-size", 6, "-o",
                          tmp_path / "x"), "--block-size", "power of 2")
    assert not (tmp_path / "x").exists()
