"""A run folder held by one training process at a time.

    with RunFolder.open("out", resume=False, force=False) as folder:
        ...                       # train; folder.path is the run's folder

Opening takes an exclusive lock (flock on out/.npbackprop.lock) for the run's
whole life, so two processes never train into one folder; the kernel drops
the lock when its process dies, so a killed run never leaves a stale one.
Everything that can be refused is refused before any work and leaves the
folder as it was (a folder made only to be refused is removed). Holding the
lock, it removes this folder's stale temporaries, and a new run removes the
files of the run before it, so that a folder never pairs files of two runs.
"""

import errno
import fcntl
import os
from pathlib import Path

from npbackprop.checkpoint import MODEL_FILE, RUN_FILES, not_a_folder
from npbackprop.errors import NpbackpropError

LOCK_FILE = ".npbackprop.lock"


class FolderInUse(NpbackpropError):
    """Another live process trains into this folder."""

    exit_code = 1


def _lock(path):
    """An fd holding an exclusive flock on path (a regular file, never a link), or None."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # the holder before us may have unlinked the file while we opened it: then
        # our lock is on a dead inode, so lock the file now at that path instead
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _holder(path):
    try:
        pid = Path(path).read_text().strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid.isdigit() else "another process"


class RunFolder:
    """An out-dir locked for one run; use RunFolder.open(...) as a context manager."""

    def __init__(self, path, fd, created):
        self.path, self._fd, self._created = path, fd, created

    @classmethod
    def open(cls, out_dir, *, resume=False, force=False):
        """Lock out_dir for a run: resume the one it holds, or start one (force: replace it).

        Raises NpbackpropError (FolderInUse if another process holds it) before
        anything is written, and leaves no folder behind on a refusal.
        """
        path = Path(out_dir)
        if str(out_dir) == "":
            raise NpbackpropError("--out-dir must not be empty: name the run's folder")
        if resume and force:
            raise NpbackpropError("--resume and --force contradict each other: --resume "
                                  "continues the run in --out-dir, --force replaces it")
        # a file, or a new path named like one (-o model.npz): -o names a folder
        if path.exists() and not path.is_dir() or not path.exists() and path.suffix in (
                ".npz", ".json"):
            raise NpbackpropError(not_a_folder(path))
        if resume and not path.is_dir():
            raise NpbackpropError(f"nothing to resume: {path} does not exist")
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise NpbackpropError(f"cannot create --out-dir {path}: {e.strerror}") from None
        try:
            fd = _lock(path / LOCK_FILE)
        except OSError as e:
            cls._undo(path, created)
            why = ("its lock file is a link" if e.errno == errno.ELOOP else e.strerror)
            raise NpbackpropError(f"cannot write in --out-dir {path}: {why}") from None
        if fd is None:
            raise FolderInUse(f"{path} is in use by another npbackprop train "
                              f"({_holder(path / LOCK_FILE)}); wait for it to finish, "
                              f"or train into another --out-dir")
        folder = cls(path, fd, created)
        try:
            folder._check(resume, force)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            folder.release()
            raise
        return folder

    def _check(self, resume, force):
        holds_run = (self.path / MODEL_FILE).is_file()
        if resume and not holds_run:
            raise NpbackpropError(f"nothing to resume: {self.path / MODEL_FILE} does not exist")
        if holds_run and not resume and not force:
            raise NpbackpropError(f"{self.path} already holds a run ({MODEL_FILE}); continue "
                                  f"it with --resume, overwrite it with --force, or choose "
                                  f"another --out-dir")

    def clean(self, new_run):
        """Remove stale temporaries; for a new run, the previous run's files too."""
        for name in RUN_FILES:
            for tmp in self.path.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)
            if new_run:
                # unlink removes a link, never its target
                (self.path / name).unlink(missing_ok=True)

    def release(self):
        """Drop the lock, and the folder if this run made it and wrote nothing in it."""
        if self._fd is None:
            return
        try:
            (self.path / LOCK_FILE).unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None
        self._undo(self.path, self._created)

    @staticmethod
    def _undo(path, created):
        if created:
            try:
                path.rmdir()  # only if empty
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
