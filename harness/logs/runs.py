"""Find LoadGen run folders and describe each as one JSON-ready record.

A run folder is any folder holding ``mlperf_log_detail.txt``. Folder names are
never trusted (published logs keep an Offline performance run in a
``Server/accuracy`` folder): the scenario and mode come from the detail log.

``consistent`` says whether every figure the summary prints equals the detail
log's. The two files print the same double differently (the detail log with six
significant digits, the summary often with two decimals), so two printed
numbers agree when the intervals their last digits stand for overlap:
``|s - d| < (unit(s) + unit(d)) / 2``. Integers (latencies, counts) must
therefore be equal, and ``12345.6`` agrees with ``12345.6123``. Compared:
validity, scenario, mode, SUT name, the four conditions, QPS and token lines,
every latency statistic and percentile (MultiStream's summary prints the
per-query ones), early-stopping estimates and bullet texts, the error count,
and each test parameter that has an ``effective_`` key. Parameters without one
(``ttft_latency``, ``tpot_latency``) are not compared.

The warning counts are reported, not compared. LoadGen keeps one counter that
every ``FlagWarning`` raises and prints it in the summary when the log files
close, while a detail line is marked ``is_warning`` only when a detail entry
follows the flag (``logging.h``); warnings flagged without their own line, or
raised after the summary's count is written, make the two counts differ in a
perfectly good run, and MLPerf's submission checker reads neither. So the
record carries ``num_warnings`` (detail lines flagged), ``summary_num_warnings``
(what the summary prints, null without one) and ``warnings_differ``.

A performance run must report a result: a detail log whose mode is a
performance mode but that holds no ``result_validity`` line was cut off before
LoadGen finished, and is a ``LogFormatError`` (malformed input), not a run to
judge. Accuracy runs log no result line at all.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable

from harness.logs.detail import DETAIL_LOG_NAME, DetailLog, LogFormatError, LoggedFloat, parse_detail
from harness.logs.summary import SUMMARY_LOG_NAME, SummaryLog, parse_summary

PERFORMANCE_MODES = frozenset({"PerformanceOnly", "FindPeakPerformance", "SubmissionRun"})

_PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")
# Always in a record, null when the run does not log them, so that consumers
# can index them without guessing which scenario wrote which key.
FIXED_KEYS = (
    "sut_name",
    "loadgen_version",
    "effective_scenario",
    "effective_test_mode",
    "effective_samples_per_query",
    "effective_target_qps",
    "effective_target_latency_ns",
    "effective_target_latency_percentile",
    "effective_max_async_queries",
    "effective_target_duration_ms",
    "effective_min_duration_ms",
    "effective_max_duration_ms",
    "effective_min_query_count",
    "effective_max_query_count",
    "effective_min_sample_count",
    "effective_performance_sample_count",
    "effective_accuracy_sample_count",  # LoadGen 6 only; the checker prefers it to qsl_reported_total_count
    "effective_sample_concatenate_permutation",
    "effective_qsl_rng_seed",
    "effective_sample_index_rng_seed",
    "effective_schedule_rng_seed",
    "effective_accuracy_log_rng_seed",
    "effective_accuracy_log_probability",
    "effective_accuracy_log_sampling_target",
    "effective_print_timestamps",
    "effective_performance_issue_unique",
    "effective_performance_issue_same",
    "effective_performance_issue_same_index",
    "qsl_reported_total_count",
    "result_validity",
    "result_min_duration_met",
    "result_min_queries_met",
    "early_stopping_met",
    "result_perf_constraints_met",
    "result_samples_per_second",
    "result_completed_samples_per_sec",
    "result_scheduled_samples_per_sec",
    "result_min_latency_ns",
    "result_max_latency_ns",
    "result_mean_latency_ns",
    *(f"result_{p}_percentile_latency_ns" for p in _PERCENTILES),
    "early_stopping_latency_ss",
    "early_stopping_latency_ms",
    "result_tokens_per_second",
    "result_completed_tokens_per_second",
)
# Detail keys copied whenever a run logs them: every setting LoadGen logs as
# effective (what the run used) or requested (what the SUT asked for, e.g.
# requested_use_token_latencies, which the checker reads for LLMs), token
# metrics, per-query latencies, early-stopping texts, ...
_EXTRA_KEY_PREFIXES = ("effective_", "requested_", "result_", "early_stopping_")


# ---------------------------------------------------------------- discovery

def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Every run folder under ``paths``, resolved, sorted and without duplicates.

    A path may be a run folder, any folder above run folders, or one of a run's
    ``mlperf_log_*`` files. A path that does not exist raises FileNotFoundError.
    """
    found: set[Path] = set()
    for path in paths:
        found.update(_runs_under(Path(path)))
    return sorted(found, key=str)


