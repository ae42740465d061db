"""harness.artifacts.cache: cache location, per-artifact locks, build-once."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import filelock
import pytest

from harness.artifacts import ArtifactError, artifact_lock, default_cache_dir, ensure_artifact
from harness.artifacts.cache import lock_path

# Bounds only the wait for a *failure* (a second concurrent build); the passing
# path does not sleep.
RACE_WINDOW_S = 0.3


def siblings(directory: Path) -> list[str]:
    """Entries and temporaries; locks and file entries' manifest sidecars left out
    (tests/test_cache_integrity.py covers the manifests)."""
    return sorted(p.name for p in directory.iterdir()
                  if not p.name.endswith(".lock") and not p.name.endswith(".manifest.json"))


# --- default_cache_dir --------------------------------------------------------

def test_cache_dir_prefers_mlperf_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MLPERF_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"


def test_cache_dir_falls_back_to_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("MLPERF_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "mlperf-pytest"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "mlperf-pytest"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty means unset, per the XDG spec
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "mlperf-pytest"


# --- ensure_artifact ----------------------------------------------------------

def test_builds_a_file_once(tmp_path):
    calls = []

    def build(tmp: Path):
        assert tmp.parent == tmp_path / "data" and not tmp.exists()  # a fresh sibling
        calls.append(tmp)
        tmp.write_text("built")

    final = ensure_artifact(tmp_path, "data/thing.txt", build=build)
    assert final == tmp_path / "data" / "thing.txt"
    assert final.read_text() == "built"
    assert ensure_artifact(tmp_path, "data/thing.txt", build=build) == final
    assert len(calls) == 1
    assert siblings(final.parent) == ["thing.txt"]
    assert (final.parent / ".thing.txt.manifest.json").is_file()
    assert lock_path(final).name == "thing.txt.lock"


def test_builds_a_directory(tmp_path):
    def build(tmp: Path):
        (tmp / "images").mkdir(parents=True)
        (tmp / "val_map.txt").write_text("a.jpg 1\n")

    final = ensure_artifact(tmp_path, "imagenet-proxy", build=build)
    assert (final / "val_map.txt").read_text() == "a.jpg 1\n"
    assert siblings(tmp_path) == ["imagenet-proxy"]


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_failing_builder_leaves_nothing_and_can_be_retried(tmp_path, kind):
    def broken(tmp: Path):
        if kind == "file":
            tmp.write_text("half")
        else:
            (tmp / "sub").mkdir(parents=True)
            (tmp / "sub" / "x").write_text("half")
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError, match="generator crashed"):
        ensure_artifact(tmp_path, "thing", build=broken)
    assert not (tmp_path / "thing").exists()
    assert siblings(tmp_path) == []

    final = ensure_artifact(tmp_path, "thing", build=lambda tmp: tmp.write_text("ok"))
    assert final.read_text() == "ok"


def test_builder_that_creates_nothing_is_an_error(tmp_path):
    with pytest.raises(ArtifactError, match="did not create"):
        ensure_artifact(tmp_path, "thing", build=lambda tmp: None)
    assert siblings(tmp_path) == []


def test_stale_temporaries_are_swept(tmp_path):
    (tmp_path / "thing.tmp-999-dead").mkdir()
    (tmp_path / "thing.tmp-999-dead" / "f").write_text("x")
    (tmp_path / "thing.tmp-998-beef").write_text("x")
    (tmp_path / "other.tmp-1-aaaa").write_text("not ours")
    ensure_artifact(tmp_path, "thing", build=lambda tmp: tmp.write_text("ok"))
    assert siblings(tmp_path) == ["other.tmp-1-aaaa", "thing"]


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape", "a/../../b", ""])
def test_names_must_stay_inside_the_cache(tmp_path, name):
    with pytest.raises(ValueError):
        ensure_artifact(tmp_path, name, build=lambda tmp: tmp.write_text("x"))


def test_concurrent_threads_build_once(tmp_path):
    n = 6
    calls = []
    second_build = threading.Event()
    start = threading.Barrier(n)
    results, errors = [], []

    def build(tmp: Path):
        calls.append(tmp)
        if len(calls) > 1:
            second_build.set()
        else:
            # Hold the lock long enough for an unlocked second build to show up.
            second_build.wait(timeout=RACE_WINDOW_S)
        tmp.write_text("once")

    def worker():
        start.wait()
        try:
            results.append(ensure_artifact(tmp_path, "shared", build=build))
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(calls) == 1 and not second_build.is_set()
    assert results == [tmp_path / "shared"] * n
    assert siblings(tmp_path) == ["shared"]


# --- artifact_lock across processes -------------------------------------------

def _try_lock(path, timeout, out):
    # Module level so a spawn child can import it; reports instead of raising.
    try:
        with artifact_lock(path, timeout=timeout):
            out.put("acquired")
    except filelock.Timeout:
        out.put("timeout")


def test_artifact_lock_excludes_other_processes(tmp_path):
    target = tmp_path / "sub" / "model.onnx"  # parent created by artifact_lock
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    with artifact_lock(target, timeout=5):
        assert (tmp_path / "sub" / "model.onnx.lock").exists()
        p = ctx.Process(target=_try_lock, args=(target, 0.2, out))
        p.start()
        assert out.get(timeout=60) == "timeout"
        p.join(timeout=60)
    p = ctx.Process(target=_try_lock, args=(target, 5, out))
    p.start()
    assert out.get(timeout=60) == "acquired"
    p.join(timeout=60)
    assert p.exitcode == 0
