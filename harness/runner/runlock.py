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


# A nested session's hold (hold_between_runs): (path, fd) while it lasts.
_session_hold: tuple[Path, int] | None = None


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def hold_between_runs(cache_dir: Path) -> None:
    """Hold the run lock shared from now on, between this process's own runs.

    For a nested session (LOCK_ENV names the outer lock): the test that
    started it holds no lock (it would block the session's own performance
    runs), so without this the session's startup, collection and reporting
    ran unlocked, on the cores of the outer session's performance run (seen
    in CI: a bert SingleStream run at 4.4 then 7.8 ms against 3.7 alone,
    while the other worker's nested session started). An exclusive
    ``run_lock`` converts this hold and converts it back afterwards; a shared
    one is already held. One hold per process, and none under xdist
    (activation._holds_between_runs): a controller or a worker done with its
    tests would keep it to the session's end, and a sibling's conversion
    would wait for that forever.
    """
    _hold(lock_path(cache_dir))


def hold_named_lock() -> None:
    """hold_between_runs on the lock LOCK_ENV names (if one is), before any cache is known.

    Taken at a nested session's very first plugin hook (activation.pytest_addoption):
    held only from its configure on, its start-up (1.1 s of CPU measured: imports,
    plugin loading) still ran on the cores of the outer session's performance run
    (seen in CI: bert SingleStream find-peak targets measured 4.8 and 7.9 ms
    against 3.4 and 7.2 ms found alone).
    """
    named = os.environ.get(LOCK_ENV, "").strip()
    if named:
        _hold(Path(named))


def _hold(path: Path) -> None:
    global _session_hold
    if _session_hold is not None:
        return
    fd = _open(path)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _session_hold = (path, fd)


def release_hold() -> None:
    global _session_hold
    if _session_hold is None:
        return
    _, fd = _session_hold
    _session_hold = None
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextmanager
def run_lock(cache_dir: Path, exclusive: bool):
    path = lock_path(cache_dir)
    if _session_hold is not None and _session_hold[0] == path:
        with _converted(_session_hold[1], exclusive):
            yield
        return
    fd = _open(path)
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


@contextmanager
def _converted(fd: int, exclusive: bool):
    """The session's shared hold, made exclusive for the block when asked (flock converts in place:
    the shared lock is dropped, then the exclusive one is waited for, so two sessions converting at
    once cannot deadlock)."""
    if not exclusive:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    _held.add(fd)
    try:
        yield
    finally:
        _held.discard(fd)
        fcntl.flock(fd, fcntl.LOCK_SH)
