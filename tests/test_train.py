"""The trainer through its Python API: schedule, outputs, calibration, resume."""

import json
import os

import numpy as np
import pytest

from npbackprop import checkpoint, data, fast, model, plot, train
from npbackprop.names import PARAM_NAMES
from npbackprop.errors import NpbackpropError

SMALL = dict(n_embd=4, n_hidden=16, batch_size=8, lr_decay_step=30)


def run(out_dir, dataset, max_steps, **kw):
    cfg = train.Config(max_steps=max_steps, **{**SMALL, **kw.pop("cfg", {})})
    return train.train(cfg, dataset, out_dir, checkpoint_interval=kw.pop("checkpoint_interval", 25),
                       **kw)


@pytest.fixture
def dataset(names_file):
    return data.load_dataset(names_file, block_size=3)


def test_schedule_is_the_lectures():
    cfg = train.Config()
    assert train.learning_rate(0, cfg) == 0.1
    assert train.learning_rate(99_999, cfg) == 0.1
    assert train.learning_rate(100_000, cfg) == 0.01
    assert train.learning_rate(199_999, cfg) == 0.01


def test_defaults_are_the_lectures():
    cfg = train.Config()
    assert (cfg.n_embd, cfg.n_hidden, cfg.block_size, cfg.batch_size, cfg.max_steps) == \
        (10, 200, 3, 32, 200_000)
    assert cfg.dtype == "float32"


def test_outputs(tmp_path, dataset):
    log = []
    metrics = run(tmp_path, dataset, 60, log=log.append, log_interval=20)
    z = np.load(tmp_path / "model.npz", allow_pickle=False)
    assert set(checkpoint.CHECKPOINT_KEYS) <= set(z.files)
    assert int(z["step"]) == 60 and z["losses"].shape == (60,)
    assert all(z[k].dtype == np.float32 for k in PARAM_NAMES)
    # the checkpoint's statistics are the calibration over the whole training split
    params = {k: z[k] for k in PARAM_NAMES}
    bnmean, bnvar = fast.calibrate(params, dataset.Xtr)
    np.testing.assert_array_equal(z["bnmean"], bnmean)
    np.testing.assert_array_equal(z["bnvar"], bnvar)
    # and they are the lecture's calibration, up to float32 rounding
    for ours, lecture in zip((bnmean, bnvar), model.calibrate(params, dataset.Xtr)):
        np.testing.assert_allclose(ours, lecture, rtol=1e-4, atol=1e-5)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["n_hidden"] == 16 and cfg["vocab"] == "".join(dataset.itos)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("train_loss", "val_loss", "test_loss", "step", "seconds", "split_sizes"):
        assert key in saved
    assert saved["split_sizes"] == dataset.split_sizes
    assert saved["val_loss"] == pytest.approx(model.split_loss(params, bnmean, bnvar,
                                                               dataset.Xdev, dataset.Ydev))
    # progress lines in the lecture's format, at steps 0, 20, 40
    assert [line[:15] for line in log] == ["      0/     60", "     20/     60", "     40/     60"]
    assert "steps/s" in log[1] and "left" in log[1]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_loss_goes_down_on_names(tmp_path, real_dataset):
    metrics = run(tmp_path, real_dataset, 400, cfg=dict(lr_decay_step=300))
    losses = np.load(tmp_path / "model.npz")["losses"]
    # from about -log(1/27) = 3.3 towards the bigram level, within a few hundred steps
    assert losses[:10].mean() > 3.0
    assert losses[-100:].mean() < 2.8
    assert metrics["train_loss"] < 2.8 and metrics["val_loss"] < 2.9


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_is_bit_exact(tmp_path, dataset, dtype):
    straight = run(tmp_path / "a", dataset, 80, cfg=dict(dtype=dtype))
    run(tmp_path / "b", dataset, 40, cfg=dict(dtype=dtype))
    resumed = run(tmp_path / "b", dataset, 80, cfg=dict(dtype=dtype), resume=True)
    a, b = (np.load(tmp_path / d / "model.npz") for d in "ab")
    for k in (*PARAM_NAMES, "bnmean", "bnvar", "losses", "step", "rng_state"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert a["W1"].dtype == np.dtype(dtype)
    for k in ("train_loss", "val_loss", "test_loss", "step"):
        assert straight[k] == resumed[k]


def test_same_seed_same_run_other_seed_other_run(tmp_path, dataset):
    run(tmp_path / "a", dataset, 30)
    run(tmp_path / "b", dataset, 30)
    run(tmp_path / "c", dataset, 30, cfg=dict(seed=1))
    a, b, c = (np.load(tmp_path / d / "model.npz") for d in "abc")
    np.testing.assert_array_equal(a["losses"], b["losses"])
    np.testing.assert_array_equal(a["W1"], b["W1"])
    assert not np.array_equal(a["losses"], c["losses"])


def test_resume_refuses_other_config_naming_keys(tmp_path, dataset):
    run(tmp_path, dataset, 20)
    before = (tmp_path / "model.npz").read_bytes()
    with pytest.raises(NpbackpropError) as err:
        run(tmp_path, dataset, 40, cfg=dict(n_hidden=8, lr=0.2), resume=True)
    assert "n_hidden" in str(err.value) and "lr" in str(err.value)
    assert "batch_size" not in str(err.value)
    assert (tmp_path / "model.npz").read_bytes() == before


def test_resume_refuses_other_data(tmp_path, dataset, names_file):
    run(tmp_path, dataset, 20)
    other = names_file.with_name("other.txt")
    other.write_text(names_file.read_text().replace("a", "h", 3))
    with pytest.raises(NpbackpropError, match="data_fingerprint"):
        run(tmp_path, data.load_dataset(other, 3), 40, resume=True)


def test_existing_run_is_not_overwritten(tmp_path, dataset):
    run(tmp_path, dataset, 20)
    before = (tmp_path / "model.npz").read_bytes()
    with pytest.raises(NpbackpropError, match="--resume.*--force"):
        run(tmp_path, dataset, 20, cfg=dict(seed=5))
    assert (tmp_path / "model.npz").read_bytes() == before
    run(tmp_path, dataset, 20, cfg=dict(seed=5), force=True)
    assert (tmp_path / "model.npz").read_bytes() != before


def test_divergence_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, dataset):
    # lr fine until step 30, then absurd: the run must stop soon after, with checkpoint 25 intact
    run(tmp_path / "ok", dataset, 25)
    with pytest.raises(train.Diverged) as err:
        run(tmp_path / "bad", dataset, 200, cfg=dict(lr_decayed=1e30))
    msg = str(err.value)
    assert "step" in msg and "learning rate" in msg and "not finite" in msg
    step = int(msg.split("step ")[1].split(":")[0])
    assert 30 <= step < 200
    ok, bad = (np.load(tmp_path / d / "model.npz") for d in ("ok", "bad"))
    assert int(bad["step"]) == 25
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(ok[k], bad[k])


