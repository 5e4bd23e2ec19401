"""The command line as a user meets it: real subprocesses, exit codes,
one-line errors, signals."""

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npbackprop import cli

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--n-embd", "4", "--n-hidden", "16", "-b", "8", "--log-interval", "20"]


def npbackprop(*args, check=None):
    """Run `python -m npbackprop ARGS`; return the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "npbackprop", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=300)
    if check is not None:
        assert p.returncode == check, p.stdout + p.stderr
    return p


def user_error(p, *words):
    """A user mistake: non-zero exit, one line on stderr naming it, no traceback."""
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def trained(tmp_path, names_file):
    out = tmp_path / "run"
    npbackprop("train", "-i", names_file, "-o", out, "--max-steps", 60, *SMALL,
               "--num-samples", 0, check=0)
    return out


def test_train_help_documents_every_flag_with_its_default():
    p = npbackprop("train", "--help", check=0)
    text = " ".join(p.stdout.split("options:")[1].split())
    for flag, default in [("--input-file", None), ("--out-dir", "out"),
                          ("--max-steps", "200000"), ("--batch-size", "32"),
                          ("--n-embd", "10"), ("--n-hidden", "200"), ("--block-size", "3"),
                          ("--lr", "0.1"), ("--lr-decayed", "0.01"),
                          ("--lr-decay-step", "100000"), ("--seed", "2147483647"),
                          ("--dtype", "float32"), ("--log-interval", "10000"),
                          ("--checkpoint-interval", "10000"), ("--resume", None),
                          ("--force", None), ("--plot", None),
                          ("--bn-stats", "the model's own, calibrate for the mlp")]:
        assert flag in text, flag
        if default:
            assert f"(default: {default})" in text.split(flag, 1)[1][:400], flag
    assert "-i" in text and "-o" in text and "-b" in text


def test_every_command_has_help():
    for command in ("train", "sample", "eval"):
        assert "usage: npbackprop " + command in npbackprop(command, "--help", check=0).stdout


def test_train_sample_eval(tmp_path, names_file):
    out = tmp_path / "run"
    p = npbackprop("train", "-i", names_file, "-o", out, "--max-steps", 60, *SMALL,
                   "--num-samples", 5, check=0)
    assert "      0/     60:" in p.stdout and "     40/     60:" in p.stdout
    assert "after calibration: train" in p.stdout
    samples = p.stdout.strip().splitlines()[-5:]
    assert all(set(s) <= set("abcdefgh") for s in samples)
    metrics = json.loads((out / "metrics.json").read_text())

    a = npbackprop("sample", "-o", out, "--num-samples", 7, "--seed", 3, check=0).stdout
    b = npbackprop("sample", "-o", out, "--num-samples", 7, "--seed", 3, check=0).stdout
    assert a == b and len(a.splitlines()) == 7
    assert npbackprop("sample", "-o", out, "--num-samples", 7, "--seed", 4).stdout != a

    e = json.loads(npbackprop("eval", "-o", out, "-i", names_file, "--json", check=0).stdout)
    assert e["step"] == 60
    for k in ("train_loss", "val_loss", "test_loss"):
        assert e[k] == pytest.approx(metrics[k], rel=1e-12)
    v = json.loads(npbackprop("eval", "-o", out, "-i", names_file, "--split", "val", "--json",
                              check=0).stdout)
    assert set(v) == {"val_loss", "step", "split_sizes"}
    text = npbackprop("eval", "-o", out, "-i", names_file, check=0).stdout
    assert "train loss" in text and "test  loss" in text


# -----------------------------------------------------------------------------
# bad input: a clear error, a non-zero exit, no traceback, nothing overwritten

@pytest.mark.parametrize("content, words", [
    (None, ["not found", "--input-file"]),
    ("dir", ["directory"]),
    (b"anna\n\xff\xfebob\n", ["UTF-8", "line 2"]),
    (b"", ["empty"]),
    (b"\n\n  \n", ["only blank lines"]),
    (b"anna\nbob\nj.r\n", ["line 3", "j.r"]),
    (b"anna\nbob\ncarl\n", ["too small"]),
])
def test_bad_data_files(tmp_path, content, words):
    path = tmp_path / "names.txt"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    p = npbackprop("train", "-i", path, "-o", tmp_path / "out", "--max-steps", 5)
    user_error(p, *words)
    assert not (tmp_path / "out" / "model.npz").exists()


@pytest.mark.parametrize("flags, words", [
    (["-b", "1"], ["--batch-size", "Bessel"]),
    (["--block-size", "0"], ["--block-size"]),
    (["--n-embd", "0"], ["--n-embd"]),
    (["--n-hidden", "-3"], ["--n-hidden"]),
    (["--max-steps", "-1"], ["--max-steps"]),
    (["--lr", "nan"], ["--lr", "finite"]),
    (["--lr", "0"], ["--lr"]),
    (["--lr", "inf"], ["--lr"]),
    (["--lr-decayed", "-1"], ["--lr-decayed"]),
    (["--dtype", "float16"], ["--dtype", "float32, float64"]),
    (["--log-interval", "0"], ["--log-interval"]),
    (["--bn-stats", "calibrate", "--model", "wavenet"],
     ["--bn-stats calibrate is part 4's, for the mlp model", "keeps running statistics"]),
    (["--bn-stats", "batch"], ["--bn-stats must be one of calibrate, running"]),
])
def test_bad_flags(tmp_path, names_file, flags, words):
    p = npbackprop("train", "-i", names_file, "-o", tmp_path / "out", *flags)
    user_error(p, *words)
    assert not (tmp_path / "out").exists()


def test_unparseable_flag_is_argparse_usage_error(tmp_path):
    p = npbackprop("train", "--max-steps", "many")
    assert p.returncode == 2 and "invalid int value" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_models_that_cannot_be_used(tmp_path, names_file, command):
    extra = ["-i", names_file] if command == "eval" else []
    user_error(npbackprop(command, "-o", tmp_path / "nowhere", *extra), "does not exist")
    (tmp_path / "empty").mkdir()
    user_error(npbackprop(command, "-o", tmp_path / "empty", *extra), "no checkpoint")
    (tmp_path / "trunc").mkdir()
    (tmp_path / "trunc" / "model.npz").write_bytes(b"PK\x03\x04\x14\x00")
    user_error(npbackprop(command, "-o", tmp_path / "trunc", *extra), "truncated")
    (tmp_path / "foreign").mkdir()
    np.savez(tmp_path / "foreign" / "model.npz", W=np.zeros(2))
    user_error(npbackprop(command, "-o", tmp_path / "foreign", *extra), "lacks")


def test_eval_refuses_a_checkpoint_of_another_vocabulary(trained, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("\n".join(["xyz", "zyx", "yzx", "xzy", "zxy", "yxz", "xx"]) + "\n")
    user_error(npbackprop("eval", "-o", trained, "-i", other), "another vocabulary")


def test_out_dir_that_cannot_be_written(tmp_path, names_file):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    user_error(npbackprop("train", "-i", names_file, "-o", blocker, *SMALL),
               "-o/--out-dir names the run's folder", "is a file")
    user_error(npbackprop("train", "-i", names_file, "-o", blocker / "sub", *SMALL),
               "cannot create")
    assert blocker.read_text() == "not a folder"


def test_existing_run_needs_resume_or_force(trained, names_file):
    before = (trained / "model.npz").read_bytes()
    user_error(npbackprop("train", "-i", names_file, "-o", trained, *SMALL), "--resume",
               "--force")
    assert (trained / "model.npz").read_bytes() == before


def test_resume_with_other_settings_names_the_keys(trained, names_file):
    before = (trained / "model.npz").read_bytes()
    user_error(npbackprop("train", "-i", names_file, "-o", trained, "--resume",
                          "--n-hidden", "32", "--max-steps", 80),
               "--n-hidden 32 (the run has 16)", "Drop --n-hidden", "another --out-dir")
    assert (trained / "model.npz").read_bytes() == before


@pytest.mark.parametrize("flags, named", [
    (["--model", "wavenet"], "--model wavenet (the run has mlp)"),
    (["--model", "deep", "--lr", "0.5"], "--lr 0.5 (the run has 0.1), --model deep (the run "
                                         "has mlp)"),
    (["--dtype", "float64"], "--dtype float64 (the run has float32)"),
    (["--bn-stats", "running"], "--bn-stats running (the run has calibrate)")])
@pytest.mark.parametrize("finished", [True, False])
def test_resume_with_another_model_or_setting_is_refused(trained, names_file, flags, named,
                                                         finished):
    # a finished run (60 of 60 steps) and one being extended are refused alike, and before
    # the data is read (a missing -i is not what is reported)
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    more = [] if finished else ["--max-steps", 80]
    line = user_error(npbackprop("train", "-i", trained / "no-such-names.txt", "-o", trained,
                                 "--resume", *flags, *more), named, "Drop ")
    assert "power of 2" not in line
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before


def test_resume_with_the_runs_own_settings_given_again_goes_on(trained, names_file):
    p = npbackprop("train", "-i", names_file, "-o", trained, "--resume", "--n-hidden", 16,
                   "--model", "mlp", "--max-steps", 70, "--num-samples", 0, check=0)
    assert "extending the run from 60 to 70 steps" in p.stdout


def test_resume_takes_settings_from_the_checkpoint(trained, names_file, tmp_path):
    # no model flags on resume: the checkpoint's n_hidden 16 etc. are used
    npbackprop("train", "-i", names_file, "-o", trained, "--resume", "--max-steps", 90,
               "--num-samples", 0, check=0)
    straight = tmp_path / "straight"
    npbackprop("train", "-i", names_file, "-o", straight, "--max-steps", 90, *SMALL,
               "--num-samples", 0, check=0)
    a, b = np.load(trained / "model.npz"), np.load(straight / "model.npz")
    np.testing.assert_array_equal(a["W1"], b["W1"])
    np.testing.assert_array_equal(a["losses"], b["losses"])


def test_running_statistics_resume_from_the_checkpoint_exactly(tmp_path, names_file):
    half, straight = tmp_path / "half", tmp_path / "straight"
    p = npbackprop("train", "-i", names_file, "-o", half, "--max-steps", 40, *SMALL,
                   "--bn-stats", "running", "--num-samples", 0, check=0)
    assert "running statistics: train" in p.stdout
    # no --bn-stats on resume: the checkpoint's running is used
    npbackprop("train", "-i", names_file, "-o", half, "--resume", "--max-steps", 90,
               "--num-samples", 0, check=0)
    npbackprop("train", "-i", names_file, "-o", straight, "--max-steps", 90, *SMALL,
               "--bn-stats", "running", "--num-samples", 0, check=0)
    a, b = np.load(half / "model.npz"), np.load(straight / "model.npz")
    for k in ("W1", "bnmean", "bnvar", "losses"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert json.loads(str(a["config"]))["bn_stats"] == "running"


def test_divergence_exits_non_zero_with_step_and_cause(tmp_path, names_file):
    p = npbackprop("train", "-i", names_file, "-o", tmp_path / "out", *SMALL, "--lr", "1e30",
                   "--max-steps", 500, "--checkpoint-interval", 1000)
    line = user_error(p, "step", "not finite", "learning rate")
    assert p.returncode == 3, line
    assert not (tmp_path / "out" / "model.npz").exists()


def test_a_bug_keeps_its_traceback(tmp_path, names_file, monkeypatch):
    from npbackprop import fast

    def broken(*args):
        raise ZeroDivisionError("a real bug")

    monkeypatch.setattr(fast, "fast_sgd_step", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["train", "-i", str(names_file), "-o", str(tmp_path / "out"), *SMALL])


# -----------------------------------------------------------------------------
# interruption: a real signal to a real subprocess

@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_and_resume_is_exact(tmp_path, names_file, sig, code):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "npbackprop", "train", "-i", str(names_file), "-o", str(out),
           "--n-embd", "4", "--n-hidden", "16", "-b", "8", "--log-interval", "50",
           "--max-steps", "100000000", "--checkpoint-interval", "100000000"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    # wait for training to be under way (two progress lines), then interrupt it
    seen = 0
    for line in proc.stdout:
        seen += "/100000000:" in line
        if seen == 2:
            break
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert "--resume" in stderr and str(out) in stderr
    step = int(np.load(out / "model.npz")["step"])
    assert step >= 50

    target = step + 37
    npbackprop("train", "-i", names_file, "-o", out, "--resume", "--max-steps", target,
               "--num-samples", 0, check=0)
    straight = tmp_path / "straight"
    npbackprop("train", "-i", names_file, "-o", straight, "--n-embd", 4, "--n-hidden", 16,
               "-b", 8, "--max-steps", target, "--num-samples", 0, check=0)
    a, b = np.load(out / "model.npz"), np.load(straight / "model.npz")
    for k in a.files:
        if k not in ("seconds", "config"):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ma = json.loads((out / "metrics.json").read_text())
    mb = json.loads((straight / "metrics.json").read_text())
    ma.pop("seconds"), mb.pop("seconds")
    assert ma == mb


def test_bench_is_a_command(names_file, tmp_path):
    out = tmp_path / "bench.json"
    p = npbackprop("bench", "-i", names_file, "--only", "step", "--rounds", 1,
                   "--steps-per-round", 2, "--warmup-rounds", 0, "--no-torch", "--json", out,
                   check=0)
    assert "npbackprop fast float32" in p.stdout
    assert "step" in json.loads(out.read_text())
    user_error(npbackprop("bench", "--rounds", 0), "--rounds")


@pytest.mark.skipif(__import__("npbackprop.memory").memory.available_bytes() is None,
                    reason="this machine does not say how much memory it has available")
def test_train_too_big_for_memory_is_one_line_before_anything_is_allocated(tmp_path, names_file):
    p = npbackprop("train", "-i", names_file, "-o", tmp_path / "run", "--n-hidden", 10**9,
                   "--max-steps", 1, "--num-samples", 0)
    user_error(p, "would need about", "available", "--n-hidden")
    assert p.returncode == 2 and not (tmp_path / "run" / "model.npz").exists()


@pytest.mark.skipif(__import__("npbackprop.memory").memory.available_bytes() is None,
                    reason="this machine does not say how much memory it has available")
def test_a_block_size_too_big_for_the_data_set_is_one_line(tmp_path, real_names_file):
    p = npbackprop("train", "-i", real_names_file, "-o", tmp_path / "run", "--block-size",
                   10**7, "--max-steps", 1, "--num-samples", 0)
    user_error(p, "block_size 10,000,000", "would need about", "--block-size")


def test_o_naming_a_file_says_that_o_names_a_folder(trained, tmp_path, names_file):
    # the run's own model.npz given where its folder goes: every command says to use the folder
    model = trained / "model.npz"
    for command in (["train", "-i", names_file, *SMALL], ["train", "--resume"], ["sample"],
                    ["eval"]):
        line = user_error(npbackprop(*command, "-o", model), "names the run's folder",
                          "is a file", f"use -o {trained}")
        assert "does not exist" not in line
    # a new path named like a file is refused, and no folder of that name is made
    new = tmp_path / "new.npz"
    user_error(npbackprop("train", "-i", names_file, "-o", new, *SMALL, "--max-steps", 1),
               "names the run's folder", "looks like a file name", f"use -o {tmp_path / 'new'}")
    assert not new.exists()
    user_error(npbackprop("train", "-i", names_file, "-o", tmp_path / "model.npz", *SMALL),
               "looks like a file name", f"use -o {tmp_path / 'model'}")


def _subparsers():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.choices and "train" in a.choices)
    return sub.choices


@pytest.mark.parametrize("command", ["train", "sample", "eval", "plot", "check", "bench"])
def test_help_says_a_default_once_and_only_when_there_is_one(command):
    p = _subparsers()[command]
    formatter = p._get_formatter()
    for action in p._actions:
        if not action.help or not action.option_strings:
            continue
        text = formatter._expand_help(action)
        flag = action.option_strings[-1]
        assert text.count("default") <= 1, (flag, text)
        assert "default: None" not in text and "default: False" not in text, (flag, text)
        if action.default not in (None, False, argparse.SUPPRESS):
            assert "default" in text, (flag, text)
