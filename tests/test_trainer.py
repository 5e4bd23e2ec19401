"""The trainer through its Python API: schedule, outputs, calibration, resume, divergence."""

import dataclasses
import json
import os

import numpy as np
import pytest

from npbackprop import batches, checkpoint, data, fast, folder, model, networks
from npbackprop import run as run_module
from npbackprop import trainer as train
from npbackprop.names import PARAM_NAMES
from npbackprop.errors import NpbackpropError

SMALL = dict(n_embd=4, n_hidden=16, batch_size=8, lr_decay_step=30)


def run(out_dir, dataset, max_steps, **kw):
    """train() at the small sizes; returns the run's metrics."""
    cfg = train.Config(max_steps=max_steps, **{**SMALL, **kw.pop("cfg", {})})
    return train.train(cfg, dataset, out_dir, checkpoint_interval=kw.pop("checkpoint_interval", 25),
                       **kw).metrics


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
    with pytest.raises(checkpoint.WriteError, match="No space left on device"):
        checkpoint.save_npz(path, {"a": np.arange(5)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"hello"])
def test_unreadable_checkpoints_are_refused(tmp_path, content):
    (tmp_path / "model.npz").write_bytes(content)
    with pytest.raises(NpbackpropError, match="not a readable npbackprop checkpoint"):
        checkpoint.read_checkpoint(tmp_path)


def test_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "model.npz", weights=np.zeros(3))
    with pytest.raises(NpbackpropError, match="not an npbackprop checkpoint: it lacks bnmean"):
        checkpoint.read_checkpoint(tmp_path)


@pytest.mark.parametrize("field, value, words", [
    ("batch_size", 1, "Bessel"), ("block_size", 0, "at least 1"), ("n_embd", 0, "at least 1"),
    ("n_hidden", 0, "at least 1"), ("max_steps", -1, "negative"), ("seed", -1, "negative"),
    ("lr", float("nan"), "finite"), ("lr", 0.0, "above 0"), ("lr", -0.1, "above 0"),
    ("lr_decayed", float("inf"), "finite"), ("dtype", "float16", "float32, float64"),
    ("n_hidden", 2.5, "integer"),
])
def test_validate_names_the_field(field, value, words):
    # Python callers see the field's name; the command line shows its flag
    with pytest.raises(train.ConfigError, match=words) as err:
        train.validate(train.Config(**{field: value}))
    assert str(err.value).startswith(f"{field} ")
    assert err.value.with_flag().startswith(f"--{field.replace('_', '-')} ")


# -----------------------------------------------------------------------------
# the Python API: a Run back, a folder only when asked, any thread

def test_train_in_memory_returns_the_run_and_writes_nothing(tmp_path, dataset, monkeypatch):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    cfg = train.Config(max_steps=40, **SMALL)
    run = train.train(cfg, dataset)
    assert os.listdir(tmp_path / "cwd") == []
    assert run.step == 40 and run.losses.shape == (40,) and run.out_dir is None
    assert set(PARAM_NAMES) == set(run.params) and run.bnmean.shape == (1, 16)
    assert run.metrics["val_loss"] == pytest.approx(run.evaluate(dataset, "val"))
    names = run.sample(5, seed=1)
    assert len(names) == 5 and names == run.sample(5, seed=1)
    # a second call in the same process is the same run
    again = train.train(cfg, dataset)
    np.testing.assert_array_equal(again.losses, run.losses)


def test_train_works_outside_the_main_thread(tmp_path, dataset):
    import threading
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        run=train.train(train.Config(max_steps=20, **SMALL), dataset, tmp_path / "t")))
    thread.start()
    thread.join(60)
    assert result["run"].step == 20 and (tmp_path / "t" / "model.npz").is_file()


def test_load_run_gives_back_what_train_returned(tmp_path, dataset):
    made = train.train(train.Config(max_steps=30, **SMALL), dataset, tmp_path)
    loaded = run_module.load_run(tmp_path)
    assert loaded.config == made.config and loaded.step == 30 and loaded.metrics == \
        json.loads(json.dumps(made.metrics))
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(loaded.params[k], made.params[k])
    assert loaded.sample(3) == made.sample(3)


def test_resume_or_force_without_a_folder_is_refused(dataset):
    with pytest.raises(NpbackpropError, match="need an out_dir"):
        train.train(train.Config(max_steps=5, **SMALL), dataset, resume=True)