def _runs_under(path: Path) -> list[Path]:
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_file():
        folder = path.parent
        is_run_file = path.name.startswith("mlperf_log_") and (folder / DETAIL_LOG_NAME).is_file()
        return [folder.resolve()] if is_run_file else []
    runs = []
    # Symlinked folders are not followed, so a link loop cannot hang discovery.
    for folder, subfolders, files in os.walk(path):
        subfolders.sort()
        if DETAIL_LOG_NAME in files:
            runs.append(Path(folder).resolve())
    return runs


# ---------------------------------------------------------------- records

def run_record(run_dir: str | Path) -> dict[str, Any]:
    """The JSON object ``python -m harness logs`` prints for one run folder.

    Raises LogFormatError for a malformed log and OSError for an unreadable one.
    """
    run_dir = Path(run_dir)
    detail = parse_detail(run_dir / DETAIL_LOG_NAME)
    for required in ("effective_scenario", "effective_test_mode"):
        if required not in detail.values:
            raise LogFormatError(detail.path, None, f"not a LoadGen run log: no '{required}' line")
    is_performance = detail.values["effective_test_mode"] in PERFORMANCE_MODES
    if is_performance and "result_validity" not in detail.values:
        raise LogFormatError(
            detail.path, None,
            f"performance run ({detail.values['effective_test_mode']}) without a result: no 'result_validity' "
            f"line in its {detail.line_count} lines; the log was cut off before LoadGen reported the run",
        )
    summary_path = run_dir / SUMMARY_LOG_NAME
    summary = parse_summary(summary_path) if summary_path.is_file() else None

    record: dict[str, Any] = {key: detail.values.get(key) for key in FIXED_KEYS}
    for key in sorted(detail.values):
        if key.startswith(_EXTRA_KEY_PREFIXES):
            record[key] = detail.values[key]
    if summary is None:
        inconsistencies = [f"{SUMMARY_LOG_NAME} is missing"]
    else:
        inconsistencies = compare_summary(detail, summary)
    summary_warnings = None if summary is None else summary.fields.get("num_warnings")
    record.update(
        path=str(run_dir),
        is_performance=is_performance,
        num_errors=detail.num_errors,
        num_warnings=detail.num_warnings,
        summary_num_warnings=summary_warnings,
        warnings_differ=summary_warnings is not None and summary_warnings != detail.num_warnings,
        error_messages=list(detail.errors),
        summary=None if summary is None else dict(summary.fields),
        consistent=not inconsistencies,
        inconsistencies=inconsistencies,
    )
    return record


# ---------------------------------------------------------------- consistency

# Summary field -> detail key, for figures every scenario prints the same way.
_SAME_FIGURE = {
    "sut_name": "sut_name",
    "scenario": "effective_scenario",
    "mode": "effective_test_mode",
    "result_is": "result_validity",
    "samples_per_second": "result_samples_per_second",
    "completed_samples_per_second": "result_completed_samples_per_sec",
    "scheduled_samples_per_second": "result_scheduled_samples_per_sec",
    "qps_with_loadgen_overhead": "result_qps_with_loadgen_overhead",
    "qps_without_loadgen_overhead": "result_qps_without_loadgen_overhead",
    "tokens_per_second": "result_tokens_per_second",
    "completed_tokens_per_second": "result_completed_tokens_per_second",
    "tokens_per_second_inferred": "result_inferred_tokens_per_second",
    "completed_tokens_per_second_inferred": "result_inferred_completed_tokens_per_second",
    "min_duration_satisfied": "result_min_duration_met",
    "min_queries_satisfied": "result_min_queries_met",
    "early_stopping_satisfied": "early_stopping_met",
    "performance_constraints_satisfied": "result_perf_constraints_met",
    "early_stopping_result": "early_stopping_result",
    "ttft_early_stopping_result": "early_stopping_ttft_result",
    "tpot_early_stopping_result": "early_stopping_tpot_result",
}
_LATENCY_STAT = re.compile(r"^(min|max|mean)_latency_ns$")
_LATENCY_PERCENTILE = re.compile(r"^([\d.]+?)(?:th)?_percentile_latency_ns$")
_TTFT_STAT = re.compile(r"^(min|max|mean)_first_token_latency_ns$")
_TTFT_PERCENTILE = re.compile(r"^([\d.]+)_percentile_first_token_latency_ns$")
_TPOT_STAT = re.compile(r"^(min|max|mean)_time_to_output_token_ns$")
_TPOT_PERCENTILE = re.compile(r"^([\d.]+)_percentile_time_to_output_token_ns$")
_ESTIMATE = re.compile(r"^early_stopping_([\d.]+?)(?:th)?_percentile_estimate$")
# Summary blocks and notes that have no figure of their own in the detail log,
# and the warning count, which may differ from the detail log's (module doc).
_NOT_COMPARED = {"recommendations", "per_query_latency", "notice", "num_warnings"}


