"""Tests for npbackprop.data: reading names, vocab, context windows and the
lecture's split (the real data set is found without ever reaching the internet)."""

import hashlib
import os
import random
import socket
import string
from pathlib import Path

import numpy as np
import pytest

import npbackprop.data as data
from npbackprop.data import (
    Dataset,
    build_dataset,
    build_vocab,
    load_dataset,
    load_words,
    split_words,
    stoi_of,
)
from npbackprop.datafile import NAMES_SHA256, find_names_file
from npbackprop.errors import NpbackpropError


def lecture_build_dataset(words, stoi, block_size):
    # the lecture's loop, verbatim apart from torch -> numpy
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return np.array(X, dtype=np.int64).reshape(-1, block_size), np.array(Y, dtype=np.int64)


def free_port():
    # bind to get a port nobody listens on once closed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the real data set -------------------------------------------------------


@pytest.fixture(scope="module")
def real_path():
    try:
        # a dead local url: the tests never reach the internet
        path = find_names_file(url=f"http://127.0.0.1:{free_port()}/names.txt")
    except NpbackpropError as e:
        pytest.skip(f"names.txt not available: {e}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == NAMES_SHA256, f"{path} is not the lecture's names.txt"
    return path


@pytest.fixture(scope="module")
def real_dataset(real_path):
    return load_dataset(real_path, block_size=3)


def test_real_split_sizes(real_dataset):
    ds = real_dataset
    assert len(ds.words) == 32033
    assert ds.split_sizes == {"train": 182625, "val": 22655, "test": 22866}
    assert ds.Xtr.shape == (182625, 3) and ds.Ytr.shape == (182625,)
    assert ds.Xdev.shape == (22655, 3) and ds.Xte.shape == (22866, 3)
    for X, Y in map(ds.split, ("train", "val", "test")):
        assert X.dtype == np.int64 and Y.dtype == np.int64


def test_real_vocab(real_dataset):
    ds = real_dataset
    assert ds.vocab_size == 27
    assert list(ds.itos) == ["."] + list(string.ascii_lowercase)
    assert ds.stoi["."] == 0 and ds.stoi["a"] == 1 and ds.stoi["z"] == 26


def test_real_split_matches_global_random(real_path):
    words = load_words(real_path)
    expected = list(words)
    state = random.getstate()
    try:
        random.seed(42)
        random.shuffle(expected)
    finally:
        random.setstate(state)
    train, val, test = split_words(words)
    assert train[:3] == expected[:3]
    assert train + val + test == expected


def test_real_dataset_matches_lecture_loop(real_dataset):
    ds = real_dataset
    train, _, test = split_words(list(ds.words))
    for words, (X, Y) in ((train, ds.split("train")), (test, ds.split("test"))):
        Xl, Yl = lecture_build_dataset(words, ds.stoi, 3)
        np.testing.assert_array_equal(X, Xl)
        np.testing.assert_array_equal(Y, Yl)


# ---- build_vocab / build_dataset ---------------------------------------------


def test_build_vocab_and_stoi():
    itos = build_vocab(["emma", "ab"])
    assert itos == [".", "a", "b", "e", "m"]
    assert stoi_of(itos) == {".": 0, "a": 1, "b": 2, "e": 3, "m": 4}


def test_build_vocab_rejects_dot():
    with pytest.raises(NpbackpropError, match="reserved"):
        build_vocab(["a.b"])


def test_build_dataset_by_hand_block3():
    stoi = stoi_of(build_vocab(["emma", "ab"]))  # . a b e m -> 0 1 2 3 4
    X, Y = build_dataset(["emma", "ab"], stoi, 3)
    X_expected = [
        [0, 0, 0], [0, 0, 3], [0, 3, 4], [3, 4, 4], [4, 4, 1],  # ... ..e .em emm mma
        [0, 0, 0], [0, 0, 1], [0, 1, 2],                         # ... ..a .ab
    ]
    Y_expected = [3, 4, 4, 1, 0, 1, 2, 0]                        # e m m a . a b .
    assert X.dtype == np.int64 and Y.dtype == np.int64
    assert X.shape == (8, 3) and Y.shape == (8,)
    assert X.tolist() == X_expected
    assert Y.tolist() == Y_expected


def test_build_dataset_by_hand_block1():
    stoi = stoi_of(build_vocab(["emma", "ab"]))
    X, Y = build_dataset(["emma", "ab"], stoi, 1)
    assert X.shape == (8, 1)
    assert X[:, 0].tolist() == [0, 3, 4, 4, 1, 0, 1, 2]
    assert Y.tolist() == [3, 4, 4, 1, 0, 1, 2, 0]


@pytest.mark.parametrize("block_size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_build_dataset_matches_lecture_loop(block_size, seed):
    rng = random.Random(seed)
    # short names (and an empty one) so contexts longer than a name are common
    words = ["".join(rng.choice("abcxyzé") for _ in range(rng.randint(0, 9))) for _ in range(30)]
    stoi = stoi_of(build_vocab(words))
    X, Y = build_dataset(words, stoi, block_size)
    Xl, Yl = lecture_build_dataset(words, stoi, block_size)
    assert X.shape == Xl.shape and X.dtype == np.int64
    np.testing.assert_array_equal(X, Xl)
    np.testing.assert_array_equal(Y, Yl)


def test_build_dataset_no_words():
    X, Y = build_dataset([], {".": 0}, 3)
    assert X.shape == (0, 3) and Y.shape == (0,)
    assert X.dtype == np.int64 and Y.dtype == np.int64


@pytest.mark.parametrize("block_size", [0, -1, 2.5, "3"])
def test_build_dataset_bad_block_size(block_size):
    with pytest.raises(NpbackpropError, match="block_size"):
        build_dataset(["ab"], {".": 0, "a": 1, "b": 2}, block_size)


def test_build_dataset_unknown_character():
    with pytest.raises(NpbackpropError, match="'q'"):
        build_dataset(["aq"], {".": 0, "a": 1}, 3)


# ---- load_words --------------------------------------------------------------


def write(tmp_path, content, name="names.txt"):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return p


def test_load_words_crlf_blank_lines_and_spaces(tmp_path):
    p = write(tmp_path, b"emma\r\n\r\n  olivia \r\n\n\t\nava")
    assert load_words(p) == ["emma", "olivia", "ava"]


def test_load_words_utf8_and_bom(tmp_path):
    p = write(tmp_path, "\ufeffzoë\nrenée\n")
    assert load_words(p) == ["zoë", "renée"]


def test_load_words_missing(tmp_path):
    p = tmp_path / "nope.txt"
    with pytest.raises(NpbackpropError, match="not found") as e:
        load_words(p)
    assert str(p) in str(e.value)


def test_load_words_directory(tmp_path):
    with pytest.raises(NpbackpropError, match="directory") as e:
        load_words(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_load_words_not_utf8(tmp_path):
    p = write(tmp_path, b"emma\nol\xffivia\n")
    with pytest.raises(NpbackpropError, match="UTF-8") as e:
        load_words(p)
    msg = str(e.value)
    assert str(p) in msg and "offset 7" in msg and "line 2" in msg and "0xff" in msg


@pytest.mark.parametrize("content, what", [(b"", "empty"), (b"\n \r\n\t\n", "blank")])
def test_load_words_no_names(tmp_path, content, what):
    p = write(tmp_path, content)
    with pytest.raises(NpbackpropError, match=what) as e:
        load_words(p)
    assert str(p) in str(e.value)


def test_load_words_reserved_dot(tmp_path):
    p = write(tmp_path, "emma\n\nmary.ann\n")
    with pytest.raises(NpbackpropError, match="line 3") as e:
        load_words(p)
    assert "'mary.ann'" in str(e.value) and str(p) in str(e.value)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a chmod 000 file"
)
def test_load_words_unreadable_chmod(tmp_path):
    p = write(tmp_path, "emma\n")
    p.chmod(0)
    try:
        with pytest.raises(NpbackpropError, match="permission denied") as e:
            load_words(p)
        assert str(p) in str(e.value)
    finally:
        p.chmod(0o644)


def test_load_words_unreadable_simulated(tmp_path, monkeypatch):
    # runs as root too, where chmod 000 does not stop reading
    p = write(tmp_path, "emma\n")

    def deny(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(NpbackpropError, match="permission denied") as e:
        load_words(p)
    assert str(p) in str(e.value)


# ---- split_words -------------------------------------------------------------


def test_split_words_too_small():
    with pytest.raises(NpbackpropError, match="too small") as e:
        split_words(["a", "b", "c", "d", "e"])
    msg = str(e.value)
    assert "5 names" in msg and "4/0/1" in msg and f"at least {data.MIN_WORDS}" in msg


def test_split_words_minimum_is_enough():
    words = [f"n{i}" for i in range(data.MIN_WORDS)]
    train, val, test = split_words(words)
    assert len(train) >= 1 and len(val) >= 1 and len(test) >= 1


def test_split_words_partition_and_no_mutation():
    words = ["".join(random.Random(i).choices("abcdef", k=5)) + str(i) for i in range(101)]
    before = list(words)
    train, val, test = split_words(words, seed=7)
    assert words == before
    assert (len(train), len(val), len(test)) == (80, 10, 11)
    assert sorted(train + val + test) == sorted(words)
    assert train + val + test != words  # actually shuffled
    assert split_words(words, seed=7) == (train, val, test)
    assert split_words(words, seed=8) != (train, val, test)


# ---- Dataset -----------------------------------------------------------------


def test_load_dataset_small(tmp_path):
    p = write(tmp_path, "\n".join(["emma", "ab", "olivia", "ava", "mia", "zoe", "eve", "bo"]))
    ds = load_dataset(p, block_size=2, seed=0)
    assert isinstance(ds, Dataset) and ds.path == p and ds.block_size == 2
    # vocab over all names, whatever lands in which split
    assert list(ds.itos) == build_vocab(load_words(p))
    train, val, test = split_words(load_words(p), seed=0)
    for name, words in (("train", train), ("val", val), ("test", test)):
        X, Y = ds.split(name)
        Xl, Yl = lecture_build_dataset(words, ds.stoi, 2)
        np.testing.assert_array_equal(X, Xl)
        np.testing.assert_array_equal(Y, Yl)
        assert ds.split_sizes[name] == sum(len(w) + 1 for w in words)
    with pytest.raises(NpbackpropError, match="unknown split"):
        ds.split("dev")


def test_a_names_file_too_big_for_memory_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "names.txt"
    path.write_text("emma\nolivia\nava\nisabella\nsophia\nmia\ncharlotte\namelia\n")

    def no_memory(*args):
        raise MemoryError
    monkeypatch.setattr(data, "build_dataset", no_memory)
    with pytest.raises(NpbackpropError, match="out of memory building the contexts of .*names.txt "
                       "at block_size 3: lower --block-size, or use a smaller names file"):
        data.load_dataset(path, 3)


def test_a_block_size_too_big_for_memory_is_refused_before_building(monkeypatch, names_file):
    from npbackprop import memory
    monkeypatch.setattr(memory, "available_bytes", lambda meminfo=None: 10**6)

    def build(*args):
        raise AssertionError("built before the memory check")
    monkeypatch.setattr(data, "build_dataset", build)
    with pytest.raises(NpbackpropError, match=r"block_size 100,000 .* would need about .* "
                       r"lower --block-size"):
        data.load_dataset(names_file, 100_000)


def test_a_block_size_that_fits_is_not_refused(names_file):
    words = data.load_words(names_file)
    M = sum(len(w) + 1 for w in words)
    data.check_fits_in_memory(words, 3, available=2 * M * 3 * 8)
    with pytest.raises(NpbackpropError, match="lower --block-size"):
        data.check_fits_in_memory(words, 3, available=2 * M * 3 * 8 - 1)


def test_a_block_size_is_not_refused_where_memory_is_unknown(monkeypatch, names_file):
    from npbackprop import memory
    monkeypatch.setattr(memory, "available_bytes", lambda meminfo=None: None)
    data.check_fits_in_memory(data.load_words(names_file), 10**9)
