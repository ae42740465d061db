"""Performance checks over a run record (``harness.logs.runs.run_record``).

Each check is named after what it inspects (the detail-log key where there is
one), so a failure says exactly which LoadGen condition broke.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from harness.logs.runs import PERFORMANCE_MODES


@dataclass(frozen=True)
class CheckFailure:
    check: str
    message: str
    expected: Any
    actual: Any
    path: str


Check = Callable[[dict], "CheckFailure | None"]


def _failure(record: dict, check: str, message: str, expected: Any, actual: Any) -> CheckFailure:
    return CheckFailure(check, message, expected, actual, record.get("path", "?"))


def check_performance_run(record: dict) -> CheckFailure | None:
    mode = record.get("effective_test_mode")
    if mode in PERFORMANCE_MODES:
        return None
    return _failure(record, "performance_run", f"not a performance run: effective_test_mode is {mode!r}",
                    "PerformanceOnly", mode)


def check_result_validity(record: dict) -> CheckFailure | None:
    validity = record.get("result_validity")
    if validity == "VALID":
        return None
    return _failure(record, "result_validity", f"LoadGen reports the run {validity}", "VALID", validity)


def _condition(key: str, meaning: str, scenarios: frozenset[str] | None = None) -> Check:
    def check(record: dict) -> CheckFailure | None:
        if scenarios is not None and record.get("effective_scenario") not in scenarios:
            return None
        value = record.get(key)
        if value is True:
            return None
        said = "not logged" if value is None else repr(value)
        return _failure(record, key, f"{meaning} not met ({key} is {said})", True, value)

    check.__name__ = f"check_{key}"
    return check


check_min_duration = _condition("result_min_duration_met", "minimum duration")
check_min_queries = _condition("result_min_queries_met", "minimum query count")
# Offline has no early-stopping criterion (LoadGen logs it true regardless).
check_early_stopping = _condition(
    "early_stopping_met", "early stopping", frozenset({"SingleStream", "MultiStream", "Server"}))
check_latency_constraint = _condition(
    "result_perf_constraints_met", "Server latency constraint", frozenset({"Server"}))


def check_no_errors(record: dict) -> CheckFailure | None:
    count = record.get("num_errors")
    if count == 0:
        return None
    messages = record.get("error_messages") or []
    listed = "; ".join(repr(m) for m in messages) or "messages unknown"
    return _failure(record, "no_errors", f"LoadGen logged {count} error(s): {listed}", 0, count)


def check_consistent(record: dict) -> CheckFailure | None:
    if record.get("consistent") is True:
        return None
    problems = record.get("inconsistencies") or ["consistency unknown"]
    return _failure(record, "consistent", "summary and detail log disagree: " + "; ".join(problems),
                    True, record.get("consistent"))


# With real streaming the first token arrives long before the last (MLPerf
# v4.1 llama2 Server: median TTFT 3% of the median latency). Reported with
# the last token, TTFT equals the latency and the TTFT limit checks nothing.
FIRST_TOKEN_SHARE = 0.9


def check_first_token_streamed(record: dict) -> CheckFailure | None:
    ttft = record.get("result_first_token_50.00_percentile_latency_ns")
    latency = record.get("result_50.00_percentile_latency_ns")
    if record.get("effective_scenario") == "Offline" or not ttft or not latency:
        return None
    share = ttft / latency
    if share <= FIRST_TOKEN_SHARE:
        return None
    return _failure(
        record, "first_token_streamed",
        f"median time to first token is {share:.0%} of the median latency: the first token was not reported "
        "when it was generated (FirstTokenComplete must be called as soon as it exists)",
        f"<= {FIRST_TOKEN_SHARE:.0%}", f"{share:.0%}",
    )


PERFORMANCE_CHECKS: tuple[Check, ...] = (
    check_result_validity,
    check_min_duration,
    check_min_queries,
    check_early_stopping,
    check_latency_constraint,
    check_first_token_streamed,
    check_no_errors,
    check_consistent,
)


def check_performance(record: dict) -> list[CheckFailure]:
    """All performance failures of one run; empty when the run passes."""
    not_performance = check_performance_run(record)
    if not_performance:
        # Validity and its conditions are not logged for accuracy runs, so
        # listing them as missing would only bury the real problem.
        return [not_performance]
    return [failure for check in PERFORMANCE_CHECKS if (failure := check(record)) is not None]


def format_failures(failures: list[CheckFailure]) -> str:
    """A readable assertion message, grouped by log folder."""
    if not failures:
        return "all performance checks passed"
    lines = []
    for path in dict.fromkeys(f.path for f in failures):
        mine = [f for f in failures if f.path == path]
        lines.append(f"{len(mine)} performance check(s) failed for {path}:")
        lines.extend(
            f"  - {f.check}: {f.message} (expected {f.expected!r}, got {f.actual!r})" for f in mine
        )
    return "\n".join(lines)