def summary_counterpart(key: str, detail: DetailLog) -> str | None:
    """The detail key holding the figure the summary prints as ``key``, if any."""
    if key in _SAME_FIGURE:
        return _SAME_FIGURE[key]
    # MultiStream's summary prints per-query latencies, logged under their own keys.
    per_query = "result_min_query_latency_ns" in detail.values
    if m := _LATENCY_STAT.match(key):
        return f"result_{m[1]}_query_latency_ns" if per_query else f"result_{m[1]}_latency_ns"
    if m := _LATENCY_PERCENTILE.match(key):
        p = f"{float(m[1]):.2f}"
        return f"result_{p}_percentile_per_query_latency_ns" if per_query else f"result_{p}_percentile_latency_ns"
    if m := _TTFT_STAT.match(key):
        return f"result_first_token_{m[1]}_latency_ns"
    if m := _TTFT_PERCENTILE.match(key):
        return f"result_first_token_{float(m[1]):.2f}_percentile_latency_ns"
    if m := _TPOT_STAT.match(key):
        return f"result_time_to_output_token_{m[1]}"
    if m := _TPOT_PERCENTILE.match(key):
        return f"result_time_per_output_token_{float(m[1]):.2f}_percentile_ns"
    if m := _ESTIMATE.match(key):
        return _estimate_key(float(m[1]), detail)
    # Test parameters print the effective settings under their own names.
    if f"effective_{key}" in detail.values:
        return f"effective_{key}"
    return None


def _estimate_key(percentile: float, detail: DetailLog) -> str | None:
    # Only the estimate at the scenario's target percentile is logged as a
    # figure; every bullet is also checked through the early_stopping_result text.
    target = detail.values.get("effective_target_latency_percentile")
    if not isinstance(target, (int, float)) or abs(percentile - 100 * target) > 1e-6:
        return None
    return {"SingleStream": "early_stopping_latency_ss", "MultiStream": "early_stopping_latency_ms"}.get(
        detail.values.get("effective_scenario")
    )


def compare_summary(detail: DetailLog, summary: SummaryLog) -> list[str]:
    """Every disagreement between what the summary prints and the detail log."""
    problems = []
    counted = {"num_errors": detail.num_errors}
    logged_errors = detail.values.get("num_errors")  # LoadGen 6 also logs its own count
    if logged_errors is not None and logged_errors != detail.num_errors:
        problems.append(f"detail log says num_errors={logged_errors} but flags {detail.num_errors} lines is_error")
    for entry in summary.entries:
        where = f"summary line {entry.line_no} ({entry.key})"
        if entry.key in counted:
            if entry.value != counted[entry.key]:
                problems.append(f"{where}: prints {entry.value}, detail log flags {counted[entry.key]}")
            continue
        if entry.key in _NOT_COMPARED:
            continue
        detail_key = summary_counterpart(entry.key, detail)
        if detail_key is None:
            continue
        if detail_key not in detail.values:
            problems.append(f"{where}: prints {entry.text or entry.value!r} but the detail log has no {detail_key}")
            continue
        if not _agrees(entry.value, entry.text, detail.values[detail_key]):
            problems.append(f"{where}: prints {_shown(entry)}, detail {detail_key} = {detail.values[detail_key]!r}")
    return problems


def _shown(entry) -> str:
    return repr(entry.value) if isinstance(entry.value, list) else entry.text


def _agrees(value: Any, text: str, logged: Any) -> bool:
    if isinstance(value, list):  # bullets, logged as one line of text
        printed = " ".join(f"* {bullet}" for bullet in value)
        return " ".join(printed.split()) == " ".join(str(logged).split())
    if isinstance(logged, bool):
        flag = {"yes": True, "no": False}.get(text.lower())
        if flag is not None:
            return flag == logged
        if isinstance(value, int):  # print_timestamps : 0
            return value == int(logged)
        return False
    if isinstance(value, (int, float)) and isinstance(logged, (int, float)):
        return same_printed_number(text, _printed(logged))
    return isinstance(logged, str) and text == logged


def _printed(number: int | float) -> str:
    return number.text if isinstance(number, LoggedFloat) else repr(number)


def same_printed_number(a: str, b: str) -> bool:
    """Whether two printed numbers can stand for the same value (see module doc)."""
    try:
        x, y = Decimal(a), Decimal(b)
    except InvalidOperation:
        return False
    if not (x.is_finite() and y.is_finite()):
        return str(x) == str(y)
    half_units = (_unit(x) + _unit(y)) / 2
    return x == y or abs(x - y) < half_units


def _unit(number: Decimal) -> Decimal:
    return Decimal(1).scaleb(number.as_tuple().exponent)
