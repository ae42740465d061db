"""Where a long case is, shown while it runs: one status line on a terminal, a few plain lines in a CI log.

A `valid` performance case runs ten minutes and prints nothing until it
ends; this is how the user sees it is alive. One ``CaseProgress`` per case:

- the caller reports its own phases with ``phase(name, detail)`` (``provision``
  before the run, ``score`` after it; harness.case_run);
- the run's child publishes its own (``start``, ``load``, ``calibrate``,
  ``run``) and, during the LoadGen run, its counts: launch.py reads them about
  once a second and hands each new snapshot to ``update(snapshot)``;
- ``close(outcome)`` when the case ends, whatever the outcome.

A case that ends within ``quiet_s`` prints nothing at all. After that, on a
terminal one line is rewritten in place (at most once per ``tty_interval_s``)
and erased at close; elsewhere one line when the case turns long, then one per
``interval_s``, plus a phase change at most once per ``interval_s``: a CI log
gets a handful of lines per case, each naming the case. Output only happens
inside these calls: nothing runs on its own, so nothing outlives the case.
"""
from __future__ import annotations

import shutil
import time
from typing import Callable, Protocol

# A status line is rewritten from its first column and anything left of the
# previous, longer text cleared (ANSI "erase to end of line").
CLEAR_TO_EOL = "\x1b[K"


class ProgressSink(Protocol):
    """What launch() and execute_case() report to; CaseProgress is one."""

    def phase(self, name: str, detail: str | None = None) -> None: ...

    def update(self, snapshot: dict) -> None: ...


class CaseProgress:
    def __init__(self, case_id: str, write: Callable[[str], None], is_tty: bool, *, quiet_s: float = 5.0,
                 interval_s: float = 30.0, tty_interval_s: float = 0.25, width: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        """``write`` takes text as is (no newline added); ``width``: the terminal's columns (looked up if None);
        ``clock``: monotonic seconds (tests pass a fake one)."""
        for name, value in (("quiet_s", quiet_s), ("interval_s", interval_s), ("tty_interval_s", tty_interval_s)):
            if value < 0:
                raise ValueError(f"CaseProgress {name}={value!r}: expected seconds >= 0")
        self.case_id, self._write, self._tty = case_id, write, bool(is_tty)
        self._quiet_s, self._interval_s, self._tty_interval_s = quiet_s, interval_s, tty_interval_s
        # A line longer than the terminal wraps, and "\r" then returns only to its last row.
        self._width = (width or shutil.get_terminal_size().columns) if self._tty else None
        self._clock = clock
        self._started = clock()
        self._phase: str | None = None
        self._detail: str | None = None
        self._snapshot: dict = {}
        self._last_out: float | None = None  # when the last line was written
        self._printed_phase: str | None = None  # the phase the last written line showed
        self._last_phase_line = float("-inf")  # when a line last showed a new phase (log mode)
        self._drawn = False  # terminal: a status line is on screen
        self._closed = False

    # what callers report --------------------------------------------------
    def phase(self, name: str, detail: str | None = None) -> None:
        """The case entered phase ``name`` (``detail``: e.g. what is downloading)."""
        if self._closed:
            return  # a late report after close() (the case has ended): nothing more is shown
        if name != self._phase:
            self._snapshot = {}  # the run's counts belong to the run phase
        self._phase, self._detail = name, detail
        self.tick()

    def update(self, snapshot: dict) -> None:
        """A child's progress report (launch.py): its phase and, while LoadGen runs, its counts."""
        if self._closed:
            return
        self._phase, self._detail, self._snapshot = snapshot.get("phase") or self._phase, None, snapshot
        self.tick()

    def tick(self) -> None:
        """Show the current state if it is time to: a caller with a loop of its own may call this."""
        if self._closed:
            return
        now = self._clock()
        if now - self._started < self._quiet_s:
            return  # a short case prints nothing at all
        if self._tty:
            if self._last_out is not None and now - self._last_out < self._tty_interval_s:
                return
            self._emit(now, "\r" + self.describe(now)[: max(1, self._width - 1)] + CLEAR_TO_EOL)
            self._drawn = True
            return
        due = self._last_out is None or now - self._last_out >= self._interval_s
        new_phase = self._phase != self._printed_phase and now - self._last_phase_line >= self._interval_s
        if due or new_phase:
            if self._phase != self._printed_phase:
                self._last_phase_line = now
            self._emit(now, self.describe(now) + "\n")

    def close(self, outcome: str | None = None) -> None:
        """The case ended: the status line is erased; a log that showed the case gets a last line."""
        if self._closed:
            return
        self._closed = True
        if self._drawn:
            self._write("\r" + CLEAR_TO_EOL)
        elif self._last_out is not None:
            now = self._clock()
            self._write(f"{self.case_id}: {outcome or 'ended'} after {now - self._started:.0f} s\n")

    # the text ------------------------------------------------------------------
    def describe(self, now: float | None = None) -> str:
        """The status as one line, naming the case first."""
        now = self._clock() if now is None else now
        snap = self._snapshot
        if self._phase == "run" and "completed" in snap:
            return f"{self.case_id}: run {_counts(snap)}, {_duration(snap)}"
        detail = f" ({self._detail})" if self._detail else ""
        return f"{self.case_id}: {self._phase or 'start'}{detail}, {now - self._started:.0f} s"

    def _emit(self, now: float, text: str) -> None:
        self._write(text)
        self._last_out, self._printed_phase = now, self._phase


def _counts(snap: dict) -> str:
    """Samples for a run sized in samples (accuracy, Offline's one query), queries otherwise."""
    if snap.get("samples_total") is not None:
        return f"{snap['completed']:,} / {snap['samples_total']:,} samples"
    if snap.get("samples_per_query") is None:  # Offline: the query's size is known once it is issued
        issued = snap.get("issued") or 0
        return f"{snap['completed']:,} / {issued:,} samples" if issued else f"{snap['completed']:,} samples"
    queries, minimum = snap.get("queries") or 0, snap.get("min_query_count") or 0
    return f"{queries:,} / {minimum:,} min queries" if minimum > 1 else f"{queries:,} queries"


def _duration(snap: dict) -> str:
    elapsed = f"{float(snap.get('elapsed_s') or 0.0):.1f} s"
    minimum = snap.get("min_duration_s")
    return f"{elapsed} / {minimum:g} s min duration" if minimum else elapsed