# -----------------------------------------------------------------------------
# a resumed run is the run that was started

def test_resume_keeps_the_runs_own_max_steps(tmp_path, dataset):
    # interrupted at step 25 of a 60-step run (simulated: a 60-step config, 25 steps done)
    run(tmp_path / "a", dataset, 60)
    straight = np.load(tmp_path / "a" / "model.npz")
    cfg = train.Config(max_steps=60, **SMALL)
    with pytest.raises(train.Interrupted, match="at step 25"):
        _interrupt_at(cfg, dataset, tmp_path / "b", 25)
    resumed = train.train(dataset=dataset, out_dir=tmp_path / "b", resume=True)
    assert resumed.step == 60 and resumed.config.max_steps == 60
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "model.npz")["W1"], straight["W1"])


def _interrupt_at(cfg, dataset, out_dir, step):
    """Train until `step`, then deliver SIGINT as a user would; Interrupted is raised."""
    import signal
    calls = {"n": 0}
    real = fast.fast_sgd_step

    def step_then_signal(*args):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args)
    fast.fast_sgd_step = step_then_signal
    try:
        train.train(cfg, dataset, out_dir, checkpoint_interval=1000)
    finally:
        fast.fast_sgd_step = real


def test_a_finished_run_resumed_is_left_as_it_is(tmp_path, dataset):
    run(tmp_path, dataset, 30)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    log = []
    again = train.train(dataset=dataset, out_dir=tmp_path, resume=True, log=log.append)
    assert again.step == 30 and "finished" in log[-1]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_extending_is_explicit_and_said(tmp_path, dataset):
    run(tmp_path, dataset, 30)
    log = []
    extended = train.train(train.Config(max_steps=50, **SMALL), dataset, tmp_path, resume=True,
                           log=log.append)
    assert extended.step == 50 and "extending the run from 30 to 50 steps" in log[0]
    assert json.loads((tmp_path / "config.json").read_text())["max_steps"] == 50
    with pytest.raises(train.ConfigError, match=r"40 is fewer than the 50 steps the run in .* "
                       r"has taken, and a run cannot be shortened: resume with its own 50 or "
                       r"more, or train a shorter run into another out_dir"):
        train.train(train.Config(max_steps=40, **SMALL), dataset, tmp_path, resume=True)


# -----------------------------------------------------------------------------
# divergence: stopped, said, never saved

def test_an_exploding_loss_stops_the_run_before_a_checkpoint_holds_it(tmp_path, dataset):
    # lr 50 keeps every number finite for a while but sends the loss far past 100x its start
    with pytest.raises(train.Diverged, match="exploded") as err:
        run(tmp_path, dataset, 3000, cfg=dict(lr=50.0, lr_decay_step=3000),
            checkpoint_interval=10)
    assert "over 100 times its start" in str(err.value)
    if (tmp_path / "model.npz").exists():
        z = np.load(tmp_path / "model.npz")
        assert all(np.isfinite(z[k]).all() for k in (*PARAM_NAMES, "bnmean", "bnvar"))
        assert f"at step {int(z['step'])}" in str(err.value)
        assert z["losses"].max() <= 100 * z["losses"][0]
    assert not (tmp_path / "metrics.json").exists()


def test_non_finite_parameters_are_never_checkpointed(tmp_path, dataset, monkeypatch):
    real, calls = fast.fast_sgd_step, []

    def poisoned(ws, *args):
        out = real(ws, *args)
        calls.append(1)
        if len(calls) == 25:                  # the step that ends at 50, a checkpoint step
            ws.params["W1"][0, 0] = np.inf    # a parameter gone, the loss still fine
        return out
    run(tmp_path, dataset, 25)                # a good checkpoint at step 25 first
    monkeypatch.setattr(fast, "fast_sgd_step", poisoned)
    with pytest.raises(train.Diverged, match="step 50: the parameters .* no longer finite") as err:
        run(tmp_path, dataset, 60, resume=True)
    assert "at step 25, is intact" in str(err.value)
    assert int(np.load(tmp_path / "model.npz")["step"]) == 25


