"""Where names.txt comes from: an explicit path, $NPBACKPROP_DATA, the project's
data/ folder, the shared copy beside the project, or a checked download.

    path = find_names_file(args.input_file, log=print)

Nothing here prints; a missing file or a failed download raises NpbackpropError.
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

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
ENV_VAR = "NPBACKPROP_DATA"
DOWNLOAD_TIMEOUT = 30.0  # seconds, per blocking socket operation


def _no_log(message: str) -> None:
    pass


def _by_hand_hint(data_dir: Path) -> str:
    return (
        f"download names.txt from {NAMES_URL} yourself and pass it with "
        f"--input-file PATH, set {ENV_VAR}=PATH, or save it as {data_dir / 'names.txt'}"
    )


def find_names_file(
    path: str | os.PathLike | None = None,
    *,
    log: Callable[[str], None] | None = None,
    url: str = NAMES_URL,
    sha256: str = NAMES_SHA256,
    data_dir: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Return the path of names.txt, downloading it only as a last resort.

    Order: `path` (if given it must exist: no fallback), then $NPBACKPROP_DATA
    (same rule), then <data_dir>/names.txt (data_dir defaults to
    PROJECT_ROOT/data), then PROJECT_ROOT/../shared/data/names.txt, else
    download `url` to <data_dir>/names.txt and check its sha256.
    `log` receives one-line messages about a download; `environ` defaults to
    os.environ. Raises NpbackpropError if a named file is missing or the
    download fails.
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
    # read PROJECT_ROOT at call time so tests can move it
    data_dir = PROJECT_ROOT / "data" if data_dir is None else Path(data_dir)
    local = data_dir / "names.txt"
    if local.is_file():
        return local
    shared = PROJECT_ROOT.parent / "shared" / "data" / "names.txt"
    if shared.is_file():
        return shared
    _download(url, local, sha256, log)
    return local


def _download(url: str, dest: Path, sha256: str, log: Callable[[str], None]) -> None:
    """Fetch `url` into `dest` atomically, verifying its sha256.

    Writes <dest>.<random>.tmp in the same folder and os.replace()s it into
    place only after the checksum matches, so `dest` is either absent or
    complete; the temporary file is removed on every failure.
    """
    hint = _by_hand_hint(dest.parent)
    log(f"names.txt not found locally; downloading {url}")
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
    log(f"downloaded {url} to {dest} (sha256 verified)")
