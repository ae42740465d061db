"""Cache entries are verified before use: altered, truncated, deleted and legacy entries.

Built entries are rebuilt when they fail their manifest check (with a
CacheEntryRebuilt warning naming what differed) and are an error naming the
path in offline mode; a downloaded model is re-verified against its manifest
cheaply and downloaded again when it no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harness.artifacts import (ArtifactError, CacheEntryInvalid, CacheEntryRebuilt, CorruptArtifact,
                               ensure_artifact, fetch, full_check, quick_check)
from harness.artifacts import manifest
from harness.benchmarks.resnet50 import imagenet, preprocessed
from harness.datasets.base import stage as _stage
from harness.proxies import digits_imagenet

# Several blocks per file (256 KiB blocks), so a change in the middle is not
# in a block the quick check always reads.
FILES = {"a.bin": bytes(range(256)) * 8192, "sub/b.bin": b"\x07" * 700_000, "c.txt": b"small\n"}


class Builder:
    """A deterministic multi-file builder that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, tmp: Path) -> None:
        self.calls += 1
        for rel, data in FILES.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(data)


def later_than(path: Path, scratch: Path) -> None:
    """Return once a write now gets a later timestamp than ``path`` has.

    File timestamps move in kernel clock ticks; a change made within the same
    tick as the build keeps the build's mtime, which no real edit (made in a
    later run) does. Waiting on the clock itself, not a fixed sleep.
    """
    probe = scratch / "clock-probe"
    before = path.stat().st_mtime_ns
    while True:
        probe.write_bytes(b"")
        if probe.stat().st_mtime_ns > before:
            return


