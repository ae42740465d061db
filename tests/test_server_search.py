"""The Server bisection (benchmarks/server_search.py) on fake systems under test.

A fake SUT's latency is set by the test: one server answering in ``service``
seconds, its p99 under load modelled as service / (1 - load); a run is VALID
when that stays under the bound. The highest VALID level is then known in
closed form, and the search must find it, confirm it, and never report a
level at which a run failed.
"""
from __future__ import annotations

import pytest

from benchmarks.server_search import Probe, find_highest_valid


class QueueingSut:
    """p99 = service / (1 - qps / capacity): VALID up to capacity * (1 - service / bound)."""

    def __init__(self, capacity=10_000.0, service_s=0.002, bound_s=0.015, flaky_at=None):
        self.capacity, self.service_s, self.bound_s = capacity, service_s, bound_s
        # level -> the run at that level (1 = its first) that fails: a stall on a shared machine
        self.flaky_at = dict(flaky_at or {})
        self.runs: list[float] = []

    @property
    def edge(self) -> float:
        return self.capacity * (1 - self.service_s / self.bound_s)

    def __call__(self, qps: float) -> Probe:
        self.runs.append(qps)
        load = qps / self.capacity
        p99 = float("inf") if load >= 1 else self.service_s / (1 - load)
        valid = p99 <= self.bound_s
        if self.flaky_at.get(qps) == self.runs.count(qps):
            valid = False
        return Probe(qps=qps, valid=valid, p99_ms=p99 * 1e3)


def test_finds_the_known_level_and_confirms_it():
    sut = QueueingSut()
    found = find_highest_valid(sut, low=2_000, high=12_000, tolerance=0.02, max_probes=20, confirm=2)
    assert found.confirmed
    assert sut.edge * (1 - 0.02) <= found.level <= sut.edge
    assert sum(1 for q in sut.runs if q == found.level) >= 3  # found once, then passed 2 repeats
    assert all(p.valid for p in found.probes if p.qps <= found.level)


def test_a_failed_confirmation_steps_down_and_reconfirms():
    sut = QueueingSut()
    first = find_highest_valid(QueueingSut(), low=2_000, high=12_000, tolerance=0.02, max_probes=20, confirm=2)
    sut.flaky_at = {first.level: 2}  # the first repeat at the found level fails
    found = find_highest_valid(sut, low=2_000, high=12_000, tolerance=0.02, max_probes=20, confirm=2)
    assert found.confirmed
    assert found.level == pytest.approx(first.level * 0.98)
    failed = {p.qps for p in found.probes if not p.valid}
    assert found.level not in failed


def test_a_low_start_that_fails_is_halved_until_one_passes():
    sut = QueueingSut(capacity=1_000)
    found = find_highest_valid(sut, low=4_000, high=8_000, tolerance=0.05, max_probes=20, confirm=1)
    assert sut.runs[:3] == [4_000, 2_000, 1_000]
    assert found.confirmed and sut.edge * 0.95 <= found.level <= sut.edge


def test_out_of_runs_reports_an_unconfirmed_level_that_never_failed():
    sut = QueueingSut()
    found = find_highest_valid(sut, low=2_000, high=12_000, tolerance=0.001, max_probes=4, confirm=2)
    assert not found.confirmed
    assert len(sut.runs) == 4
    assert found.level in {p.qps for p in found.probes if p.valid}
    assert found.level <= sut.edge


def test_nothing_valid_reports_zero():
    found = find_highest_valid(lambda qps: False, low=100, high=200, max_probes=5)
    assert found.level == 0.0 and not found.confirmed and len(found.probes) == 5


@pytest.mark.parametrize("low, high, tolerance", [(0, 10, 0.1), (10, 5, 0.1), (1, 10, 0), (1, 10, 1.5)])
def test_bad_bounds_are_refused(low, high, tolerance):
    with pytest.raises(ValueError, match="low|tolerance"):
        find_highest_valid(lambda qps: True, low=low, high=high, tolerance=tolerance)


def test_spread_reports_the_edge_seen():
    found = find_highest_valid(QueueingSut(), low=2_000, high=12_000, tolerance=0.02, max_probes=20)
    highest_valid, lowest_invalid = found.spread()
    assert highest_valid == found.level < lowest_invalid


def test_searches_in_turns_alternate_probe_by_probe():
    from benchmarks.server_search import search_in_turns

    order = []

    def recording(name, sut):
        def probe(qps):
            order.append(name)
            return sut(qps)
        return probe

    kwargs = {"low": 2_000, "high": 12_000, "tolerance": 0.05, "max_probes": 6, "confirm": 1}
    slow, fast = QueueingSut(capacity=5_000), QueueingSut(capacity=10_000)
    found = search_in_turns({"a": (recording("a", slow), kwargs), "b": (recording("b", fast), kwargs)})
    both = min(order.count("a"), order.count("b"))
    assert order[: 2 * both] == ["a", "b"] * both  # strictly in turn while both search
    assert found["a"].level <= slow.edge < found["b"].level <= fast.edge


def test_a_failing_probe_in_turns_is_raised_and_nothing_hangs():
    from benchmarks.server_search import search_in_turns

    def broken(qps):
        raise RuntimeError("the SUT did not start")

    kwargs = {"low": 2_000, "high": 12_000, "max_probes": 4}
    with pytest.raises(RuntimeError, match="did not start"):
        search_in_turns({"a": (broken, kwargs), "b": (QueueingSut(), kwargs)})
