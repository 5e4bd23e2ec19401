"""Issue 12 through the command line, in real subprocesses: what real use broke.

Runs interrupted at random, two runs into one folder, a full disk, odd files,
closed pipes and the tool's own hints followed as printed.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SMALL = ["--n-embd", "4", "--n-hidden", "16", "-b", "8"]
FOREVER = [*SMALL, "--log-interval", "50", "--max-steps", "100000000",
           "--checkpoint-interval", "100000000"]


def npbackprop(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "npbackprop", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "npbackprop", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_progress(proc, lines=2):
    seen = 0
    for line in proc.stdout:
        seen += ":" in line and "/" in line and "data:" not in line
        if seen == lines:
            return


def one_line(p, *words, code=None):
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], lines[0]
    if code is not None:
        assert p.returncode == code, p.stderr
    else:
        assert p.returncode != 0
    return lines[0]


# -----------------------------------------------------------------------------
# a resumed run is the run that was started

def test_the_printed_resume_hint_finishes_the_run_that_was_started(tmp_path, names_file):
    out = tmp_path / "run"
    proc = start("train", "-i", names_file, "-o", out, *SMALL, "--log-interval", "50",
                 "--max-steps", 100_000, "--checkpoint-interval", 100_000)
    wait_for_progress(proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    hint = next(line for line in stderr.splitlines() if line.startswith("Resume with:"))
    assert hint == f"Resume with: npbackprop train -o {out} --resume"
    # followed as printed (plus the data file), it stops at the run's own 100,000 steps
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["max_steps"] == 100_000
    p = npbackprop("train", "-i", names_file, "-o", out, "--resume", "--log-interval", 100_000,
                   "--num-samples", 0)
    assert p.returncode == 0, p.stderr
    assert int(np.load(out / "model.npz")["step"]) == 100_000
    assert json.loads((out / "config.json").read_text())["max_steps"] == 100_000
    again = npbackprop("train", "-o", out, "--resume")
    assert again.returncode == 0 and "is finished: 100,000 of 100,000 steps" in again.stdout
    assert "--max-steps N" in again.stdout and "data:" not in again.stdout


def test_a_run_cannot_be_shortened(tmp_path, names_file):
    out = tmp_path / "run"
    assert npbackprop("train", "-i", names_file, "-o", out, *SMALL, "--max-steps", 40,
                      "--num-samples", 0).returncode == 0
    one_line(npbackprop("train", "-i", names_file, "-o", out, "--resume", "--max-steps", 30),
             f"--max-steps 30 is fewer than the 40 steps the run in {out} has already taken",
             "cannot be shortened", "drop --max-steps (the run's own is 40) or give at least 40",
             "another --out-dir")


# -----------------------------------------------------------------------------
# one process per folder

def test_a_second_train_into_a_live_run_is_refused_with_the_holders_pid(tmp_path, names_file):
    out = tmp_path / "run"
    first = start("train", "-i", names_file, "-o", out, *FOREVER)
    try:
        wait_for_progress(first)
        for extra in ([], ["--resume"], ["--force"]):
            p = npbackprop("train", "-i", names_file, "-o", out, *SMALL, *extra)
            one_line(p, "in use by another npbackprop train", f"process {first.pid}", code=1)
            assert "data:" not in p.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 143


def test_a_killed_runs_lock_is_not_stale(tmp_path, names_file):
    out = tmp_path / "run"
    first = start("train", "-i", names_file, "-o", out, *SMALL, "--log-interval", "50",
                  "--max-steps", 100_000_000, "--checkpoint-interval", 100)
    wait_for_progress(first, 3)
    first.kill()
    first.communicate(timeout=60)
    (out / ".model.npz.deadbeef.tmp").write_bytes(b"half a checkpoint")
    p = npbackprop("train", "-i", names_file, "-o", out, "--resume", "--max-steps",
                   int(np.load(out / "model.npz")["step"]) + 20, "--num-samples", 0)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["config.json", "metrics.json", "model.npz"]


def test_refusals_before_any_work_leave_nothing(tmp_path, names_file):
    done = tmp_path / "done"
    assert npbackprop("train", "-i", names_file, "-o", done, *SMALL, "--max-steps", 20,
                      "--num-samples", 0).returncode == 0
    p = npbackprop("train", "-i", names_file, "-o", done, *SMALL)
    one_line(p, "already holds a run")
    assert p.stdout == ""                      # no data or model lines before the refusal
    one_line(npbackprop("train", "-o", tmp_path / "nonexist", "--resume"), "does not exist")
    assert not (tmp_path / "nonexist").exists()
    one_line(npbackprop("train", "-o", done, "--resume", "--force"), "contradict")
    one_line(npbackprop("train", "-i", names_file, "-o", "", *SMALL), "--out-dir",
             "must not be empty")
    one_line(npbackprop("train", "-o", tmp_path / "x", "--num-samples", -1), "--num-samples")
    assert not (tmp_path / "x").exists()


def test_force_never_pairs_two_runs(tmp_path, names_file):
    out = tmp_path / "run"
    assert npbackprop("train", "-i", names_file, "-o", out, *SMALL, "--max-steps", 20,
                      "--num-samples", 0).returncode == 0
    proc = start("train", "-i", names_file, "-o", out, "--force", *FOREVER, "--seed", 5)
    wait_for_progress(proc, 1)
    proc.kill()
    proc.communicate(timeout=60)
    # the old run's model and metrics are gone; what is left is the new run's alone
    assert not (out / "metrics.json").exists() and not (out / "model.npz").exists()
    assert json.loads((out / "config.json").read_text())["seed"] == 5
    one_line(npbackprop("train", "-o", out, "--resume"), "nothing to resume")


# -----------------------------------------------------------------------------
# signals and pipes

def test_sighup_checkpoints_like_sigterm(tmp_path, names_file):
    out = tmp_path / "run"
    proc = start("train", "-i", names_file, "-o", out, *FOREVER)
    wait_for_progress(proc)
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP and "SIGHUP" in stderr
    assert "Traceback" not in stderr and int(np.load(out / "model.npz")["step"]) >= 50


def test_ctrl_c_during_start_up_is_no_traceback():
    # from the moment npbackprop's own code runs: a Ctrl-C while the interpreter itself
    # starts (its site module, an editable install's finder) is Python's, before any
    # program can handle it. So the delays start after a bare interpreter's start-up.
    def bare_start():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=ENV, check=True)
        return time.perf_counter() - t
    start_up = max(bare_start() for _ in range(3))
    # across numpy's import (where a KeyboardInterrupt can come out as an ImportError),
    # the command line's, and the parsing of the flags
    for delay in [start_up * 1.5 + 0.025 * k for k in range(12)]:
        proc = subprocess.Popen([sys.executable, "-m", "npbackprop", "check"], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert "Traceback" not in stderr, (delay, stderr)


def test_a_closed_stdout_never_loses_a_run(tmp_path, names_file):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "npbackprop", "train", "-i", str(names_file),
                             "-o", str(out), *SMALL, "--max-steps", "300", "--log-interval", "1"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()                         # as `| head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and stderr == ""
    assert int(np.load(out / "model.npz")["step"]) == 300
    assert json.loads((out / "metrics.json").read_text())["step"] == 300


@pytest.mark.parametrize("command", [["sample", "-n", "5000"], ["check"]])
def test_piping_into_head_is_no_traceback(tmp_path, names_file, command):
    out = tmp_path / "run"
    if command[0] == "sample":
        assert npbackprop("train", "-i", names_file, "-o", out, *SMALL, "--max-steps", 20,
                          "--num-samples", 0).returncode == 0
        command = [*command, "-o", str(out)]
    done = subprocess.run(f"{sys.executable} -m npbackprop {' '.join(command)} | head -1",
                          shell=True, env=ENV, capture_output=True, text=True, timeout=300)
    # stderr may hold check's progress lines on a slow machine, never a traceback or error
    problems = [line for line in done.stderr.splitlines()
                if line.strip() and not line.startswith("npbackprop check: reference, ")]
    assert problems == [] and len(done.stdout.splitlines()) == 1


# -----------------------------------------------------------------------------
# one line, never a traceback

FULL_DISK = """
import errno, os, sys
real, calls = os.fsync, [0]
def fsync(fd):
    calls[0] += 1
    if calls[0] > int(sys.argv[1]):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd)
