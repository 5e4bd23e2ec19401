"""Tests for npbackprop.datafile: where names.txt is found, and its checked
download. Downloads only ever hit a local server on 127.0.0.1."""

import functools
import hashlib
import http.server
import os
import socket
import threading

import pytest

import npbackprop.datafile as datafile
from npbackprop.datafile import ENV_VAR, find_names_file
from npbackprop.errors import NpbackpropError


def free_port():
    # bind to get a port nobody listens on once closed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(tmp_path, content, name="names.txt"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# ---- find_names_file: lookup order -------------------------------------------


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """tmp/proj is the project root, tmp/shared/data the shared copy."""
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.setattr(datafile, "PROJECT_ROOT", proj)
    return tmp_path


def test_find_explicit_beats_env_and_data_dir(layout):
    explicit = write(layout, "a\n", "explicit.txt")
    env = write(layout, "b\n", "env.txt")
    dd = layout / "dd"
    dd.mkdir()
    write(dd, "c\n")
    got = find_names_file(explicit, environ={ENV_VAR: str(env)}, data_dir=dd)
    assert got == explicit


def test_find_env_beats_data_dir(layout):
    env = write(layout, "b\n", "env.txt")
    dd = layout / "dd"
    dd.mkdir()
    write(dd, "c\n")
    assert find_names_file(environ={ENV_VAR: str(env)}, data_dir=dd) == env


def test_find_env_from_os_environ(layout, monkeypatch):
    env = write(layout, "b\n", "env.txt")
    monkeypatch.setenv(ENV_VAR, str(env))
    assert find_names_file() == env


def test_find_data_dir_beats_shared(layout):
    shared = write(layout / "shared" / "data", "s\n")
    dd = layout / "dd"
    dd.mkdir()
    local = write(dd, "c\n")
    assert find_names_file(environ={}, data_dir=dd) == local
    local.unlink()
    assert find_names_file(environ={}, data_dir=dd) == shared


def test_find_default_data_dir_is_project_data(layout):
    write(layout / "shared" / "data", "s\n")
    local = write(layout / "proj" / "data", "c\n")
    assert find_names_file(environ={}) == local


def test_find_empty_env_var_counts_as_unset(layout):
    local = write(layout / "proj" / "data", "c\n")
    assert find_names_file(environ={ENV_VAR: ""}) == local


def test_find_explicit_missing_is_error_without_fallback(layout):
    write(layout / "proj" / "data", "c\n")
    write(layout / "shared" / "data", "s\n")
    missing = layout / "missing.txt"
    with pytest.raises(NpbackpropError, match="not found") as e:
        find_names_file(missing, environ={})
    assert str(missing) in str(e.value)


def test_find_env_missing_is_error_without_fallback(layout):
    write(layout / "proj" / "data", "c\n")
    missing = layout / "missing.txt"
    with pytest.raises(NpbackpropError, match=ENV_VAR) as e:
        find_names_file(environ={ENV_VAR: str(missing)})
    assert str(missing) in str(e.value)


# ---- find_names_file: download from a local server ---------------------------

GOOD = b"emma\nolivia\nava\n"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class ShortBodyHandler(http.server.BaseHTTPRequestHandler):
    # promises 1000 bytes, sends 10, hangs up
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"emma\nolivi")

    def log_message(self, *args):
        pass


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    (root / "names.txt").write_bytes(GOOD)
    srv, base = serve(functools.partial(QuietHandler, directory=str(root)))
    yield base
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def empty_dir(layout):
    # nothing to find: no explicit path, no env var, empty data dir, no shared copy
    d = layout / "empty" / "data"  # not created: the download must create it
    return d


def assert_by_hand_hint(msg):
    assert "--input-file" in msg and ENV_VAR in msg and "names.txt" in msg


def test_download_good(server, empty_dir):
    messages = []
    sha = hashlib.sha256(GOOD).hexdigest()
    got = find_names_file(
        url=f"{server}/names.txt", sha256=sha, data_dir=empty_dir, environ={}, log=messages.append
    )
    assert got == empty_dir / "names.txt"
    assert got.read_bytes() == GOOD
    assert os.listdir(empty_dir) == ["names.txt"]
    assert any(f"{server}/names.txt" in m and str(got) in m for m in messages)
    # a second call finds the file and does not download again
    messages.clear()
    assert find_names_file(url="http://127.0.0.1:1/x", data_dir=empty_dir, environ={}) == got


def test_download_checksum_mismatch(server, empty_dir):
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(NpbackpropError, match="checksum") as e:
        find_names_file(url=f"{server}/names.txt", sha256=wrong, data_dir=empty_dir, environ={})
    assert wrong in str(e.value)
    assert_by_hand_hint(str(e.value))
    assert os.listdir(empty_dir) == []


def test_download_http_error(server, empty_dir):
    with pytest.raises(NpbackpropError, match="404") as e:
        find_names_file(url=f"{server}/missing.txt", data_dir=empty_dir, environ={})
    assert_by_hand_hint(str(e.value))
    assert os.listdir(empty_dir) == []


def test_download_server_down(empty_dir):
    url = f"http://127.0.0.1:{free_port()}/names.txt"
    with pytest.raises(NpbackpropError, match="could not download") as e:
        find_names_file(url=url, data_dir=empty_dir, environ={})
    assert url in str(e.value)
    assert_by_hand_hint(str(e.value))
    assert not empty_dir.exists() or os.listdir(empty_dir) == []


def test_download_short_body(empty_dir):
    srv, base = serve(ShortBodyHandler)
    try:
        with pytest.raises(NpbackpropError, match="after 10 of 1000 bytes") as e:
            find_names_file(url=f"{base}/names.txt", data_dir=empty_dir, environ={})
    finally:
        srv.shutdown()
        srv.server_close()
    assert_by_hand_hint(str(e.value))
    assert os.listdir(empty_dir) == []


def test_download_timeout(empty_dir, monkeypatch):
    # a socket that listens but never answers: connect succeeds, read times out
    monkeypatch.setattr(datafile, "DOWNLOAD_TIMEOUT", 0.2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/names.txt"
        with pytest.raises(NpbackpropError, match="timed out") as e:
            find_names_file(url=url, data_dir=empty_dir, environ={})
    assert_by_hand_hint(str(e.value))
    assert os.listdir(empty_dir) == []