def test_a_failed_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    checkpoint.save_npz(path, {"a": np.arange(3)})
    before = path.read_bytes()

    def half_write(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", half_write)
    with pytest.raises(OSError):
        checkpoint.save_npz(path, {"a": np.arange(5)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"hello"])
def test_unreadable_checkpoints_are_refused(tmp_path, content):
    (tmp_path / "model.npz").write_bytes(content)
    with pytest.raises(NpbackpropError, match="not a readable npbackprop checkpoint"):
        checkpoint.load_run(tmp_path)


def test_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "model.npz", weights=np.zeros(3))
    with pytest.raises(NpbackpropError, match="not an npbackprop checkpoint: it lacks C"):
        checkpoint.load_run(tmp_path)


@pytest.mark.parametrize("field, value, words", [
    ("batch_size", 1, "Bessel"), ("block_size", 0, "--block-size"), ("n_embd", 0, "--n-embd"),
    ("n_hidden", 0, "--n-hidden"), ("max_steps", -1, "--max-steps"),
    ("lr", float("nan"), "--lr"), ("lr", 0.0, "--lr"), ("lr", -0.1, "--lr"),
    ("lr_decayed", float("inf"), "--lr-decayed"), ("dtype", "float16", "--dtype"),
])
def test_validate(field, value, words):
    with pytest.raises(NpbackpropError, match=words):
        train.validate(train.Config(**{field: value}))


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    losses = 2 + np.exp(-np.arange(2500) / 500)
    plot.plot_losses(losses, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