os.fsync = fsync
from npbackprop.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("good_writes, kept", [(0, "no checkpoint was written"),
                                                (4, "at step 20, is intact")])
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, names_file,
                                                               good_writes, kept):
    # fsync is called for each file and its folder: 4 good calls are config.json and
    # the step-20 checkpoint; then the disk is full
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-c", FULL_DISK, str(good_writes), "train", "-i",
                        str(names_file), "-o", str(out), *SMALL, "--max-steps", "60",
                        "--checkpoint-interval", "20"], env=ENV, capture_output=True,
                       text=True, timeout=120)
    line = one_line(p, "No space left on device", code=1)
    assert kept in line or good_writes == 0
    if good_writes:
        assert int(np.load(out / "model.npz")["step"]) == 20
        assert not [x for x in out.iterdir() if x.name.endswith(".tmp")]
    else:
        assert not out.exists()  # made for this run, nothing written: removed


def test_memory_errors_say_what_was_too_big(tmp_path, names_file):
    # refused by the estimate before allocating (test_memory.py: MemoryError where it is unknown)
    one_line(npbackprop("train", "-i", names_file, "-o", tmp_path / "a", "--n-hidden",
                        10**12), "would need about", "n_hidden 1000000000000", "--n-hidden")


@pytest.mark.parametrize("args, words", [
    (["train", "--seed", "-1"], ["--seed must not be negative"]),
    (["sample", "--seed", "-1"], ["--seed must not be negative"]),
])
def test_negative_seeds(tmp_path, names_file, args, words):
    one_line(npbackprop(*args, "-o", tmp_path / "nowhere"), *words)


