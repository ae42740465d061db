"""harness.artifacts.download and .checksum against a real HTTP server on 127.0.0.1.

The server is stdlib http.server in a thread. It counts requests per path so
tests can prove that no request happened (offline, cache hit) or that exactly
one happened (two processes racing for the same artifact).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import pickle
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.artifacts import (ArtifactError, ArtifactMissing, ChecksumMismatch, CorruptArtifact,
                               DownloadError, fetch, file_digest, parse_checksum, stage_local,
                               verify)

# Deterministic, not tiny: > 1 MiB so both the downloader and file_digest go
# through more than one block.
PAYLOAD = bytes(range(256)) * 5000 + b"tail"
SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
WRONG = "sha256:" + "0" * 64

# How long the racing-processes test keeps the first download open to give a
# second, unlocked request the chance to show up. It only bounds the wait for a
# failure; the passing path is woken by events, never by a fixed sleep.
RACE_WINDOW_S = 0.5


@dataclass
class Route:
    body: bytes = PAYLOAD
    status: int = 200
    truncate: bool = False      # announce len(body), send half, close
    hold: bool = False          # first request waits for `release` before the body


@dataclass
class ServerState:
    routes: dict[str, Route] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_request: threading.Event = field(default_factory=threading.Event)
    second_request: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class Handler(BaseHTTPRequestHandler):
    state: ServerState  # set per server by the fixture

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        st = self.server.state
        with st.lock:
            n = st.counts[self.path] = st.counts.get(self.path, 0) + 1
        (st.first_request if n == 1 else st.second_request).set()
        route = st.routes.get(self.path)
        if route is None or route.status != 200:
            self.send_error(route.status if route else 404)
            return
        if route.hold and n == 1:
            st.release.wait(timeout=60)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.truncate:
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(route.body)


class Server:
    def __init__(self):
        self.state = ServerState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state
        # A short poll interval only makes shutdown() prompt at teardown.
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def add(self, path: str, **kw) -> str:
        self.state.routes[path] = Route(**kw)
        return self.url(path)

    def count(self, path: str) -> int:
        with self.state.lock:
            return self.state.counts.get(path, 0)


@pytest.fixture
def server():
    srv = Server()
    srv.thread.start()
    yield srv
    srv.state.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


def leftovers(directory: Path, name: str) -> list[str]:
    """Temporaries of `name` (anything but the artifact itself and its lock)."""
    return sorted(p.name for p in directory.iterdir()
                  if p.name.startswith(name) and p.name not in (name, name + ".lock"))


# --- checksum -----------------------------------------------------------------

def test_parse_checksum_accepts_known_algorithms_and_normalises_case():
    assert parse_checksum("SHA256:" + "AB" * 32) == ("sha256", "ab" * 32)
    assert parse_checksum("md5:" + "0f" * 16) == ("md5", "0f" * 16)


@pytest.mark.parametrize("bad", ["", "abc", "sha256:xyz", "sha256:" + "0" * 63,
                                 "md5:" + "0" * 64, "crc32:00000000", "sha256" + "0" * 64])
def test_parse_checksum_rejects_malformed(bad):
    with pytest.raises(ValueError):
        parse_checksum(bad)


def test_file_digest_streams_multiple_blocks(tmp_path):
    p = tmp_path / "blob"
    p.write_bytes(PAYLOAD)
    assert len(PAYLOAD) > 1 << 20
    assert file_digest(p) == SHA.split(":")[1]
    assert file_digest(p, "md5") == MD5.split(":")[1]


def test_verify_mismatch_names_file_and_both_digests(tmp_path):
    p = tmp_path / "blob"
    p.write_bytes(b"not the payload")
    verify(tmp_path / "blob", "sha256:" + hashlib.sha256(b"not the payload").hexdigest())
    with pytest.raises(ChecksumMismatch) as ei:
        verify(p, SHA)
    msg = str(ei.value)
    assert str(p) in msg and SHA in msg
    assert "sha256:" + hashlib.sha256(b"not the payload").hexdigest() in msg
    assert ei.value.expected == SHA and ei.value.path == p


def test_errors_survive_pickling():
    # Errors cross process boundaries (xdist workers, multiprocessing children).
    for err in (ChecksumMismatch("/x", SHA, WRONG, url="http://h/x"),
                CorruptArtifact("/x", SHA, WRONG, hint="left untouched"),
                DownloadError("http://h/x", "HTTP 404 Not Found", "/d"),
                ArtifactMissing("http://h/x", "/d", SHA)):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)


# --- fetch --------------------------------------------------------------------

def test_fetch_downloads_verifies_and_leaves_no_temporaries(server, tmp_path):
    url = server.add("/model.onnx")
    dest = tmp_path / "cache" / "model.onnx"  # parent does not exist yet
    assert fetch(url, dest, SHA, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent, dest.name) == []
    assert server.count("/model.onnx") == 1
    # md5 works too (upstream MLPerf metadata publishes md5), and it is a cache hit.
    assert fetch(url, dest, MD5, progress=False) == dest
    assert server.count("/model.onnx") == 1


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    url = server.add("/model.onnx")
    dest = tmp_path / "model.onnx"
    with pytest.raises(ChecksumMismatch) as ei:
        fetch(url, dest, WRONG, progress=False)
    assert url in str(ei.value) and WRONG in str(ei.value) and SHA in str(ei.value)
    assert not dest.exists()
    assert leftovers(tmp_path, dest.name) == []


def test_cut_off_transfer_is_detected_and_discarded(server, tmp_path):
    # The server announces the full length, sends half, and closes: http.client
    # itself reports this as a short read, not an error.
    url = server.add("/cut.onnx", truncate=True)
    dest = tmp_path / "cut.onnx"
    with pytest.raises(DownloadError) as ei:
        fetch(url, dest, SHA, progress=False)
    assert url in str(ei.value)
    assert f"{len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes" in str(ei.value)
    assert not dest.exists()
    assert leftovers(tmp_path, dest.name) == []


def test_http_404_names_the_url(server, tmp_path):
    url = server.url("/nope.onnx")
    with pytest.raises(DownloadError) as ei:
        fetch(url, tmp_path / "nope.onnx", SHA, progress=False)
    assert url in str(ei.value) and "404" in str(ei.value)
    assert not (tmp_path / "nope.onnx").exists()
    assert leftovers(tmp_path, "nope.onnx") == []


def test_offline_miss_never_touches_the_network(server, tmp_path):
    url = server.add("/model.onnx")
    dest = tmp_path / "model.onnx"
    with pytest.raises(ArtifactMissing) as ei:
        fetch(url, dest, SHA, offline=True, progress=False)
    msg = str(ei.value)
    assert url in msg and str(dest) in msg and "pre-stage" in msg and SHA in msg
    assert server.count("/model.onnx") == 0
    assert not dest.exists()


def test_existing_valid_file_is_used_without_a_request(server, tmp_path):
    url = server.add("/model.onnx")
    dest = tmp_path / "model.onnx"
    dest.write_bytes(PAYLOAD)
    assert fetch(url, dest, SHA, progress=False) == dest
    assert fetch(url, dest, SHA, offline=True, progress=False) == dest
    assert server.count("/model.onnx") == 0


def test_existing_corrupt_user_file_is_reported_and_left_untouched(server, tmp_path):
    url = server.add("/model.onnx")
    dest = tmp_path / "model.onnx"
    dest.write_bytes(b"my own, different file")
    before = dest.stat()
    with pytest.raises(CorruptArtifact) as ei:
        fetch(url, dest, SHA, progress=False)
    assert isinstance(ei.value, ChecksumMismatch)
    msg = str(ei.value)
    assert str(dest) in msg and SHA in msg
    assert "sha256:" + hashlib.sha256(b"my own, different file").hexdigest() in msg
    assert dest.read_bytes() == b"my own, different file"
    assert dest.stat().st_mtime_ns == before.st_mtime_ns and dest.stat().st_ino == before.st_ino
    assert server.count("/model.onnx") == 0


def test_replace_corrupt_keeps_the_original_until_a_good_copy_arrives(server, tmp_path):
    dest = tmp_path / "model.onnx"
    dest.write_bytes(b"stale")
    bad = server.add("/cut.onnx", truncate=True)
    with pytest.raises(DownloadError):
        fetch(bad, dest, SHA, progress=False, replace_corrupt=True)
    assert dest.read_bytes() == b"stale"  # a failed replacement destroys nothing
    good = server.add("/model.onnx")
    assert fetch(good, dest, SHA, progress=False, replace_corrupt=True) == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(tmp_path, dest.name) == []


def test_stale_partial_from_a_killed_run_is_cleaned(server, tmp_path):
    url = server.add("/model.onnx")
    dest = tmp_path / "model.onnx"
    (tmp_path / "model.onnx.part-12345").write_bytes(b"half")
    fetch(url, dest, SHA, progress=False)
    assert leftovers(tmp_path, dest.name) == []


def test_file_url_mirror(tmp_path):
    mirror = tmp_path / "mirror" / "model.onnx"
    mirror.parent.mkdir()
    mirror.write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "model.onnx"
    assert fetch(mirror.as_uri(), dest, SHA, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    missing = (tmp_path / "mirror" / "absent.onnx").as_uri()
    with pytest.raises(DownloadError) as ei:
        fetch(missing, tmp_path / "cache" / "absent.onnx", SHA, progress=False)
    assert missing in str(ei.value)
    assert leftovers(tmp_path / "cache", "absent.onnx") == []


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_on_a_tty_only_when_asked(server, tmp_path, monkeypatch, progress):
    url = server.add("/model.onnx")
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    fetch(url, tmp_path / "model.onnx", SHA, progress=progress, chunk=1 << 16)
    out = err.getvalue()
    if progress:
        assert "model.onnx" in out and "\r" in out  # a live bar, labelled with the file
    else:
        assert out == ""


def test_no_progress_output_when_stderr_is_not_a_tty(server, tmp_path, monkeypatch):
    url = server.add("/model.onnx")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    fetch(url, tmp_path / "model.onnx", SHA, progress=True)
    assert err.getvalue() == ""


# --- two processes ------------------------------------------------------------

def _fetch_in_child(url, dest, checksum, ready):
    # Module level so a spawn child can import it.
    ready.set()
    fetch(url, dest, checksum, progress=False)


def test_two_processes_share_one_download(server, tmp_path):
    url = server.add("/big.onnx", hold=True)
    dest = tmp_path / "cache" / "big.onnx"
    ctx = multiprocessing.get_context("spawn")
    ready_a, ready_b = ctx.Event(), ctx.Event()
    a = ctx.Process(target=_fetch_in_child, args=(url, dest, SHA, ready_a))
    b = ctx.Process(target=_fetch_in_child, args=(url, dest, SHA, ready_b))
    try:
        a.start()
        # A is now inside its download, holding the lock; the server holds the body.
        assert server.state.first_request.wait(timeout=60), "first process never requested"
        b.start()
        assert ready_b.wait(timeout=60), "second process never started fetching"
        # Without the lock B would now send its own request; give it the chance.
        second = server.state.second_request.wait(timeout=RACE_WINDOW_S)
        server.state.release.set()
        a.join(timeout=60)
        b.join(timeout=60)
    finally:
        server.state.release.set()
        for p in (a, b):
            if p.is_alive():
                p.kill()
                p.join()
    assert not second and server.count("/big.onnx") == 1
    assert a.exitcode == 0 and b.exitcode == 0
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent, dest.name) == []


# --- stage_local --------------------------------------------------------------

def test_stage_local_verifies_and_uses_the_file_in_place(tmp_path):
    own = tmp_path / "mine" / "resnet50_v1.onnx"
    own.parent.mkdir()
    own.write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "resnet50_v1.onnx"
    got = stage_local(own, dest, SHA)
    assert got == own.resolve()
    assert dest.is_symlink() and dest.resolve() == own.resolve()  # linked, not copied
    # A later offline run finds it through the cache entry.
    assert fetch("http://127.0.0.1:9/unused", dest, SHA, offline=True) == dest


def test_stage_local_rejects_wrong_or_missing_files(tmp_path):
    own = tmp_path / "mine.onnx"
    own.write_bytes(b"something else")
    with pytest.raises(CorruptArtifact) as ei:
        stage_local(own, None, SHA)
    assert str(own) in str(ei.value)
    assert own.read_bytes() == b"something else"
    with pytest.raises(ArtifactMissing) as ei:
        stage_local(tmp_path / "absent.onnx", None, SHA)
    assert "absent.onnx" in str(ei.value)
    assert isinstance(ei.value, ArtifactError)


def test_directory_in_the_way_is_an_error_not_a_download(server, tmp_path):
    url = server.add("/model.onnx")
    (tmp_path / "model.onnx").mkdir()
    with pytest.raises(ArtifactError, match="not a regular file"):
        fetch(url, tmp_path / "model.onnx", SHA, progress=False)
    assert server.count("/model.onnx") == 0
    assert os.path.isdir(tmp_path / "model.onnx")
