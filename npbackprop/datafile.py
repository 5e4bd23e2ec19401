"""Where names.txt comes from, wherever the package is installed.

    path = find_names_file(args.input_file, log=print)

In this order: an explicit path; $NPBACKPROP_DATA; names.txt in the current
folder, then data/names.txt under it (makemore's habit); in a source
checkout, its data/ and the shared copy beside it (../shared/data/); the
user cache ($NPBACKPROP_CACHE, else $XDG_CACHE_HOME/npbackprop, else
~/.cache/npbackprop). Failing all, it is downloaded into that cache,
atomically, its sha256 checked. Nothing is ever written inside the installed
package. Nothing here prints; a missing file or a failed download raises
NpbackpropError.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Mapping

from npbackprop.errors import NpbackpropError

# the folder above the package: a source checkout's root, or site-packages when installed
PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
ENV_VAR = "NPBACKPROP_DATA"
CACHE_VAR = "NPBACKPROP_CACHE"
DOWNLOAD_TIMEOUT = 30.0  # seconds, per blocking socket operation


def _no_log(message: str) -> None:
    pass


def _by_hand_hint(cache: Path) -> str:
    return (
        f"download names.txt from {NAMES_URL} yourself and pass it with "
        f"--input-file PATH, set {ENV_VAR}=PATH, or save it as names.txt in this folder "
        f"or as {cache / 'names.txt'}"
    )


def is_source_checkout(root: Path) -> bool:
    """True if root is npbackprop's own source tree (not site-packages)."""
    setup = root / "setup.cfg"
    try:
        return (root / "npbackprop" / "__init__.py").is_file() and \
            "name = npbackprop" in setup.read_text(encoding="utf-8")
    except OSError:
        return False


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user cache for names.txt: $NPBACKPROP_CACHE, $XDG_CACHE_HOME/npbackprop or ~/.cache."""
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_VAR):
        return Path(environ[CACHE_VAR]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base).expanduser() / "npbackprop"


def candidates(cwd: Path, root: Path, environ: Mapping[str, str]) -> list[Path]:
    """The places looked at after the explicit path and $NPBACKPROP_DATA, in order."""
    places = [cwd / "names.txt", cwd / "data" / "names.txt"]
    if is_source_checkout(root):
        places += [root / "data" / "names.txt", root.parent / "shared" / "data" / "names.txt"]
    return places + [cache_dir(environ) / "names.txt"]


def find_names_file(
    path: str | os.PathLike | None = None,
    *,
    log: Callable[[str], None] | None = None,
    url: str = NAMES_URL,
    sha256: str = NAMES_SHA256,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    project_root: str | os.PathLike | None = None,
) -> Path:
    """Return the path of names.txt, downloading it into the user cache as a last resort.

    `path` and $NPBACKPROP_DATA, when given, must exist (no fallback); then
    candidates() in order; else `url` is downloaded into cache_dir() and its
    sha256 checked. `log` receives one-line messages about a download;
    environ, cwd and project_root default to this process's (tests move
    them). Raises NpbackpropError if a named file is missing or the download
    fails.
    """
    log = _no_log if log is None else log
    environ = os.environ if environ is None else environ
    if path is not None:
        path = Path(path).expanduser()
        if not path.exists():
            raise NpbackpropError(f"names file not found: {path} (check the --input-file path)")
        return path
    # an empty variable counts as unset, as shells commonly treat it
    env_path = environ.get(ENV_VAR)
    if env_path:
        env_path = Path(env_path).expanduser()
        if not env_path.exists():
            raise NpbackpropError(
                f"names file not found: {env_path} (from ${ENV_VAR}; fix or unset it)"
            )
        return env_path
    cwd = Path.cwd() if cwd is None else Path(cwd)
    # read PROJECT_ROOT at call time so tests can move it
    root = PROJECT_ROOT if project_root is None else Path(project_root)
    for place in candidates(cwd, root, environ):
        if place.is_file():
            return place
    dest = cache_dir(environ) / "names.txt"
    _download(url, dest, sha256, log)
    return dest


def _download(url: str, dest: Path, sha256: str, log: Callable[[str], None]) -> None:
    """Fetch `url` into `dest` atomically, verifying its sha256.

    Writes <dest>.<random>.tmp in the same folder and os.replace()s it into
    place only after the checksum matches, so `dest` is either absent or
    complete; the temporary file is removed on every failure.
    """
    hint = _by_hand_hint(dest.parent)
    log(f"names.txt not found locally; downloading {url} into {dest.parent}")
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{dest.name}.{secrets.token_hex(4)}.tmp")
        digest = hashlib.sha256()
        # "xb" (not mkstemp) so the final file gets the usual umask permissions
        with open(tmp, "xb") as f, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
            expected = resp.headers.get("Content-Length")
            received = 0
            while chunk := resp.read(1 << 16):
                digest.update(chunk)
                f.write(chunk)
                received += len(chunk)
        # http.client returns a short body without complaint when the server hangs up
        if expected is not None and expected.isdigit() and received != int(expected):
            raise NpbackpropError(
                f"could not download {url}: the connection closed after {received} "
                f"of {expected} bytes. {hint}"
            )
        got = digest.hexdigest()
        if got != sha256.lower():
            raise NpbackpropError(
                f"downloaded {url} but its sha256 checksum is {got}, expected {sha256}; "
                f"the file was discarded. {hint}"
            )
        os.replace(tmp, dest)
        tmp = None
    except urllib.error.HTTPError as e:
        raise NpbackpropError(f"could not download {url}: HTTP {e.code} {e.reason}. {hint}") from e
    except urllib.error.URLError as e:
        raise NpbackpropError(f"could not download {url}: {e.reason}. {hint}") from e
    except TimeoutError as e:
        raise NpbackpropError(
            f"could not download {url}: timed out after {DOWNLOAD_TIMEOUT:g} s. {hint}"
        ) from e
    except (OSError, http.client.HTTPException, ValueError) as e:
        # a dropped connection, a short body, a full disk, an unusable url
        reason = (e.strerror if isinstance(e, OSError) and e.strerror
                  else str(e) or type(e).__name__)
        raise NpbackpropError(f"could not download {url} to {dest}: {reason}. {hint}") from e
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    log(f"downloaded names.txt to {dest} (sha256 verified); it is found there from now on")
