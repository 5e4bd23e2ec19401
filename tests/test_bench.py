"""The benchmarks: smoke runs with a few steps (no timing is asserted), JSON, torch absent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npbackprop import data, fast, model
from npbackprop.bench import command as bench_cmd
from npbackprop.bench import compare, harness, loop, tables
from npbackprop.names import PARAM_NAMES

FEW = dict(rounds=2, steps_per_round=3, warmup_rounds=1)


@pytest.fixture
def dataset(names_file):
    return data.load_dataset(names_file, block_size=3)


@pytest.fixture
def no_torch(monkeypatch):
    # None in sys.modules makes `import torch` raise ImportError, as if not installed
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "npbackprop.bench.torch_variants", raising=False)


def test_step_table_without_torch(dataset, no_torch):
    result = tables.bench_step(dataset, n_hidden=16, **FEW)
    assert list(result["variants"]) == list(tables.NUMPY_VARIANTS)
    assert any("torch is not installed" in n for n in result["notes"])
    for v in result["variants"].values():
        assert len(v["rounds_us"]) == 2 and v["min_us"] <= v["median_us"] <= v["max_us"]
    assert result["variants"][harness.FAST]["ratio_to_fast"] == 1.0
    assert "torch" not in result["machine"]
    text = tables.format_step_table(result)
    assert harness.FAST in text and "torch is not installed" in text
    json.dumps(result)


def test_step_table_with_torch(dataset):
    pytest.importorskip("torch")
    result = tables.bench_step(dataset, n_hidden=16, **FEW)
    names = list(result["variants"])
    assert names[:len(tables.NUMPY_VARIANTS)] == list(tables.NUMPY_VARIANTS)
    assert {"torch autograd", "torch lecture loop", "torch manual index_add_"} <= set(names)
    assert result["machine"]["torch_threads"] == 1 and result["notes"] == []
    assert "torch autograd" in tables.format_step_table(result)


def test_pinned_threads_are_restored():
    before = harness.blas_threads()
    if before is None:
        pytest.skip("numpy's BLAS threads cannot be read here")
    other = 1 if before != 1 else 2
    with harness.pinned_threads(other) as notes:
        assert notes == [] and harness.blas_threads() == other
    assert harness.blas_threads() == before


def test_missing_torch_is_a_note_naming_the_tested_version(no_torch):
    module, why = harness.load_torch_variants()
    assert module is None and "torch is not installed" in why
    assert f"pip install torch=={harness.TORCH_VERSION}" in why


def _torch_and_tiny_params(dataset):
    """The torch variants module (or a skip without torch) and a tiny float32 network."""
    tv, _ = harness.load_torch_variants()
    if tv is None:
        pytest.skip("torch not installed")
    return tv, model.init_params(dataset.vocab_size, 4, 16, 3, rng=np.random.default_rng(0),
                                 dtype=np.float32)


def test_torch_variants_take_the_same_step(dataset):
    # each torch variant, one step from the same params on the same batch, lands where
    # npbackprop's step lands (float32, so close rather than equal)
    tv, params = _torch_and_tiny_params(dataset)
    batches = harness.make_batches(dataset, 8, 1)
    ws = fast.Workspace(params, 8)
    loss, _ = fast.fast_sgd_step(ws, *batches[0], 0.1)
    for name, factory in tv.VARIANTS.items():
        step = factory(params, batches)
        assert step(0, 0.1) == pytest.approx(loss, rel=1e-5), name


def test_the_header_names_the_blas_kernel_openblas_runs():
    # the kernel is what OpenBLAS picked at load time: OPENBLAS_CORETYPE overrides it, so
    # a child started with Haswell reads Haswell back whatever the build's config says
    if harness.blas_threads() is None:
        pytest.skip("numpy's BLAS is not a bundled OpenBLAS")
    code = ("from npbackprop.bench import harness; "
            "print(harness.format_machine(harness.machine_info()))")
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "kernel Haswell," in out and "OPENBLAS_CORETYPE=Haswell" in out
    info = {**harness.machine_info(), "blas_kernel": None}
    assert "kernel unknown," in harness.format_machine(info)


def test_threads_table(dataset):
    result = tables.bench_threads(dataset, sizes=((8, 4),), rounds=1, steps_per_round=2)
    if harness.blas_threads() is None:
        assert result["rows"] == [] and result["notes"]
    else:
        (row,) = result["rows"]
        assert set(row["median_us"]) == {1, 2} and row["ratio_2_to_1"] > 0
    assert isinstance(tables.format_threads_table(result), str)
    json.dumps(result)


def test_scaling_table(dataset):
    result = tables.bench_scaling(dataset, hidden=(8, 16), batch=(4, 8), rounds=1,
                                 steps_per_round=2)
    assert [(r["n_hidden"], r["batch_size"]) for r in result["rows"]] == \
        [(8, 4), (8, 8), (16, 4), (16, 8)]
    assert all(r["gflops"] > 0 for r in result["rows"])
    text = tables.format_scaling_table(result)
    assert "batch 8" in text and "GFLOP/s" in text
    json.dumps(result)


def test_matmul_flops_counts_six_matmuls():
    # forward 2 N (T E) H + 2 N H V, backward twice each
    assert tables.matmul_flops(32, 3, 10, 200, 27) == 3 * (2 * 32 * 30 * 200 + 2 * 32 * 200 * 27)


def test_full_run(dataset, tmp_path):
    result = tables.bench_full_run(dataset, max_steps=30)
    assert result["max_steps"] == 30 and result["dtype"] == "float32"
    assert result["wall_seconds"] >= result["train_seconds"] > 0
    assert all(np.isfinite(result[f"{s}_loss"]) for s in ("train", "val", "test"))
    assert "after calibration" in tables.format_full_run(result)
    # an explicit folder keeps its run
    tables.bench_full_run(dataset, max_steps=5, out_dir=tmp_path / "run")
    z = np.load(tmp_path / "run" / "model.npz")
    assert int(z["step"]) == 5 and set(PARAM_NAMES) <= set(z.files)


def test_command_writes_json(names_file, tmp_path, capsys, no_torch):
    out = tmp_path / "bench.json"
    code = bench_cmd.main(["-i", str(names_file), "--rounds", "1", "--steps-per-round", "2",
                           "--only", "step", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "machine:" in printed and harness.FAST in printed
    result = json.loads(out.read_text())
    assert set(result) == {"data", "machine", "step"}
    assert {"median_us", "min_us", "max_us", "ratio_to_fast", "rounds_us"} <= \
        set(result["step"]["variants"][harness.FAST])
    assert result["machine"]["numpy"] == np.__version__


def test_command_refuses_bad_settings(names_file, capsys):
    assert bench_cmd.main(["-i", str(names_file), "--rounds", "0"]) == 2
    assert "--rounds must be at least 1" in capsys.readouterr().err


def test_parts():
    parser = bench_cmd.argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bench_cmd.add_parser(sub)
    args = parser.parse_args(["bench", "--scaling"])
    assert bench_cmd._parts(args) == ["step", "threads", "scaling"]
    args = parser.parse_args(["bench", "--only", "full-run", "--only", "step"])
    assert bench_cmd._parts(args) == ["step", "full-run"]
    assert args.func is bench_cmd.cmd_bench


@pytest.mark.parametrize("script", ["bench_step.py", "bench_scaling.py", "bench_full_run.py"])
def test_scripts_show_help(script):
    path = Path(__file__).resolve().parent.parent / "benchmarks" / script
    done = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and f"usage: {script}" in done.stdout


def test_loop_table(dataset):
    result = loop.bench_loop(dataset, rounds=1, steps=20)
    assert result["step_us"] > 0 and result["train_us"] > 0
    assert len(result["rounds_us"]["step"]) == len(result["rounds_us"]["train"]) == 1
    assert "loop overhead" in loop.format_loop_table(result)
    json.dumps(result)


def test_compiled_table_runs_the_same_training(dataset, no_torch):
    pytest.importorskip("jax")
    result = compare.bench_compiled(dataset, rounds=1)
    names = list(result["variants"])
    assert names[0] == compare.NP and "jax jit + lax.scan, 1000 steps a call" in names
    for v in result["variants"].values():
        # same parameters, same minibatches: the first chunk's losses agree (float32)
        assert v["first_chunk_max_loss_diff"] < 1e-4 and v["median_us"] > 0
    assert any("torch" in n for n in result["notes"])
    assert "lax.scan" in compare.format_compiled(result)
    json.dumps(result)


def test_compiled_table_without_jax(dataset, monkeypatch, no_torch):
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.delitem(sys.modules, "npbackprop.bench.jax_variants", raising=False)
    result = compare.bench_compiled(dataset, rounds=1)
    assert list(result["variants"]) == [compare.NP]
    assert any("jax is not installed" in n for n in result["notes"])


def test_compiled_full_run(dataset, no_torch):
    pytest.importorskip("jax")
    result = compare.bench_compiled_full_run(dataset, max_steps=30)
    rows = result["rows"]
    assert set(rows) == {"npbackprop train", "jax jit + lax.scan"}
    assert rows["npbackprop train"]["ratio_to_npbackprop"] == 1.0
    # the same 30 steps on the same batches: the last losses agree
    assert rows["jax jit + lax.scan"]["last_loss"] == \
        pytest.approx(rows["npbackprop train"]["last_loss"], rel=1e-4)
    assert "whole training time" in compare.format_compiled_full_run(result)
    json.dumps(result)


@pytest.fixture
def no_jax(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.delitem(sys.modules, "npbackprop.bench.jax_variants", raising=False)


def test_torch_compile_row_runs_the_same_training(dataset, monkeypatch, no_jax):
    # torch.compile replaced by the identity: the functional step runs eagerly, cheaply,
    # through the same plumbing (compiled before round 0, compile time apart, losses checked)
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch, "compile", lambda f: f)
    result = compare.bench_compiled(dataset, rounds=1)
    row = result["variants"][compare.TORCH_COMPILE]
    assert row["first_chunk_max_loss_diff"] < 1e-4 and row["compile_seconds"] > 0
    assert "compile_seconds" not in result["variants"][compare.NP]
    assert not any("torch.compile" in n for n in result["notes"])
    assert "not timed" in compare.format_compiled(result)
    json.dumps(result)


def test_torch_compile_failure_is_one_line(dataset, monkeypatch, no_jax):
    torch = pytest.importorskip("torch")

    def failing_compile(f):
        def compiled(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n"
                               "Traceback (most recent call last):\n  File ...")
        return compiled
    monkeypatch.setattr(torch, "compile", failing_compile)
    result = compare.bench_compiled(dataset, rounds=1)
    assert compare.TORCH_COMPILE not in result["variants"]
    assert "torch autograd (eager)" in result["variants"]
    (note,) = [n for n in result["notes"] if "torch.compile" in n]
    assert note == ("torch.compile skipped: RuntimeError: InvalidCxxCompiler: "
                    "No working C++ compiler found")
    text = compare.format_compiled(result)
    assert f"note: {note}" in text and "Traceback" not in text


@pytest.mark.slow
def test_torch_compile_takes_the_same_steps(dataset):
    # the real torch.compile (gcc builds C++, tens of seconds), a tiny network
    tv, params = _torch_and_tiny_params(dataset)
    batches = harness.make_batches(dataset, 8, 5)
    step = tv.compiled_stream(params, *batches[0])
    ws = fast.Workspace(params, 8)
    for i, (Xb, Yb) in enumerate(batches):
        lr = 0.1 if i < 3 else 0.01          # a new lr must not change the step's results
        assert step(Xb, Yb, lr) == pytest.approx(fast.fast_sgd_step(ws, Xb, Yb, lr)[0],
                                                 rel=1e-5)
    assert step.compile_seconds > 0


@pytest.mark.parametrize("where", ["no-such-folder/bench.json", "folder"])
def test_an_unwritable_json_path_is_refused_before_anything_is_timed(names_file, tmp_path,
                                                                    capsys, monkeypatch, where):
    (tmp_path / "folder").mkdir()

    def timed(*args, **kwargs):
        raise AssertionError("timed before the --json path was checked")
    monkeypatch.setattr(tables, "bench_step", timed)
    code = bench_cmd.main(["-i", str(names_file), "--only", "step", "--no-torch",
                           "--json", str(tmp_path / where)])
    out, err = capsys.readouterr()
    assert code == 2 and "machine:" not in out
    assert f"cannot write --json {tmp_path / where}" in err and len(err.splitlines()) == 1


def test_a_writable_json_path_is_not_left_behind_when_the_bench_fails(names_file, tmp_path,
                                                                      capsys):
    out = tmp_path / "bench.json"
    assert bench_cmd.main(["-i", str(tmp_path / "no-names.txt"), "--json", str(out)]) != 0
    assert not out.exists()


def test_wavenet_takes_the_steps_per_round_given(names_file, capsys, no_torch):
    code = bench_cmd.main(["-i", str(names_file), "--only", "wavenet", "--rounds", "1",
                           "--warmup-rounds", "0", "--steps-per-round", "5", "--no-torch"])
    assert code == 0 and "1 rounds of 5 steps" in capsys.readouterr().out


def test_steps_per_round_reach_each_table_as_the_help_says(names_file, monkeypatch, capsys):
    seen = {}

    def recorder(part, key):
        def bench(*args, **kwargs):
            seen[part] = kwargs[key]
            raise KeyboardInterrupt  # stop here: only the settings are wanted
        return bench
    for module, name, key in [(tables, "bench_step", "steps_per_round"),
                              (tables, "bench_threads", "steps_per_round"),
                              (tables, "bench_scaling", "steps_per_round"),
                              (loop, "bench_loop", "steps")]:
        monkeypatch.setattr(module, name, recorder(name, key))
    from npbackprop.bench import wavenet
    monkeypatch.setattr(wavenet, "bench_wavenet", recorder("wavenet", "steps_per_round"))
    for given, expected in [([], dict(bench_step=200, bench_threads=50, bench_scaling=20,
                                      bench_loop=2000, wavenet=100)),
                            (["--steps-per-round", "40"],
                             dict(bench_step=40, bench_threads=10, bench_scaling=4,
                                  bench_loop=400, wavenet=40))]:
        for part in ("step", "threads", "scaling", "loop", "wavenet"):
            bench_cmd.main(["-i", str(names_file), "--only", part, *given])
        assert seen == expected, given
    help_text = " ".join(_bench_parser().format_help().split())
    assert "N for the step and wavenet tables (default 200 and 100)" in help_text


def _bench_parser():
    parser = bench_cmd.argparse.ArgumentParser()
    bench_cmd._add_options(parser)
    return parser
