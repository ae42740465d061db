"""The run lock that keeps performance runs from timing each other, across processes and nested sessions."""
from __future__ import annotations

import os
import subprocess
import sys

from harness.runner.runlock import LOCK_ENV, lock_path, run_lock

# A child that tries the lock without waiting and says whether it got it.
TRY_LOCK = """
import fcntl, os, sys
from harness.runner.runlock import lock_path
path = lock_path(sys.argv[1])
path.parent.mkdir(parents=True, exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
mode = fcntl.LOCK_EX if sys.argv[2] == "exclusive" else fcntl.LOCK_SH
try:
    fcntl.flock(fd, mode | fcntl.LOCK_NB)
    print("got")
except BlockingIOError:
    print("blocked")
"""


def _try(cache, mode: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", TRY_LOCK, str(cache), mode], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def test_the_lock_lives_in_the_cache_unless_a_session_names_another(tmp_path, monkeypatch):
    monkeypatch.delenv(LOCK_ENV, raising=False)
    assert lock_path(tmp_path) == tmp_path / "locks" / "loadgen-runs.lock"
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "outer.lock"))
    assert lock_path(tmp_path / "inner-cache") == tmp_path / "outer.lock"


def test_a_nested_session_s_runs_take_the_outer_session_s_lock(tmp_path, monkeypatch):
    outer, inner = tmp_path / "outer-cache", tmp_path / "inner-cache"
    monkeypatch.delenv(LOCK_ENV, raising=False)
    with run_lock(outer, exclusive=True):  # the outer session's performance run
        plain = {k: v for k, v in os.environ.items() if k != LOCK_ENV}
        # an inner session with a cache of its own, not told of the outer lock, would run alongside...
        assert _try(inner, "shared", plain) == "got"
        # ...told of it, its runs wait for the outer one
        nested = {**plain, LOCK_ENV: str(lock_path(outer))}
        assert _try(inner, "shared", nested) == "blocked"
    assert _try(inner, "exclusive", nested) == "got"  # and go once it has ended


def test_a_test_running_its_own_session_is_marked_and_names_the_lock(request, nested_run_lock):
    from harness.pytest_plugin.collection import mlperf_config

    assert request.node.get_closest_marker("mlperf_nested_session") is not None
    assert os.environ[LOCK_ENV] == str(lock_path(mlperf_config(request.config).cache_dir))


def test_a_nested_session_holds_the_lock_shared_between_its_runs_and_converts_it_for_a_performance_run(
        tmp_path, monkeypatch):
    from harness.runner import runlock

    outer = tmp_path / "outer.lock"
    monkeypatch.setenv(LOCK_ENV, str(outer))
    env = dict(os.environ)
    runlock.hold_between_runs(tmp_path / "inner-cache")
    try:
        # between runs: the outer session's performance run waits, its other tests go on
        assert _try(tmp_path, "exclusive", env) == "blocked"
        assert _try(tmp_path, "shared", env) == "got"
        with run_lock(tmp_path / "inner-cache", exclusive=False):  # an accuracy run: already held
            assert _try(tmp_path, "exclusive", env) == "blocked"
        # (this test's own session may hold its lock around the test: only the hold's descriptor counts)
        hold_fd = runlock._session_hold[1]
        with run_lock(tmp_path / "inner-cache", exclusive=True):  # its own performance run: alone
            assert _try(tmp_path, "shared", env) == "blocked"
            assert hold_fd in runlock.held_lock_fds()  # the run's child inherits the hold
        assert _try(tmp_path, "exclusive", env) == "blocked" and _try(tmp_path, "shared", env) == "got"
        assert hold_fd not in runlock.held_lock_fds()
    finally:
        runlock.release_hold()
    assert _try(tmp_path, "exclusive", env) == "got"


PROBE = f"TRY_LOCK = {TRY_LOCK!r}\n" + r"""
import os, subprocess, sys

def probe(tag):
    # another process asks for the outer lock exclusively, as the outer session's performance run would
    answer = subprocess.run([sys.executable, "-c", TRY_LOCK, "unused", "exclusive"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with open(os.environ["PROBE_OUT"], "a") as seen:
        seen.write(tag + answer + "\n")
"""


def test_only_a_nested_session_in_one_process_holds_the_lock_between_runs(pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_probe=PROBE + "\ndef test_probe():\n    probe('')\n")
    # the conftest is loaded at start-up, before any pytest_configure
    pytester.makeconftest(PROBE + "\nprobe('startup-')\n")
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "outer.lock"))
    seen = tmp_path / "probe.txt"
    monkeypatch.setenv("PROBE_OUT", str(seen))
    args = ["-p", "no:cacheprovider", "--mlperf-cache", str(tmp_path / "cache")]
    assert pytester.runpytest_subprocess(*args).ret == 0
    # under xdist no process holds it between runs (a worker done with its tests would hold it to the end)
    assert pytester.runpytest_subprocess(*args, "-n", "1").ret == 0
    # every process's start-up holds it (the xdist controller's and its worker's too): a
    # performance run of the outer session never shares the cores with a session starting up
    assert seen.read_text().split() == ["startup-blocked", "blocked",
                                        "startup-blocked", "startup-blocked", "got"]
    assert _try(tmp_path, "exclusive", dict(os.environ)) == "got"  # released when each session ended
