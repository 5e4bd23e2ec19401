"""Names, vocabulary, splits and context windows: the lecture's data cells.

How names.txt is read, and how it becomes the (X, Y) arrays of the lecture:
Xtr (N, T) int64 contexts and Ytr (N,) int64 next characters, T = block_size.
(Where the file is found is datafile.py.) Nothing here prints; user mistakes
raise NpbackpropError.
"""

from __future__ import annotations

import hashlib
import operator
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from npbackprop import memory
from npbackprop.errors import NpbackpropError

SPLITS = ("train", "val", "test")
# the smallest list for which int(0.8*n) and int(0.9*n) leave all three splits non-empty
MIN_WORDS = 6


def load_words(path: str | os.PathLike) -> list[str]:
    """Read names from a UTF-8 text file, one per line.

    Strips '\\r' and surrounding whitespace, skips blank lines and a leading
    byte-order mark. Returns the names in file order. Raises NpbackpropError
    for a missing, unreadable or non-UTF-8 file, a file with no names, and a
    name containing '.', the reserved start/end token.
    """
    path = Path(path)
    if path.is_dir():
        raise NpbackpropError(f"{path} is a directory; give the path of the names file itself")
    # a FIFO would block forever and a device such as /dev/zero never ends
    if path.exists() and not path.is_file():
        raise NpbackpropError(f"{path} is not a regular file (a pipe or a device?); give the "
                              f"path of a names file, one name per line")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NpbackpropError(f"names file not found: {path}") from None
    except PermissionError:
        raise NpbackpropError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise NpbackpropError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise NpbackpropError(
            f"{path} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} "
            f"(line {line}); save it as UTF-8, one name per line"
        ) from None
    words = []
    # split on "\n" only (not splitlines) so line numbers match what an editor shows
    for lineno, line in enumerate(text.split("\n"), start=1):
        w = line.strip()
        if not w:
            continue
        if "." in w:
            raise NpbackpropError(
                f"{path}, line {lineno}: name {w!r} contains '.', which is reserved "
                f"as the start/end token; remove or replace it"
            )
        words.append(w)
    if not words:
        what = "is empty" if not data else "has only blank lines"
        raise NpbackpropError(f"no names in {path}: the file {what}; it needs one name per line")
    return words


def build_vocab(words: Sequence[str]) -> list[str]:
    """Return itos: '.' (index 0, start/end token) then the sorted characters.

    As the lecture: chars = sorted(set(''.join(words))), stoi[c] = i + 1,
    stoi['.'] = 0. For names.txt, V = len(itos) = 27.
    """
    chars = sorted(set("".join(words)))
    if "." in chars:
        raise NpbackpropError("a name contains '.', which is reserved as the start/end token")
    return ["."] + chars


def stoi_of(itos: Sequence[str]) -> dict[str, int]:
    """Return stoi, the inverse of itos: {character: index}."""
    return {s: i for i, s in enumerate(itos)}


