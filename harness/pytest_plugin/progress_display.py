"""A case's progress on the user's screen or CI log, past pytest's output capture.

harness.progress.CaseProgress decides what to show and when; this gives it a
writer that reaches the real terminal (pytest captures a test's output, and
an xdist worker's stdout is its channel to the controller: its stderr is the
controller's) and a ticker, so that a long phase with no reports of its own
(provisioning a large dataset, waiting for the run lock) still shows it is alive.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import pytest

from harness.progress import CaseProgress

from .collection import is_xdist_worker

TICK_S = 1.0


class _Shared:
    """CaseProgress behind a lock: the ticker and the run's reports write from two threads."""

    def __init__(self, progress: CaseProgress):
        self._progress, self._lock = progress, threading.Lock()

    def phase(self, name: str, detail: str | None = None) -> None:
        with self._lock:
            self._progress.phase(name, detail)

    def update(self, snapshot: dict) -> None:
        with self._lock:
            self._progress.update(snapshot)

    def tick(self) -> None:
        with self._lock:
            self._progress.tick()

    def close(self, outcome: str | None = None) -> None:
        with self._lock:
            self._progress.close(outcome)


def _writer(config: pytest.Config):
    """(write, is_tty): the terminal reporter in a plain session, stderr in an xdist worker."""
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    worker = is_xdist_worker(config)

    started = []

    def write(text: str) -> None:
        suspended = capture.global_and_fixture_disabled() if capture is not None else _nothing()
        with suspended:
            if reporter is not None and not worker:
                if not started:  # the first line starts at column 0, not after pytest's test name
                    reporter.ensure_newline()
                    started.append(True)
                reporter.write(text, flush=True)
            else:
                sys.stderr.write(text)
                sys.stderr.flush()

    # Several workers share one terminal: rewriting a line in place would mix
    # theirs, so they print the plain periodic lines.
    is_tty = reporter is not None and not worker and reporter.isatty()
    return write, is_tty


@contextmanager
def _nothing():
    yield


@contextmanager
def case_progress(config: pytest.Config, case_id: str):
    """The sink for one case while it runs; its line is erased (or closed) when it ends."""
    interval = config.getoption("--mlperf-progress")
    write, is_tty = _writer(config)
    if not interval:
        write, is_tty = (lambda text: None), False  # --mlperf-progress 0: nothing shown
    sink = _Shared(CaseProgress(case_id, write, is_tty, interval_s=interval or 30.0))
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(TICK_S):
            sink.tick()

    ticker = threading.Thread(target=tick, name=f"progress-{case_id}", daemon=True)
    ticker.start()
    outcome = {"text": None}
    try:
        yield sink, outcome
    finally:
        stop.set()
        ticker.join()
        sink.close(outcome["text"])
