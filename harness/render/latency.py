"""Latency percentiles of one performance case, read from its LoadGen logs.

The figures come from ``mlperf_log_detail.txt`` (the full-precision source);
``mlperf_log_summary.txt`` fills in what the detail log lacks and is checked
against it, so a report never shows a number the two logs disagree on without
saying so. MultiStream's metric is per query (a query is 8 samples), so its
per-query percentiles are taken when logged, as LoadGen's summary prints them.

A report is read after the fact, often from a copied or pruned folder: a
missing folder or log is "logs not found" and an unreadable one is "logs
unreadable" with the parser's message; neither may stop the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.logs.detail import DETAIL_LOG_NAME, LogFormatError, LoggedFloat, parse_detail
from harness.logs.runs import same_printed_number
from harness.logs.summary import SUMMARY_LOG_NAME, parse_summary

# (label shown, percentile as LoadGen spells it in its keys)
PERCENTILES = (("p50", "50.00"), ("p90", "90.00"), ("p95", "95.00"), ("p97", "97.00"), ("p99", "99.00"),
               ("p99.9", "99.90"))
FOUND, NOT_FOUND, UNREADABLE, NO_PERCENTILES = "ok", "logs not found", "logs unreadable", "no percentiles in logs"


@dataclass(frozen=True)
class LatencyReading:
    status: str  # FOUND, NOT_FOUND, UNREADABLE or NO_PERCENTILES
    values_ns: dict[str, float] = field(default_factory=dict)  # label -> nanoseconds, in PERCENTILES order
    per_query: bool = False  # MultiStream's per-query latencies
    notes: tuple[str, ...] = ()  # what went wrong reading, or where the two logs disagree
    folder: Path | None = None


def find_case_folder(log_dir: str | None, fallback_root: Path | None = None) -> Path | None:
    """The case's log folder: as recorded, else (a moved run folder) its name under ``fallback_root``."""
    if not log_dir:
        return None
    recorded = Path(log_dir)
    if recorded.is_dir():
        return recorded
    if fallback_root is not None and recorded.name not in ("", ".", ".."):  # a name, not a way up
        moved = Path(fallback_root) / recorded.name
        if moved.is_dir():
            return moved
    return None


def read_latency_percentiles(folder: Path | None) -> LatencyReading:
    if folder is None:
        return LatencyReading(NOT_FOUND)
    detail_path, summary_path = folder / DETAIL_LOG_NAME, folder / SUMMARY_LOG_NAME
    if not detail_path.is_file() and not summary_path.is_file():
        return LatencyReading(NOT_FOUND, folder=folder)
    notes: list[str] = []
    from_detail, per_query = _from_detail(detail_path, notes)
    from_summary = _from_summary(summary_path, notes)
    if from_detail is None and from_summary is None:
        return LatencyReading(UNREADABLE, notes=tuple(notes), folder=folder)
    values: dict[str, float] = {}
    for label, _ in PERCENTILES:
        logged, printed = (from_detail or {}).get(label), (from_summary or {}).get(label)
        if logged is not None and printed is not None and not same_printed_number(printed[1], logged[1]):
            notes.append(f"{label}: {SUMMARY_LOG_NAME} prints {printed[1]} but {DETAIL_LOG_NAME} logs {logged[1]}")
        chosen = logged or printed
        if chosen is not None:
            values[label] = chosen[0]
    status = FOUND if values else NO_PERCENTILES
    return LatencyReading(status, values, per_query, tuple(notes), folder)


def _from_detail(path: Path, notes: list[str]) -> tuple[dict[str, tuple[float, str]] | None, bool]:
    """label -> (value, printed text) from the detail log, and whether they are per-query figures."""
    if not path.is_file():
        notes.append(f"{DETAIL_LOG_NAME} not found")
        return None, False
    try:
        values = parse_detail(path).values
    except (LogFormatError, OSError) as exc:
        notes.append(f"{DETAIL_LOG_NAME} unreadable: {exc}")
        return None, False
    per_query = f"result_{PERCENTILES[0][1]}_percentile_per_query_latency_ns" in values
    template = "result_{}_percentile_per_query_latency_ns" if per_query else "result_{}_percentile_latency_ns"
    found = {}
    for label, percentile in PERCENTILES:
        value = values.get(template.format(percentile))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[label] = (value, value.text if isinstance(value, LoggedFloat) else repr(value))
    return found, per_query


def _from_summary(path: Path, notes: list[str]) -> dict[str, tuple[float, str]] | None:
    if not path.is_file():
        notes.append(f"{SUMMARY_LOG_NAME} not found")
        return None
    try:
        summary = parse_summary(path)
    except (LogFormatError, OSError) as exc:
        notes.append(f"{SUMMARY_LOG_NAME} unreadable: {exc}")
        return None
    found = {}
    for label, percentile in PERCENTILES:
        # "50.00 percentile latency (ns)" in Additional Stats (per query for MultiStream)
        key = f"{percentile}_percentile_latency_ns"
        value = summary.fields.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[label] = (value, summary.texts[key])
    return found
