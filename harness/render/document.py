"""A results.json document, checked once and turned into plain views for rendering.

The renderers never index the raw dict: everything they show goes through
``read_run``, so a malformed document fails here, with one clear message that
names the file, the field (``cases[3] (id 'x').accuracy.value``) and what was
expected, instead of a KeyError deep inside an HTML template.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.reports import OUTCOMES

# The axes every case record carries (harness.matrix.AXES); the report groups by them.
AXES = ("model", "backend", "device", "precision", "scenario", "mode")
NO_REASON = "no reason recorded"


class ReportInputError(ValueError):
    """A results or comparison document that does not have the expected shape."""

    def __init__(self, source: str, field: str, expected: str, got: Any):
        self.source, self.field, self.expected = source, field, expected
        super().__init__(f"{source}: {field}: expected {expected}, got {_shown(got)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class AccuracyFigure:
    metric: str
    value: float
    threshold: float
    reference: float | None = None
    upper_threshold: float | None = None  # only the bounded metrics (generated length) have one

    @property
    def meets_threshold(self) -> bool:
        if math.isnan(self.value) or self.value < self.threshold:
            return False
        return self.upper_threshold is None or self.value <= self.upper_threshold


@dataclass(frozen=True)
class PerformanceFigure:
    metric: str
    value: float | None  # None when LoadGen reported no figure (a run cut short)
    unit: str  # "samples/s" for Offline/Server, "ns" for the latency scenarios
    validity: str | None
    tokens_per_second: float | None = None


@dataclass(frozen=True)
class CaseView:
    id: str
    outcome: str
    model: str
    backend: str
    device: str
    precision: str
    scenario: str
    mode: str
    log_dir: str | None
    duration_s: float | None
    accuracy: tuple[AccuracyFigure, ...]  # the gating metric first, then the further ones ("also")
    performance: PerformanceFigure | None
    message: str | None  # why it was skipped, or what failed
    # what a find-peak search or a compliance audit found (None for the other modes)
    finding: "Finding | None" = None

    @property
    def skip_reason(self) -> str:
        return self.message or NO_REASON

    @property
    def is_performance(self) -> bool:
        return self.performance is not None or self.mode == "performance"


@dataclass(frozen=True)
class Finding:
    """One line about a find-peak search or a compliance audit, for both renderers."""
    kind: str  # "find-peak" or the test, e.g. "TEST01"
    passed: bool
    summary: str


@dataclass(frozen=True)
class RunView:
    source: str
    cases: tuple[CaseView, ...]
    machine: dict
    versions: dict

    @property
    def totals(self) -> dict[str, int]:
        """Count of cases per outcome, every outcome present (zeros included), in OUTCOMES order."""
        counts = Counter(case.outcome for case in self.cases)
        return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}

    @property
    def findings(self) -> list[CaseView]:
        """The cases with a find-peak search or a compliance audit to show."""
        return [case for case in self.cases if case.finding is not None]

    @property
    def shown_cases(self) -> list[CaseView]:
        """The cases that ran (or tried to): everything but the skips."""
        return [case for case in self.cases if case.outcome != "skipped"]

    def skip_groups(self) -> list[tuple[str, list[CaseView]]]:
        """Skipped cases grouped by reason, the largest group first (ties by reason)."""
        groups: dict[str, list[CaseView]] = {}
        for case in self.cases:
            if case.outcome == "skipped":
                groups.setdefault(case.skip_reason, []).append(case)
        return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


# ---------------------------------------------------------------- reading

def read_run(results: Any, source: str = "results.json") -> RunView:
    """Check a results.json document and return its view; ReportInputError on bad input."""
    if not isinstance(results, dict):
        raise ReportInputError(source, "(top level)", "a JSON object with 'cases'", results)
    if "cases" not in results:
        raise ReportInputError(source, "cases", "a list of case records (the field is missing)", None)
    raw_cases = results["cases"]
    if not isinstance(raw_cases, list):
        raise ReportInputError(source, "cases", "a list of case records", raw_cases)
    cases = tuple(_case(source, index, raw) for index, raw in enumerate(raw_cases))
    return RunView(
        source=source,
        cases=tuple(sorted(cases, key=lambda case: case.id)),
        machine=_optional_object(source, results, "machine"),
        versions=_optional_object(source, results, "versions"),
    )


def _optional_object(source: str, results: dict, key: str) -> dict:
    # An older or hand-made document may lack machine/versions; the header then says so.
    value = results.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportInputError(source, key, "a JSON object", value)
    return value


def _case(source: str, index: int, raw: Any) -> CaseView:
    where = f"cases[{index}]"
    if not isinstance(raw, dict):
        raise ReportInputError(source, where, "a case record (JSON object)", raw)
    case_id = raw.get("id")
    if not isinstance(case_id, str) or not case_id:
        raise ReportInputError(source, f"{where}.id", "a non-empty string", case_id)
    where = f"{where} (id {case_id!r})"
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise ReportInputError(source, f"{where}.outcome", f"one of {', '.join(OUTCOMES)}", outcome)
    axes = {axis: _string(source, raw, axis, where) for axis in AXES}
    message = raw.get("reason") or raw.get("message")  # the skip reason is recorded as message
    if message is not None and not isinstance(message, str):
        raise ReportInputError(source, f"{where}.message", "a string or null", message)
    log_dir = raw.get("log_dir")
    if log_dir is not None and not isinstance(log_dir, str):
        raise ReportInputError(source, f"{where}.log_dir", "a path string or null", log_dir)
    duration = raw.get("duration_s")
    if duration is not None and not _is_number(duration):
        raise ReportInputError(source, f"{where}.duration_s", "a number or null", duration)
    return CaseView(
        id=case_id, outcome=outcome, **axes, log_dir=log_dir, duration_s=duration,
        accuracy=_accuracy(source, raw.get("accuracy"), f"{where}.accuracy"),
        performance=_performance(source, raw.get("performance"), f"{where}.performance"),
        message=message, finding=_finding(source, raw, where),
    )


def _finding(source: str, raw: dict, where: str) -> Finding | None:
    search, audit = raw.get("find_peak"), raw.get("compliance")
    if search is not None:
        if not isinstance(search, dict) or not isinstance(search.get("attempts"), list):
            raise ReportInputError(source, f"{where}.find_peak", "a search with its attempts", search)
        target, unit = search.get("target"), search.get("unit", "")
        runs = len(search["attempts"])
        if target is None:
            return Finding("find-peak", False, f"no VALID target in {runs} runs")
        return Finding("find-peak", True, f"{target:.6g} {unit} in {runs} runs (written to the case's user.conf)")
    if audit is not None:
        if not isinstance(audit, dict) or not isinstance(audit.get("checks"), dict):
            raise ReportInputError(source, f"{where}.compliance", "an audit verdict with its checks", audit)
        checks = ", ".join(f"{name} {'pass' if ok else 'FAIL'}" for name, ok in audit["checks"].items()
                           if ok is not None)
        return Finding(str(audit.get("test", raw.get("mode"))), bool(audit.get("passed")),
                       f"{'TEST PASS' if audit.get('passed') else 'TEST FAIL'}: {checks}")
    return None


def _string(source: str, raw: dict, key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ReportInputError(source, f"{where}.{key}", "a string", value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(source: str, raw: dict, key: str, where: str, *, optional: bool = False) -> float | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    if not _is_number(value):
        raise ReportInputError(source, f"{where}.{key}", "a number" + (" or null" if optional else ""), value)
    return value


def _accuracy(source: str, raw: Any, where: str) -> tuple[AccuracyFigure, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ReportInputError(source, where, "a JSON object or null", raw)
    figures = [_accuracy_figure(source, raw, where)]
    also = raw.get("also") or []
    if not isinstance(also, list):
        raise ReportInputError(source, f"{where}.also", "a list", also)
    for index, extra in enumerate(also):
        if not isinstance(extra, dict):
            raise ReportInputError(source, f"{where}.also[{index}]", "a JSON object", extra)
        figures.append(_accuracy_figure(source, extra, f"{where}.also[{index}]"))
    return tuple(figures)


def _accuracy_figure(source: str, raw: dict, where: str) -> AccuracyFigure:
    return AccuracyFigure(
        metric=_string(source, raw, "metric", where),
        value=_number(source, raw, "value", where),
        threshold=_number(source, raw, "threshold", where),
        reference=_number(source, raw, "reference", where, optional=True),
        upper_threshold=_number(source, raw, "upper_threshold", where, optional=True),
    )


def _performance(source: str, raw: Any, where: str) -> PerformanceFigure | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ReportInputError(source, where, "a JSON object or null", raw)
    validity = raw.get("result_validity")
    if validity is not None and not isinstance(validity, str):
        raise ReportInputError(source, f"{where}.result_validity", "a string or null", validity)
    return PerformanceFigure(
        metric=_string(source, raw, "metric", where),
        value=_number(source, raw, "value", where, optional=True),
        unit=_string(source, raw, "unit", where),
        validity=validity,
        tokens_per_second=_number(source, raw, "tokens_per_second", where, optional=True),
    )
