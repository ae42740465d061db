"""Keeping performance runs from timing each other, across processes.

A performance case takes the run lock exclusively; an accuracy case, and any
other test of the session, takes it shared. Those run side by side (under
pytest-xdist too), while a performance case runs alone on the machine's cores.
The lock lives in the artifact cache, so two pytest sessions on one machine
respect it as well.

The lock's file descriptor is handed to every run's child process (launch.py),
and an flock is released only when the last descriptor of it closes: if the
pytest process dies without ending its child, the lock stays held until the
child is gone too, so another session can never time its run against it.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

_held: set[int] = set()
# A pytest session started by a test of another (the suite's own tests run
# user sessions) finds the outer session's lock named here: its performance
# runs then exclude the outer session's work too, instead of timing
# themselves against it.
LOCK_ENV = "MLPERF_RUN_LOCK"


def lock_path(cache_dir: Path) -> Path:
    """The run lock of a session whose cache is ``cache_dir`` (or the one MLPERF_RUN_LOCK names)."""
    named = os.environ.get(LOCK_ENV, "").strip()
    return Path(named) if named else Path(cache_dir) / "locks" / "loadgen-runs.lock"


def held_lock_fds() -> tuple[int, ...]:
    """The run-lock descriptors this process holds now: a child launched now inherits them."""
    return tuple(sorted(_held))


@contextmanager
def run_lock(cache_dir: Path, exclusive: bool):
    path = lock_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        _held.add(fd)
        yield
    finally:
        _held.discard(fd)
        # Only this process's hold ends here; launch() has already waited for
        # (or killed) the child that shared it.
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