def test_a_fifo_or_a_device_as_the_names_file_does_not_hang(tmp_path):
    fifo = tmp_path / "names.fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        p = npbackprop("train", "-i", path, "-o", tmp_path / "out", *SMALL, timeout=60)
        one_line(p, "not a regular file")
    assert not (tmp_path / "out").exists()


def test_control_characters_in_names_are_escaped_by_sample(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(["\x1b[31mred", "\x07bell", "a\x1bb"] * 30) + "\n")
    out = tmp_path / "run"
    assert npbackprop("train", "-i", names, "-o", out, *SMALL, "--max-steps", 200,
                      "--num-samples", 0).returncode == 0
    p = npbackprop("sample", "-o", out, "-n", 50)
    assert p.returncode == 0 and "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert "\\x1b" in p.stdout or "\\x07" in p.stdout


# -----------------------------------------------------------------------------
# eval on the run's own data

def test_eval_refuses_other_data_unless_asked(tmp_path, names_file):
    out = tmp_path / "run"
    subset = tmp_path / "subset.txt"
    subset.write_text("\n".join(names_file.read_text().splitlines()[:200]) + "\n")
    assert npbackprop("train", "-i", subset, "-o", out, *SMALL, "--max-steps", 20,
                      "--num-samples", 0).returncode == 0
    # by default, the file the run was trained on
    own = json.loads(npbackprop("eval", "-o", out, "--json").stdout)
    assert own["val_loss"] == pytest.approx(json.loads((out / "metrics.json").read_text())[
        "val_loss"], rel=1e-12) and "other_data" not in own
    line = one_line(npbackprop("eval", "-o", out, "-i", names_file), "not the data",
                    str(subset), "--other-data")
    assert "fingerprint" in line
    p = npbackprop("eval", "-o", out, "-i", names_file, "--other-data")
    assert p.returncode == 0 and f"[other data: {names_file}]" in p.stdout
    j = json.loads(npbackprop("eval", "-o", out, "-i", names_file, "--other-data",
                              "--json").stdout)
    assert j["other_data"] == str(names_file)


def test_an_interrupted_run_with_diagnostics_resumes_them_as_the_hint_says(tmp_path, names_file):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    proc = start("train", "-i", names_file, "-o", out, *SMALL, "--log-interval", "50",
                 "--max-steps", 20_000, "--plot", "--diagnostics", 50)
    wait_for_progress(proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    step = int(np.load(out / "model.npz")["step"])
    kept = np.load(out / "diagnostics.npz")
    assert list(kept["steps"]) == list(range(0, step, 50))  # the records up to the stop
    hint = next(line for line in stderr.splitlines() if line.startswith("Resume with:"))
    assert hint == f"Resume with: npbackprop train -o {out} --resume --plot"
    p = npbackprop("train", "-i", names_file, *hint.split()[4:], "--num-samples", 0)
    assert p.returncode == 0, p.stderr
    for png in ("loss.png", "activations.png", "weight_gradients.png", "update_ratio.png"):
        assert f"figure: {out / png}" in p.stdout
    diag = np.load(out / "diagnostics.npz")
    assert list(diag["steps"]) == list(range(0, 20_000, 50)) and "h_0" in diag.files