def test_strict_json_never_writes_nan(tmp_path):
    checkpoint.save_json(tmp_path / "m.json", {"val_loss": float("nan"), "x": [float("inf"), 1]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"val_loss": None, "x": [None, 1]}


# -----------------------------------------------------------------------------
# the training split, checked once before any step (the steps then skip their batch checks)

def _with_bad_split(dataset, where="Xtr", value=-1):
    bad = getattr(dataset, where).copy()
    bad[5] = value
    return dataclasses.replace(dataset, **{where: bad})


@pytest.mark.parametrize("where, value, message", [
    ("Xtr", -1, r"training split's contexts hold -1 \(row 5\), outside the vocabulary's"),
    ("Ytr", 27, r"training split's targets hold 27 \(row 5\), outside the vocabulary's")])
def test_a_split_out_of_range_is_refused_before_any_step(dataset, monkeypatch, where, value,
                                                         message):
    calls, real = [], fast.fast_sgd_step
    monkeypatch.setattr(fast, "fast_sgd_step", lambda *a: calls.append(1) or real(*a))
    with pytest.raises(NpbackpropError, match=message):
        train.train(train.Config(max_steps=5, **SMALL), _with_bad_split(dataset, where, value))
    assert calls == []
    train.train(train.Config(max_steps=5, **SMALL), dataset)      # the good split trains
    assert len(calls) == 5


def test_a_bad_split_leaves_a_run_folder_as_it_was(tmp_path, dataset):
    run(tmp_path, dataset, 30)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bad = _with_bad_split(dataset)
    for kw in (dict(force=True), dict(resume=True)):
        with pytest.raises(NpbackpropError, match="contexts hold -1"):
            run(tmp_path, bad, 60, **kw)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_split_of_another_block_size_is_refused(dataset, names_file):
    with pytest.raises(NpbackpropError, match=r"shape \(M, 4\).*run's block_size"):
        train.train(train.Config(max_steps=5, block_size=4, **SMALL), dataset)


# -----------------------------------------------------------------------------
# the run folder

def test_force_removes_the_old_runs_files_before_anything_else(tmp_path, dataset):
    out = tmp_path / "run"
    run(out, dataset, 30)
    assert (out / "metrics.json").exists()
    # a --force run that diverges before its first checkpoint leaves no file of the old run
    with pytest.raises(train.Diverged):
        run(out, dataset, 500, cfg=dict(lr=1e30, seed=9), force=True, checkpoint_interval=1000)
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
    assert json.loads((out / "config.json").read_text())["seed"] == 9


def test_stale_temporaries_are_cleaned_and_others_kept(tmp_path, dataset):
    run(tmp_path, dataset, 20)
    stale = tmp_path / ".model.npz.abc123.tmp"
    stale.write_bytes(b"half")
    mine = tmp_path / "notes.txt"
    mine.write_text("keep")
    run(tmp_path, dataset, 30, resume=True)
    assert not stale.exists() and mine.read_text() == "keep"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_run_files_follow_the_umask(tmp_path, dataset, umask, mode):
    old = os.umask(umask)
    try:
        run(tmp_path, dataset, 20)
    finally:
        os.umask(old)
    for name in ("model.npz", "config.json", "metrics.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_a_second_holder_of_the_folder_is_refused(tmp_path):
    with folder.RunFolder.open(tmp_path / "run"):
        with pytest.raises(folder.FolderInUse, match=f"process {os.getpid()}"):
            folder.RunFolder.open(tmp_path / "run")
    # released: the next one gets it; the folder it made for nothing is gone again
    with folder.RunFolder.open(tmp_path / "run"):
        (tmp_path / "run" / "kept.txt").write_text("")
    assert os.listdir(tmp_path / "run") == ["kept.txt"]
    with folder.RunFolder.open(tmp_path / "new"):
        pass
    assert not (tmp_path / "new").exists()


def test_a_planted_link_is_never_followed(tmp_path, dataset):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / folder.LOCK_FILE)
    with pytest.raises(NpbackpropError, match="link"):
        run(out, dataset, 5)
    (out / folder.LOCK_FILE).unlink()
    for name in ("config.json", "metrics.json", ".model.npz.x.tmp"):
        os.symlink(victim, out / name)
    run(out, dataset, 20)
    os.symlink(victim, out / "elsewhere.npz")
    (out / "model.npz").unlink()
    os.symlink(victim, out / "model.npz")
    run(out, dataset, 20, force=True)
    assert victim.read_text() == "precious"
    assert not any(p.is_symlink() for p in out.iterdir() if p.name != "elsewhere.npz")


def test_refusals_leave_nothing_behind(tmp_path, dataset):
    with pytest.raises(NpbackpropError, match="nothing to resume"):
        run(tmp_path / "nonexist", dataset, 5, resume=True)
    assert not (tmp_path / "nonexist").exists()
    with pytest.raises(NpbackpropError, match="contradict"):
        run(tmp_path / "new", dataset, 5, resume=True, force=True)
    assert not (tmp_path / "new").exists()


# -----------------------------------------------------------------------------
# loading refuses edited and foreign checkpoints

def _edit(path, **changes):
    z = dict(np.load(path))
    z.update(changes)
    np.savez(path, **z)


@pytest.mark.parametrize("edit, words", [
    (lambda z: {"W1": z["W1"][:, :3]}, "W1 is float32 (12, 3)"),
    (lambda z: {"C": z["C"].astype(np.float64)}, "C is float64"),
    (lambda z: {"b2": np.full_like(z["b2"], np.nan)}, "b2 holds non-finite"),
    (lambda z: {"bnvar": -np.abs(z["bnvar"]) - 1}, "negative variances"),
    (lambda z: {"step": np.int64(7)}, "does not match its step 7"),
    (lambda z: {"step": np.int64(10**9)}, "not a step of a 20-step run"),
    (lambda z: {"rng_state": np.str_("{}")}, "generator state"),
    (lambda z: {"config": np.str_("{}")}, "lacks the run's settings"),
])
def test_edited_checkpoints_are_refused_in_one_line(tmp_path, dataset, edit, words):
    run(tmp_path, dataset, 20)
    _edit(tmp_path / "model.npz", **edit(np.load(tmp_path / "model.npz")))
    with pytest.raises(NpbackpropError, match="not a usable npbackprop checkpoint") as err:
        run_module.load_run(tmp_path)
    assert words in str(err.value) and "\n" not in str(err.value)


# -----------------------------------------------------------------------------
# minibatches in chunks (batches.py)

@pytest.mark.parametrize("stop_at", [7, 19, 21])
def test_resume_at_and_inside_chunk_edges_is_bit_exact(tmp_path, dataset, monkeypatch, stop_at):
    monkeypatch.setattr(batches, "CHUNK", 7)
    run(tmp_path / "a", dataset, 40)
    run(tmp_path / "b", dataset, stop_at)
    run(tmp_path / "b", dataset, 40, resume=True)
    a, b = (np.load(tmp_path / d / "model.npz") for d in "ab")
    for k in (*PARAM_NAMES, "losses"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_steps_train_on_the_batches_streams_minibatches(dataset, monkeypatch):
    seen, real = [], fast.fast_sgd_step

    def spy(ws, Xb, Yb, lr):
        seen.append((Xb.copy(), Yb.copy()))
        return real(ws, Xb, Yb, lr)
    monkeypatch.setattr(batches, "CHUNK", 6)
    monkeypatch.setattr(fast, "fast_sgd_step", spy)
    cfg = train.Config(max_steps=15, seed=3, **SMALL)
    train.train(cfg, dataset)
    expected = list(batches.minibatches(dataset.Xtr, dataset.Ytr, 3, cfg.batch_size, 0, 15))
    assert len(seen) == len(expected) == 15
    for (xa, ya), (xb, yb) in zip(seen, expected):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


# -----------------------------------------------------------------------------
# part 3's running batchnorm statistics for the mlp (bn_stats="running")

RUNNING = dict(bn_stats="running", dtype="float64")


def test_running_statistics_are_part_3s_update_and_eval_uses_them(dataset):
    cfg = train.Config(max_steps=50, **{**SMALL, **RUNNING})
    made = train.train(cfg, dataset)
    # the same run by hand: the readable step, and the buffers updated from each batch's
    # mean and Bessel-corrected variance of hprebn with momentum 0.001
    params = model.init_params(dataset.vocab_size, SMALL["n_embd"], SMALL["n_hidden"], 3,
                               rng=np.random.default_rng(cfg.seed), dtype=np.float64)
    bnmean, bnvar = np.zeros((1, SMALL["n_hidden"])), np.ones((1, SMALL["n_hidden"]))
    draws = batches.minibatches(dataset.Xtr, dataset.Ytr, cfg.seed, cfg.batch_size, 0, 50)
    for step, (Xb, Yb) in zip(range(50), draws):
        hprebn = model._preact(params, Xb)
        bnmean = 0.999 * bnmean + 0.001 * hprebn.mean(0, keepdims=True)
        bnvar = 0.999 * bnvar + 0.001 * hprebn.var(0, ddof=1, keepdims=True)
        model.sgd_step(params, Xb, Yb, train.learning_rate(step, cfg))
    np.testing.assert_allclose(made.bnmean, bnmean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(made.bnvar, bnvar, rtol=1e-9)
    calibrated = fast.calibrate(made.params, dataset.Xtr)
    assert np.abs(made.bnvar - calibrated[1]).max() > 0.1  # not part 4's calibration
    Xva, Yva = dataset.split("val")
    assert made.metrics["val_loss"] == model.split_loss(made.params, made.bnmean, made.bnvar,
                                                        Xva, Yva)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_running_statistics_resume_is_bit_exact(tmp_path, dataset, dtype):
    cfg = dict(bn_stats="running", dtype=dtype)
    straight = run(tmp_path / "a", dataset, 80, cfg=cfg)
    run(tmp_path / "b", dataset, 40, cfg=cfg)
    resumed = run(tmp_path / "b", dataset, 80, cfg=cfg, resume=True)
    a, b = (np.load(tmp_path / d / "model.npz") for d in "ab")
    for k in (*PARAM_NAMES, "bnmean", "bnvar", "losses", "step", "rng_state"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k in ("train_loss", "val_loss", "test_loss", "step"):
        assert straight[k] == resumed[k]
    assert json.loads(str(b["config"]))["bn_stats"] == "running"
    assert json.loads((tmp_path / "b" / "config.json").read_text())["bn_stats"] == "running"
    loaded = run_module.load_run(tmp_path / "b")
    assert loaded.config.bn_stats == "running"
    np.testing.assert_array_equal(loaded.bnmean, a["bnmean"])


def test_resume_with_other_bn_stats_is_refused_naming_it(tmp_path, dataset):
    run(tmp_path, dataset, 20, cfg=dict(bn_stats="running"))
    with pytest.raises(NpbackpropError, match="bn_stats: checkpoint 'running', now 'calibrate'"):
        run(tmp_path, dataset, 40, resume=True, cfg=dict(bn_stats="calibrate"))


def test_a_checkpoint_from_before_bn_stats_resumes_calibrating(tmp_path, dataset):
    run(tmp_path / "a", dataset, 40)
    run(tmp_path / "b", dataset, 20)
    z = np.load(tmp_path / "b" / "model.npz")
    saved = json.loads(str(z["config"]))
    del saved["bn_stats"]
    _edit(tmp_path / "b" / "model.npz", config=np.str_(json.dumps(saved)))
    resumed = train.train(out_dir=tmp_path / "b", resume=True, dataset=dataset,
                          cfg=train.Config(max_steps=40, **SMALL), checkpoint_interval=25)
    a = np.load(tmp_path / "a" / "model.npz")
    np.testing.assert_array_equal(resumed.bnvar, a["bnvar"])


@pytest.mark.parametrize("given, words", [
    (dict(bn_stats="batch"), "bn_stats must be one of calibrate, running, got 'batch'"),
    (dict(bn_stats="calibrate", model="deep"), "calibrate is part 4's, for the mlp model: "
     "the deep model keeps running statistics")])
def test_bad_bn_stats_are_refused_naming_the_field(given, words):
    with pytest.raises(train.ConfigError, match=words) as err:
        train.validate(train.Config(**given))
    assert err.value.field == "bn_stats"


def test_the_mlp_evaluates_a_split_in_chunks_to_the_same_loss(real_dataset):
    # networks.EVAL_ROWS["mlp"] rows at a time (182,625 train rows: 45 chunks), as one pass would
    params = model.init_params(real_dataset.vocab_size, 10, 200, 3,
                               rng=np.random.default_rng(0), dtype=np.float64)
    bnmean, bnvar = fast.calibrate(params, real_dataset.Xtr)
    cfg = train.Config()
    X, Y = real_dataset.Xtr, real_dataset.Ytr
    assert len(X) > 40 * networks.EVAL_ROWS["mlp"]
    whole = model.split_loss(params, bnmean, bnvar, X, Y, chunk=len(X))
    assert networks.split_loss(cfg, params, bnmean, bnvar, X, Y) == pytest.approx(whole,
                                                                                   rel=1e-12)