def build_dataset(
    words: Sequence[str], stoi: Mapping[str, int], block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Turn names into the lecture's (context, next character) examples.

    Each name w gives len(w) + 1 examples: the context starts as T zeros ('.')
    and slides one character at a time over w + '.'.
    Returns X (M, T) int64 contexts and Y (M,) int64 targets, T = block_size,
    M = sum(len(w) + 1). Same rows, same order as the lecture's loop.
    """
    try:
        T = operator.index(block_size)
    except TypeError:
        raise NpbackpropError(f"block_size must be an integer, got {block_size!r}") from None
    if T < 1:
        raise NpbackpropError(f"block_size must be at least 1, got {T}")
    joined = "".join(words)
    try:
        ids = np.fromiter((stoi[c] for c in joined), dtype=np.int64, count=len(joined))
    except KeyError as e:
        raise NpbackpropError(f"character {e.args[0]!r} is not in the vocabulary") from None
    lens = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))  # (W,)
    # lay every name out as T zeros, its characters, one closing zero:
    # the examples of a name are then its length-T windows and the element after each
    seglen = lens + T + 1                                  # (W,)
    seg_start = np.cumsum(seglen) - seglen                 # (W,)
    seq = np.zeros(int(seglen.sum()), dtype=np.int64)
    # position of each character inside its own name, 0..len(w)-1
    within = np.arange(len(joined)) - np.repeat(np.cumsum(lens) - lens, lens)
    seq[np.repeat(seg_start + T, lens) + within] = ids
    n_ex = lens + 1                                        # (W,) examples per name
    starts = np.repeat(seg_start, n_ex) + np.arange(int(n_ex.sum())) - np.repeat(
        np.cumsum(n_ex) - n_ex, n_ex
    )                                                      # (M,)
    X = seq[starts[:, None] + np.arange(T)]                # (M, T)
    Y = seq[starts + T]                                    # (M,)
    return X, Y


def split_words(
    words: Sequence[str], seed: int = 42
) -> tuple[list[str], list[str], list[str]]:
    """Shuffle a copy of the names and cut it 80% / 10% / 10%, as the lecture.

    random.Random(seed).shuffle gives the same order as the lecture's
    random.seed(42); random.shuffle(words); n1 = int(0.8*n), n2 = int(0.9*n).
    The caller's list is not changed. Raises NpbackpropError if a split
    would be empty (fewer than MIN_WORDS names).
    """
    words = list(words)
    random.Random(seed).shuffle(words)
    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    train, val, test = words[:n1], words[n1:n2], words[n2:]
    if not (train and val and test):
        raise NpbackpropError(
            f"data set too small: {len(words)} names give train/val/test = "
            f"{len(train)}/{len(val)}/{len(test)} names; need at least {MIN_WORDS} names"
        )
    return train, val, test


@dataclass(frozen=True, eq=False)
class Dataset:
    """The three splits of one names file, encoded with one vocabulary.

    words are all names in file order; itos (V,) is built over all of them.
    Xtr, Xdev, Xte are (M, T) int64 contexts, Ytr, Ydev, Yte (M,) int64
    targets, T = block_size; M differs per split.
    """

    path: Path
    words: tuple[str, ...]
    itos: tuple[str, ...]
    block_size: int
    Xtr: np.ndarray
    Ytr: np.ndarray
    Xdev: np.ndarray
    Ydev: np.ndarray
    Xte: np.ndarray
    Yte: np.ndarray

    @property
    def stoi(self) -> dict[str, int]:
        return stoi_of(self.itos)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def fingerprint(self) -> str:
        """A short hash of the names and their order: a run records the data it saw."""
        return hashlib.sha256("\n".join(self.words).encode()).hexdigest()[:16]

    @property
    def split_sizes(self) -> dict[str, int]:
        """Number of examples per split: {"train": .., "val": .., "test": ..}."""
        return {name: len(self.split(name)[1]) for name in SPLITS}

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (X, Y) of "train", "val" or "test"."""
        if name == "train":
            return self.Xtr, self.Ytr
        if name == "val":
            return self.Xdev, self.Ydev
        if name == "test":
            return self.Xte, self.Yte
        raise NpbackpropError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")


def check_fits_in_memory(words: Sequence[str], block_size: int, available=None) -> None:
    """NpbackpropError when the (M, T) contexts of words cannot fit in memory: building a
    split's X takes an (M, T) index array beside it, eight bytes an entry each."""
    if isinstance(block_size, int) and block_size > 0:
        M = sum(len(w) + 1 for w in words)
        memory.require(2 * M * block_size * 8, f"the data set's contexts at block_size "
                       f"{block_size:,} ({M:,} examples of {block_size:,} characters each)",
                       "lower --block-size", available=available)


def load_dataset(path: str | os.PathLike, block_size: int, seed: int = 42) -> Dataset:
    """Read `path` and build the lecture's Xtr/Ytr, Xdev/Ydev, Xte/Yte.

    The vocabulary is built over all names (before the split), the split is
    split_words(words, seed), and each split goes through build_dataset.
    """
    path = Path(path)
    try:
        words = load_words(path)
        itos = build_vocab(words)
        stoi = stoi_of(itos)
        train, val, test = split_words(words, seed)
        check_fits_in_memory(words, block_size)
        Xtr, Ytr = build_dataset(train, stoi, block_size)
        Xdev, Ydev = build_dataset(val, stoi, block_size)
        Xte, Yte = build_dataset(test, stoi, block_size)
    except MemoryError:
        raise NpbackpropError(f"out of memory building the contexts of {path} at block_size "
                              f"{block_size}: lower --block-size, or use a smaller names "
                              f"file") from None
    return Dataset(path, tuple(words), tuple(itos), int(block_size), Xtr, Ytr, Xdev, Ydev, Xte, Yte)
