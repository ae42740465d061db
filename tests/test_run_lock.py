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
