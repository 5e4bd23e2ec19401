"""The memory check before a run allocates: MemAvailable, the estimate, the refusal."""

from dataclasses import replace

import numpy as np
import pytest

from npbackprop import data, memory, networks, trainer
from npbackprop.config import defaults
from npbackprop.errors import NpbackpropError

GB = 10**9


def meminfo(tmp_path, text):
    path = tmp_path / "meminfo"
    path.write_text(text)
    return path


def test_available_bytes_reads_memavailable_in_kb(tmp_path):
    path = meminfo(tmp_path, "MemTotal:  2000 kB\nMemFree:  100 kB\nMemAvailable:  1500 kB\n")
    assert memory.available_bytes(path) == 1500 * 1024


@pytest.mark.parametrize("text", ["MemTotal:  2000 kB\n", "MemAvailable: lots\n"])
def test_available_bytes_is_none_when_unknown(tmp_path, text):
    assert memory.available_bytes(meminfo(tmp_path, text)) is None
    assert memory.available_bytes(tmp_path / "no-such-file") is None


def test_require_refuses_only_what_does_not_fit(tmp_path):
    with pytest.raises(NpbackpropError, match=r"the model would need about 3.0 GB of memory, "
                       r"but this machine has 2.0 GB available: lower --n-hidden"):
        memory.require(3 * GB, "the model", "lower --n-hidden", available=2 * GB)
    memory.require(GB, "the model", "lower --n-hidden", available=2 * GB)
    # unknown available memory: nothing is refused
    memory.require(10**30, "the model", "x", meminfo=tmp_path / "no-such-file")


@pytest.mark.parametrize("model", ["mlp", "wavenet", "deep"])
@pytest.mark.parametrize("sizes", [{}, dict(n_embd=3, n_hidden=5, block_size=4),
                                   dict(n_embd=2, n_hidden=7, block_size=2)])
def test_parameter_count_is_what_init_params_makes(model, sizes):
    cfg = replace(defaults(model), **sizes)
    params = networks.init_params(cfg, 27, np.random.default_rng(0), np.float32)
    assert networks.parameter_count(cfg, 27) == sum(p.size for p in params.values())


@pytest.mark.parametrize("model", ["mlp", "wavenet", "deep"])
def test_the_lectures_runs_fit_in_a_gigabyte(model):
    networks.check_fits_in_memory(defaults(model), 27, 182_625, available=GB)
    networks.check_fits_in_memory(replace(defaults(model), dtype="float64"), 27, 182_625,
                                  available=GB)


@pytest.mark.parametrize("change, flag", [(dict(n_hidden=100_000_000), "--n-hidden"),
                                          (dict(batch_size=100_000_000), "--batch-size"),
                                          (dict(n_embd=100_000, block_size=30), "--n-embd"),
                                          (dict(block_size=100_000), "--block-size")])
def test_a_run_too_big_is_refused_naming_what_to_lower(change, flag):
    cfg = replace(defaults("mlp"), **change)
    with pytest.raises(NpbackpropError, match="would need about") as e:
        networks.check_fits_in_memory(cfg, 27, 182_625, available=24 * GB)
    assert f"lower {flag} " in str(e.value) and "24.0 GB available" in str(e.value)


def test_a_run_that_fits_is_not_refused_however_close():
    cfg = defaults("mlp")
    needed = sum(networks.memory_needed(cfg, 27, 182_625).values())
    networks.check_fits_in_memory(cfg, 27, 182_625, available=needed)
    with pytest.raises(NpbackpropError):
        networks.check_fits_in_memory(cfg, 27, 182_625, available=needed - 1)


@pytest.fixture
def tiny_dataset(names_file):
    return data.load_dataset(names_file, 3)


def test_train_refuses_before_allocating(monkeypatch, tiny_dataset):
    monkeypatch.setattr(memory, "available_bytes", lambda meminfo=None: GB)

    def allocate(*args):
        raise AssertionError("allocated before the memory check")
    monkeypatch.setattr(networks, "init_params", allocate)
    with pytest.raises(NpbackpropError, match="--n-hidden"):
        trainer.train(replace(defaults("mlp"), n_hidden=100_000_000, max_steps=1), tiny_dataset)


def test_train_with_memory_unknown_is_not_refused(monkeypatch, tiny_dataset):
    monkeypatch.setattr(memory, "available_bytes", lambda meminfo=None: None)
    run = trainer.train(replace(defaults("mlp"), n_embd=2, n_hidden=4, batch_size=4,
                                max_steps=2), tiny_dataset)
    assert run.step == 2


def test_where_memory_is_unknown_a_memory_error_is_still_one_clear_error(monkeypatch,
                                                                         tiny_dataset):
    monkeypatch.setattr(memory, "available_bytes", lambda meminfo=None: None)
    with pytest.raises(NpbackpropError, match="out of memory making the model: .* n_hidden "
                       "1000000000000"):
        trainer.train(replace(defaults("mlp"), n_hidden=10**12, max_steps=1), tiny_dataset)


@pytest.mark.parametrize("model", ["mlp", "wavenet", "deep"])
def test_evaluation_takes_fewer_rows_only_when_they_are_wide(model):
    # the lecture's sizes keep their chunks (the same losses, bit for bit)
    assert networks.eval_rows(defaults(model), 27) == networks.EVAL_ROWS[model]
    wide = replace(defaults(model), n_hidden=100_000)
    rows = networks.eval_rows(wide, 27)
    assert rows < networks.EVAL_ROWS[model]
    assert rows * networks._eval_width(wide, 27) <= networks.EVAL_ELEMENTS
    # so n_hidden 100,000 evaluates in under a GB instead of 26 GB an array
    assert networks.memory_needed(wide, 27, 182_625)["evaluation"] < GB


@pytest.mark.parametrize("model", ["mlp", "wavenet", "deep"])
def test_a_split_loss_in_bounded_chunks_is_the_whole_splits(model, monkeypatch, tiny_dataset):
    cfg = replace(defaults(model), n_embd=3, n_hidden=6, block_size=4, dtype="float64")
    params = networks.init_params(cfg, tiny_dataset.vocab_size, np.random.default_rng(1),
                                  np.float64)
    ds = data.load_dataset(tiny_dataset.path, 4)
    X, Y = ds.Xtr, ds.Ytr
    stats = networks.statistics(cfg, params, networks.init_running(cfg, params), X)
    whole = networks.split_loss(cfg, params, *stats, X, Y)
    monkeypatch.setattr(networks, "EVAL_ELEMENTS", 3 * networks._eval_width(cfg, ds.vocab_size))
    assert networks.eval_rows(cfg, ds.vocab_size) == 3 < len(Y)
    assert networks.split_loss(cfg, params, *stats, X, Y) == pytest.approx(whole, rel=1e-12)
