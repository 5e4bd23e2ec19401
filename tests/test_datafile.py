"""Tests for npbackprop.datafile: where names.txt is found, and its checked
download. Downloads only ever hit a local server on 127.0.0.1."""

import functools
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

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
def places(tmp_path, monkeypatch):
    """A working folder, a source checkout with a shared copy beside it, a cache, a home."""
    p = {"tmp": tmp_path, "cwd": tmp_path / "work", "root": tmp_path / "proj",
         "cache": tmp_path / "cache", "home": tmp_path / "home"}
    for d in ("cwd", "home"):
        p[d].mkdir()
    (p["root"] / "npbackprop").mkdir(parents=True)
    (p["root"] / "npbackprop" / "__init__.py").write_text("")
    (p["root"] / "setup.cfg").write_text("[metadata]\nname = npbackprop\n")
    monkeypatch.setenv("HOME", str(p["home"]))
    return p


def find(places, *args, environ=None, **kw):
    environ = {"NPBACKPROP_CACHE": str(places["cache"])} if environ is None else environ
    return find_names_file(*args, environ=environ, cwd=places["cwd"],
                           project_root=places["root"], **kw)


def test_find_order_is_every_place_in_turn(places):
    order = [places["cwd"] / "names.txt", places["cwd"] / "data" / "names.txt",
             places["root"] / "data" / "names.txt",
             places["tmp"] / "shared" / "data" / "names.txt", places["cache"] / "names.txt"]
    for path in order:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path.parent, f"{path}\n")
    for path in order:
        assert find(places) == path
        path.unlink()
    with pytest.raises(NpbackpropError, match="could not download"):
        find(places, url=f"http://127.0.0.1:{free_port()}/names.txt")


def test_explicit_path_and_env_come_first(places):
    write(places["cwd"], "c\n")
    explicit = write(places["tmp"], "a\n", "explicit.txt")
    env = write(places["tmp"], "b\n", "env.txt")
    cache_env = {"NPBACKPROP_CACHE": str(places["cache"]), ENV_VAR: str(env)}
    assert find(places, explicit, environ=cache_env) == explicit
    assert find(places, environ=cache_env) == env
    # an empty variable counts as unset
    assert find(places, environ={ENV_VAR: ""}) == places["cwd"] / "names.txt"


def test_find_env_from_os_environ(places, monkeypatch):
    env = write(places["tmp"], "b\n", "env.txt")
    monkeypatch.setenv(ENV_VAR, str(env))
    assert find_names_file() == env


def test_an_installed_package_does_not_look_beside_itself(places):
    # in site-packages there is no setup.cfg: its data/ and ../shared are not places
    (places["root"] / "setup.cfg").unlink()
    for folder in (places["root"] / "data", places["tmp"] / "shared" / "data"):
        folder.mkdir(parents=True)
        write(folder, "x\n")
    cached = places["cache"]
    cached.mkdir()
    write(cached, "c\n")
    assert find(places) == cached / "names.txt"


def test_the_cache_is_xdg_then_home(places):
    assert datafile.cache_dir({"XDG_CACHE_HOME": str(places["tmp"] / "xdg")}) == \
        places["tmp"] / "xdg" / "npbackprop"
    assert datafile.cache_dir({}) == places["home"] / ".cache" / "npbackprop"
    assert datafile.cache_dir({"NPBACKPROP_CACHE": "/x/y", "XDG_CACHE_HOME": "/z"}) == \
        Path("/x/y")


def test_find_explicit_missing_is_error_without_fallback(places):
    write(places["cwd"], "c\n")
    missing = places["tmp"] / "missing.txt"
    with pytest.raises(NpbackpropError, match="not found") as e:
        find(places, missing)
    assert str(missing) in str(e.value)


def test_find_env_missing_is_error_without_fallback(places):
    write(places["cwd"], "c\n")
    missing = places["tmp"] / "missing.txt"
    with pytest.raises(NpbackpropError, match=ENV_VAR) as e:
        find(places, environ={ENV_VAR: str(missing)})
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
def empty_dir(places):
    # nothing to find anywhere: the download goes into the cache, not created yet
    return places["cache"]


def nowhere(cache):
    """find_names_file's keywords for a machine with no names.txt but the cache's."""
    return dict(environ={"NPBACKPROP_CACHE": str(cache)}, cwd=cache.parent,
                project_root=cache.parent)


def assert_by_hand_hint(msg):
    assert "--input-file" in msg and ENV_VAR in msg and "names.txt" in msg


def test_download_good(server, empty_dir):
    messages = []
    sha = hashlib.sha256(GOOD).hexdigest()
    got = find_names_file(url=f"{server}/names.txt", sha256=sha, log=messages.append,
                          environ={"NPBACKPROP_CACHE": str(empty_dir)}, cwd=empty_dir.parent,
                          project_root=empty_dir.parent)
    assert got == empty_dir / "names.txt"
    assert got.read_bytes() == GOOD
    assert os.listdir(empty_dir) == ["names.txt"]
    assert any(f"{server}/names.txt" in m and str(empty_dir) in m for m in messages)
    assert any(str(got) in m and "sha256 verified" in m for m in messages)
    # a second call finds the file and does not download again
    assert find_names_file(url="http://127.0.0.1:1/x", cwd=empty_dir.parent,
                           environ={"NPBACKPROP_CACHE": str(empty_dir)},
                           project_root=empty_dir.parent) == got


def test_download_checksum_mismatch(server, empty_dir):
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(NpbackpropError, match="checksum") as e:
        find_names_file(url=f"{server}/names.txt", sha256=wrong, **nowhere(empty_dir))
    assert wrong in str(e.value)
    assert_by_hand_hint(str(e.value))
    assert os.listdir(empty_dir) == []


def test_download_http_error(server, empty_dir):
    with pytest.raises(NpbackpropError, match="404") as e:
        find_names_file(url=f"{server}/missing.txt", **nowhere(empty_dir))
    assert_by_hand_hint(str(e.value))
    assert os.listdir(empty_dir) == []


def test_download_server_down(empty_dir):
    url = f"http://127.0.0.1:{free_port()}/names.txt"
    with pytest.raises(NpbackpropError, match="could not download") as e:
        find_names_file(url=url, **nowhere(empty_dir))
    assert url in str(e.value)
    assert_by_hand_hint(str(e.value))
    assert not empty_dir.exists() or os.listdir(empty_dir) == []


def test_download_short_body(empty_dir):
    srv, base = serve(ShortBodyHandler)
    try:
        with pytest.raises(NpbackpropError, match="after 10 of 1000 bytes") as e:
            find_names_file(url=f"{base}/names.txt", **nowhere(empty_dir))
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
            find_names_file(url=url, **nowhere(empty_dir))
    assert_by_hand_hint(str(e.value))
    assert os.listdir(empty_dir) == []