def flip_in_place(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:  # same size: no truncation, one byte changed
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def content(entry: Path) -> dict[str, bytes]:
    return {p.relative_to(entry).as_posix(): p.read_bytes() for p in sorted(entry.rglob("*"))
            if p.is_file() and p.name != manifest.INNER_NAME}


@pytest.fixture
def built(tmp_path):
    build = Builder()
    entry = ensure_artifact(tmp_path / "cache", "things/entry", build=build)
    assert build.calls == 1 and content(entry) == FILES
    later_than(entry / "a.bin", tmp_path)
    return entry, build


# --- the manifest itself ------------------------------------------------------

def test_every_published_entry_has_a_manifest_with_sizes_and_digests(built):
    entry, _ = built
    m = json.loads((entry / ".manifest.json").read_text())
    records = {f["path"]: f for f in m["files"]}
    assert sorted(records) == sorted(FILES)
    for rel, data in FILES.items():
        assert records[rel]["size"] == len(data)
        blocks = [hashlib.sha256(data[i:i + manifest.BLOCK_SIZE]).hexdigest()[:manifest.DIGEST_HEX]
                  for i in range(0, len(data), manifest.BLOCK_SIZE)]
        assert records[rel]["blocks"] == blocks
    assert quick_check(entry).ok and full_check(entry) == []


def test_a_file_entry_gets_a_hidden_sidecar(tmp_path):
    entry = ensure_artifact(tmp_path, "one.bin", build=lambda tmp: tmp.write_bytes(b"x" * 1000))
    sidecar = tmp_path / ".one.bin.manifest.json"
    assert json.loads(sidecar.read_text())["files"][0]["size"] == 1000
    # Recorded after the rename, which moves ctime: the next use is quick.
    assert quick_check(entry).ok
    with open(entry, "r+b") as f:
        f.write(b"y")
    assert not quick_check(entry).ok


def test_an_intact_entry_is_used_without_rebuilding(built):
    entry, build = built
    assert ensure_artifact(entry.parents[1], "things/entry", build=build, offline=True) == entry
    assert build.calls == 1


# --- altered in place, size unchanged ----------------------------------------

@pytest.mark.parametrize("restore_mtime", [False, True], ids=["plain-write", "mtime-restored"])
def test_altered_in_place_is_detected_and_rebuilt(built, restore_mtime):
    entry, build = built
    target = entry / "a.bin"
    before = target.stat()
    flip_in_place(target, len(FILES["a.bin"]) // 2 + 3)
    if restore_mtime:  # what `touch -d` would do: mtime back, but ctime moves
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert target.stat().st_size == before.st_size
    with pytest.warns(CacheEntryRebuilt, match=r"things/entry.*a\.bin: digest mismatch in block 4 of 8"):
        again = ensure_artifact(entry.parents[1], "things/entry", build=build)
    assert again == entry and build.calls == 2
    assert content(entry) == FILES  # equal to a fresh build
    assert full_check(entry) == []


def test_altered_in_place_offline_is_an_error_naming_the_path(built):
    entry, build = built
    flip_in_place(entry / "sub" / "b.bin", 300_000)
    with pytest.raises(CacheEntryInvalid) as ei:
        ensure_artifact(entry.parents[1], "things/entry", build=build, offline=True)
    msg = str(ei.value)
    assert isinstance(ei.value, ArtifactError)
    assert str(entry) in msg and "sub/b.bin: digest mismatch" in msg and "--mlperf-offline" in msg
    assert build.calls == 1 and (entry / "sub" / "b.bin").read_bytes() != FILES["sub/b.bin"]  # left as it is
    back = pickle.loads(pickle.dumps(ei.value))  # it may cross from an xdist worker or a child process
    assert type(back) is CacheEntryInvalid and str(back) == msg


def test_sampled_blocks_catch_a_change_the_timestamps_hide(tmp_path):
    # Simulate an edit whose timestamps cannot be told apart (a restored clock):
    # record the altered file's current stats in the manifest. A small entry
    # (at most SAMPLED_BLOCKS blocks) is then re-hashed whole by the quick check.
    entry = ensure_artifact(tmp_path, "small", build=lambda tmp: (tmp.mkdir(), (tmp / "f").write_bytes(b"z" * 5000)))
    flip_in_place(entry / "f", 4000)
    m = manifest.load(entry)
    manifest.write(manifest.inner_path(entry), manifest.restamp(m, {"f": os.stat(entry / "f")}))
    found = quick_check(entry)
    assert found.unsure == [] and found.problems == ["f: digest mismatch in block 0 of 1 (bytes 0..5000); "
                                                     "the content changed since the entry was built"]


def test_new_timestamps_with_the_same_content_pass_after_one_full_check(built, monkeypatch):
    entry, build = built
    target = entry / "a.bin"
    os.utime(target, ns=(0, target.stat().st_mtime_ns + 10**9))  # e.g. the cache was copied
    inspection = quick_check(entry)
    assert [r["path"] for r in inspection.unsure] == ["a.bin"] and inspection.problems == []
    rehashed = []
    real = manifest.scan_file
    monkeypatch.setattr(manifest, "scan_file", lambda p, *e: rehashed.append(Path(p).name) or real(p, *e))
    assert ensure_artifact(entry.parents[1], "things/entry", build=build) == entry
    assert build.calls == 1 and rehashed == ["a.bin"]  # only the file it could not vouch for
    assert quick_check(entry).ok  # the new timestamps were recorded


# --- truncated, deleted, legacy ----------------------------------------------

def test_truncated_entry_is_detected_and_rebuilt(built):
    entry, build = built
    with open(entry / "a.bin", "r+b") as f:
        f.truncate(1000)
    with pytest.warns(CacheEntryRebuilt, match=rf"a\.bin: size expected {len(FILES['a.bin'])} got 1000"):
        ensure_artifact(entry.parents[1], "things/entry", build=build)
    assert build.calls == 2 and content(entry) == FILES


def test_truncated_entry_offline_is_an_error_naming_the_path(built):
    entry, build = built
    with open(entry / "c.txt", "r+b") as f:
        f.truncate(2)
    with pytest.raises(CacheEntryInvalid, match=rf"{entry}.*c\.txt: size expected 6 got 2"):
        ensure_artifact(entry.parents[1], "things/entry", build=build, offline=True)
    assert build.calls == 1


def test_a_file_deleted_between_runs_is_rebuilt(built):
    entry, build = built
    (entry / "sub" / "b.bin").unlink()
    with pytest.warns(CacheEntryRebuilt, match=r"sub/b\.bin: missing"):
        ensure_artifact(entry.parents[1], "things/entry", build=build)
    assert build.calls == 2 and content(entry) == FILES


def test_an_entry_deleted_between_runs_is_rebuilt_even_offline(built):
    # Building locally needs no network: offline only forbids downloads and
    # replacing an entry that fails verification.
    entry, build = built
    for p in sorted(entry.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    entry.rmdir()
    assert ensure_artifact(entry.parents[1], "things/entry", build=build, offline=True) == entry
    assert build.calls == 2 and content(entry) == FILES and full_check(entry) == []


def test_a_legacy_entry_without_a_manifest_is_rebuilt(built):
    entry, build = built
    (entry / ".manifest.json").unlink()  # what the previous harness left
    assert "no manifest" in quick_check(entry).problems[0]
    with pytest.raises(CacheEntryInvalid, match=rf"{entry}.*no manifest"):
        ensure_artifact(entry.parents[1], "things/entry", build=build, offline=True)
    assert build.calls == 1
    with pytest.warns(CacheEntryRebuilt, match="no manifest"):
        ensure_artifact(entry.parents[1], "things/entry", build=build)
    assert build.calls == 2 and full_check(entry) == []


def test_an_unreadable_manifest_is_rebuilt(built):
    entry, build = built
    (entry / ".manifest.json").write_text("{not json")
    with pytest.warns(CacheEntryRebuilt, match="manifest .* is unreadable"):
        ensure_artifact(entry.parents[1], "things/entry", build=build)
    assert build.calls == 2 and quick_check(entry).ok


# --- the real preprocessed ImageNet cache ------------------------------------

@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return digits_imagenet.render_dataset(tmp_path_factory.mktemp("digits"), "val", count=4)


@pytest.fixture
def staged(digits, tmp_path, monkeypatch):
    calls = []
    real = imagenet.preprocess_dataset
    monkeypatch.setattr(imagenet, "preprocess_dataset", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache = tmp_path / "cache"
    samples, labels, _ = preprocessed.load_or_build(digits, cache)
    fresh = np.load(samples).copy(), np.load(labels).copy()
    later_than(samples, tmp_path)
    return cache, samples, calls, fresh


def test_staged_samples_altered_in_place_are_rebuilt(digits, staged):
    cache, samples, calls, (fresh, _) = staged
    flip_in_place(samples, samples.stat().st_size // 2)
    assert np.load(samples).tobytes() != fresh.tobytes()
    with pytest.warns(CacheEntryRebuilt, match=r"preprocessed/imagenet-.*samples\.npy: digest mismatch"):
        again, _, _ = preprocessed.load_or_build(digits, cache)
    assert again == samples and calls == [1, 1]
    np.testing.assert_array_equal(np.load(again), fresh)


def test_staged_samples_truncated_are_rebuilt_and_offline_is_an_error(digits, staged):
    cache, samples, calls, (fresh, _) = staged
    size = samples.stat().st_size
    with open(samples, "r+b") as f:
        f.truncate(size // 3)
    with pytest.raises(CacheEntryInvalid) as ei:
        preprocessed.load_or_build(digits, cache, offline=True)
    assert str(samples.parent) in str(ei.value) and f"samples.npy: size expected {size} got {size // 3}" in str(ei.value)
    assert calls == [1]
    with pytest.warns(CacheEntryRebuilt):
        preprocessed.load_or_build(digits, cache)
    assert calls == [1, 1]
    np.testing.assert_array_equal(np.load(samples), fresh)


def test_staged_samples_deleted_are_rebuilt(digits, staged):
    cache, samples, calls, (fresh, _) = staged
    samples.unlink()
    with pytest.warns(CacheEntryRebuilt, match="samples.npy: missing"):
        preprocessed.load_or_build(digits, cache)
    assert calls == [1, 1]
    np.testing.assert_array_equal(np.load(samples), fresh)


def test_staged_prompts_offline_error(tmp_path):
    # The one-file formats' staging goes through the same checks.
    staged = _stage(tmp_path, "orca", "k" * 16, lambda: np.arange(10, dtype=np.int32))
    flip_in_place(staged, staged.stat().st_size - 1)
    with pytest.raises(CacheEntryInvalid, match=r"orca-kkkk.*samples\.npy: digest mismatch"):
        _stage(tmp_path, "orca", "k" * 16, lambda: np.arange(10, dtype=np.int32), offline=True)
    with pytest.warns(CacheEntryRebuilt):
        again = _stage(tmp_path, "orca", "k" * 16, lambda: np.arange(10, dtype=np.int32))
    np.testing.assert_array_equal(np.load(again), np.arange(10, dtype=np.int32))


# --- downloaded models --------------------------------------------------------

PAYLOAD = bytes(range(256)) * 3000  # 768 000 bytes: 3 blocks
SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)


@pytest.fixture
def model_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = 0
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/model.onnx", httpd
    httpd.shutdown()
    httpd.server_close()


def test_a_download_is_reverified_cheaply_on_use(model_url, tmp_path, monkeypatch):
    url, httpd = model_url
    dest = tmp_path / "models" / "model.onnx"
    fetch(url, dest, SHA, progress=False)
    m = json.loads((dest.parent / ".model.onnx.manifest.json").read_text())
    assert m["checksum"] == SHA and m["files"][0]["size"] == len(PAYLOAD)

    def no_full_hash(*args):
        raise AssertionError("the full checksum ran on a cache hit")

    monkeypatch.setattr(manifest, "scan_file", no_full_hash)
    assert fetch(url, dest, SHA, progress=False, offline=True) == dest
    assert httpd.requests == 1


def test_a_download_altered_in_place_is_downloaded_again(model_url, tmp_path):
    url, httpd = model_url
    dest = tmp_path / "model.onnx"
    fetch(url, dest, SHA, progress=False)
    later_than(dest, tmp_path)
    flip_in_place(dest, 400_000)
    with pytest.raises(CorruptArtifact) as ei:
        fetch(url, dest, SHA, progress=False, offline=True)
    assert str(dest) in str(ei.value) and "--mlperf-offline" in str(ei.value) and httpd.requests == 1
    with pytest.warns(CacheEntryRebuilt, match="downloading it again"):
        fetch(url, dest, SHA, progress=False)
    assert httpd.requests == 2 and dest.read_bytes() == PAYLOAD and quick_check(dest).ok


def test_a_truncated_download_offline_names_the_size(model_url, tmp_path):
    url, httpd = model_url
    dest = tmp_path / "model.onnx"
    fetch(url, dest, SHA, progress=False)
    with open(dest, "r+b") as f:
        f.truncate(100)
    with pytest.raises(CorruptArtifact, match=rf"{dest}.*size expected {len(PAYLOAD)} got 100"):
        fetch(url, dest, SHA, progress=False, offline=True)


def test_a_prestaged_model_without_manifest_is_verified_in_full_once(model_url, tmp_path):
    url, httpd = model_url
    dest = tmp_path / "model.onnx"
    dest.write_bytes(PAYLOAD)  # copied in by hand, or downloaded by the previous harness
    assert fetch(url, dest, SHA, progress=False, offline=True) == dest
    assert httpd.requests == 0 and quick_check(dest).ok
    assert manifest.load(dest)["checksum"] == SHA
