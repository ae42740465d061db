"""The highest Server target QPS that a system answers VALID, found by bisection.

Each probe is one full LoadGen Server run at a target QPS (the caller's
``probe``: at least 20 s in ``make bench-overhead``, under MLPerf's early
stopping); it answers VALID or not. A run near the edge is a coin toss on a
shared machine, so the level the bisection ends on is run again (``confirm``
times): one INVALID repeat lowers the level one tolerance step and confirms
again, so the figure reported is a level that passed every run made at it.
The same search, with the same settings, serves every SUT compared, and
search_in_turns runs the searches of the SUTs compared with their probes
taking turns, so that a machine that slows down slows both sides.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Probe:
    qps: float
    valid: bool
    # what the run measured, for the report (None where a fake probe has none)
    p99_ms: float | None = None
    seconds: float | None = None


@dataclass
class SearchResult:
    level: float  # the highest target QPS every run at it answered VALID; 0.0: none did
    confirmed: bool  # the level passed its ``confirm`` repeats
    probes: list[Probe] = field(default_factory=list)

    def spread(self) -> tuple[float, float]:
        """The lowest INVALID and highest VALID target seen: how sharp the edge was."""
        valid = [p.qps for p in self.probes if p.valid]
        invalid = [p.qps for p in self.probes if not p.valid and p.qps > self.level]
        return (max(valid) if valid else 0.0, min(invalid) if invalid else float("inf"))


def find_highest_valid(probe: Callable[[float], Probe | bool], low: float, high: float, *,
                       tolerance: float = 0.03, max_probes: int = 12, confirm: int = 2) -> SearchResult:
    """Bisect between ``low`` (a guess that should pass) and ``high`` (one that should not).

    ``tolerance``: the relative width at which the bisection stops, and the
    step down when a confirmation fails. ``max_probes`` bounds every run the
    search makes, confirmations included. A ``low`` that fails is halved
    until one passes; ``high`` is never run (it is the Offline ceiling).
    """
    if not 0 < low < high:
        raise ValueError(f"the search needs 0 < low < high, got low={low} high={high}")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance is a fraction between 0 and 1, got {tolerance}")
    result = SearchResult(level=0.0, confirmed=False)
    budget = [max_probes]

    def run(qps: float) -> bool:
        budget[0] -= 1
        outcome = probe(qps)
        if not isinstance(outcome, Probe):
            outcome = Probe(qps=qps, valid=bool(outcome))
        result.probes.append(outcome)
        return outcome.valid

    while budget[0] > 0 and not run(low):
        high, low = low, low / 2
        if low < 1e-3:
            return result
    if budget[0] <= 0 and not (result.probes and result.probes[-1].valid):
        return result
    while budget[0] > 0 and (high - low) > tolerance * low:
        middle = (low + high) / 2
        if run(middle):
            low = middle
        else:
            high = middle
    # Confirm the level; step down while a repeat fails and runs are left.
    while True:
        passed = 0
        while passed < confirm and budget[0] > 0 and run(low):
            passed += 1
        if passed == confirm:
            result.level, result.confirmed = low, True
            return result
        if budget[0] <= 0:
            # Out of runs: the highest level that never failed, unconfirmed.
            failed = {p.qps for p in result.probes if not p.valid}
            passed_only = [p.qps for p in result.probes if p.valid and p.qps not in failed]
            result.level = max(passed_only, default=0.0)
            return result
        low *= 1 - tolerance


class TakingTurns:
    """Several searches' probes, run one at a time and in turn.

    The machine's speed drifts by 15% and more within minutes on a shared
    VM (a raw 2-thread loop: 14.0k samples/s, 11.8k half an hour later):
    two searches run one after the other would each see another machine.
    Taking turns, probe by probe, spreads the drift over both sides.
    """

    def __init__(self, names):
        self._queue = list(names)
        self._condition = threading.Condition()

    def wrap(self, name: str, probe: Callable[[float], Probe | bool]) -> Callable[[float], Probe | bool]:
        def call(qps: float):
            with self._condition:
                self._condition.wait_for(lambda: self._queue[0] == name)
            try:
                return probe(qps)
            finally:
                with self._condition:
                    self._queue.append(self._queue.pop(0))  # the next search's turn
                    self._condition.notify_all()
        return call

    def done(self, name: str) -> None:
        with self._condition:
            self._queue.remove(name)
            self._condition.notify_all()


def search_in_turns(searches: dict[str, tuple[Callable[[float], Probe | bool], dict]]) -> dict[str, SearchResult]:
    """Run ``find_highest_valid(probe, **kwargs)`` for every name, their probes taking turns."""
    turns = TakingTurns(searches)
    results: dict[str, SearchResult] = {}
    errors: list[BaseException] = []

    def run(name, probe, kwargs):
        try:
            results[name] = find_highest_valid(turns.wrap(name, probe), **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            errors.append(exc)
        finally:
            turns.done(name)

    threads = [threading.Thread(target=run, args=(name, probe, kwargs), name=f"search-{name}")
               for name, (probe, kwargs) in searches.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
