"""The checker's performance rules (``checks/performance_check.py``) on one detail log.

Each rule returns (rule, message) pairs; the message says what was found and what the
round needs. ``result_validity`` alone rejects nothing, as in the checker: its four
conditions are judged through the rules that carry them (duration, query counts, early
stopping, latency).

One deliberate difference: the checker's LoadGen-error rule only rejects errors when
it runs with ``--submission-exceptions`` (a quirk of its current code); here any
error line rejects the run, as the notes (§5) and the rules intend, except
"Multiple conf files are used" in a compliance run, which loads audit.config.
"""
from __future__ import annotations

from harness.logs.detail import DetailLog
from harness.submission.benchmarks import EARLY_STOPPING_SCENARIOS, TEST_DURATION_MS, BenchmarkRules
from harness.submission.network import sut_name_problems
from harness.submission.versions import Version

PERFORMANCE_MODES = ("PerformanceOnly", "SubmissionRun")
COMPLIANCE_ALLOWED_ERROR = "Multiple conf files are used"
# PerformanceCheck.inferred_check: results an edge system may infer from another scenario
INFERABLE = {("SingleStream", "MultiStream"), ("MultiStream", "Offline"), ("SingleStream", "Offline")}
_MS = 1000 * 1000


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _Log:
    """Typed reads of a detail log that record a problem when a key is missing."""

    def __init__(self, detail: DetailLog, problems: list):
        self.values = detail.values
        self.problems = problems

    def number(self, key: str, rule: str):
        value = _number(self.values.get(key))
        if value is None:
            self.problems.append((rule, f"the detail log has no numeric {key}"))
        return value


def loadgen_errors(detail: DetailLog, *, compliance: bool = False) -> list[tuple[str, str]]:
    errors = [e for e in detail.errors if not (compliance and COMPLIANCE_ALLOWED_ERROR in e)]
    if not errors:
        return []
    shown = "; ".join(e[:120] for e in errors[:3]) + (" ..." if len(errors) > 3 else "")
    return [("loadgen-errors", f"{len(errors)} LoadGen error(s) in the detail log: {shown}")]


def check_performance(detail: DetailLog, rules: BenchmarkRules, version: Version, *, scenario_folder: str,
                      division: str, category: str, compliance: bool = False,
                      seeds: dict | None = None, network: bool = False) -> tuple[list, float | None]:
    """(problems, the result's metric in the checker's units: samples/s, tokens/s or ms).
    ``seeds``: what the run must log instead of the round's (a TEST05 run's own seeds);
    ``network``: the system description is in network mode (its SUT name rule applies)."""
    problems: list[tuple[str, str]] = []
    log = _Log(detail, problems)
    values = detail.values
    mode = values.get("effective_test_mode")
    if mode not in PERFORMANCE_MODES:
        problems.append(("performance-mode", f"effective_test_mode is {mode!r}; a performance run logs one of "
                                             f"{', '.join(PERFORMANCE_MODES)}"))
    scenario = values.get("effective_scenario")
    if not isinstance(scenario, str):
        problems.append(("scenario", "the detail log has no effective_scenario"))
        return problems, None
    problems += _scenario_rule(scenario, scenario_folder, category)
    problems += loadgen_errors(detail, compliance=compliance)
    if network:
        problems += sut_name_problems(values)

    psc = log.number("effective_performance_sample_count", "performance-sample-count")
    if psc is not None and psc < rules.performance_sample_count:
        problems.append(("performance-sample-count", f"effective_performance_sample_count {psc:g} < "
                                                     f"{rules.performance_sample_count} for {rules.name}"))
    for name, expected in (seeds or version.seeds).items():
        found = values.get(f"effective_{name}")
        if found != expected:
            problems.append(("seeds", f"effective_{name} is {found}, {version.name} needs {expected}"))

    if scenario in EARLY_STOPPING_SCENARIOS:
        if values.get("early_stopping_met") is not True:
            problems.append(("early-stopping", f"early_stopping_met is {values.get('early_stopping_met')!r}; "
                                               "the run needs more queries (or fewer over-latency ones)"))
        bound = rules.latency_constraint_ns.get(scenario)
        target = log.number("effective_target_latency_ns", "latency-constraint") if bound else None
        if bound and target is not None and target > bound:
            problems.append(("latency-constraint", f"effective_target_latency_ns {target:g} > {bound} allowed "
                                                   f"for {rules.name} {scenario}"))
    else:
        bound = rules.latency_constraint_ns.get(scenario)
        p99 = log.number("result_99.00_percentile_latency_ns", "latency-constraint") if bound else None
        if bound and p99 is not None and p99 > bound:
            problems.append(("latency-constraint", f"99th percentile latency {p99:g} ns > {bound}"))
        required = rules.min_queries.get(scenario)
        found = log.number("effective_min_query_count", "min-query-count")
        if required and found is not None and found < required:
            problems.append(("min-query-count", f"effective_min_query_count {found:g} < {required}"))
    # the checker holds only "closed" to this, not the network division (which the rules say inherits it)
    if scenario == "Offline" and division == "closed":
        spq = log.number("effective_samples_per_query", "samples-per-query")
        minimum = version.offline_minimum(rules.offline_min_samples_per_query)
        if spq is not None and spq < minimum:
            problems.append(("samples-per-query", f"effective_samples_per_query {spq:g} < {minimum} (Offline, "
                                                  f"closed, {version.name})"))
    duration = log.number("effective_min_duration_ms", "min-duration")
    if duration is not None and duration < TEST_DURATION_MS:
        problems.append(("min-duration", f"effective_min_duration_ms {duration:g} < {TEST_DURATION_MS} "
                                         "(runs must last at least 600 s)"))
    problems += _llm_rule(values, rules, scenario_folder if scenario_folder == "Interactive" else scenario)
    return problems, _metric(values, rules, scenario, problems, version)


def _scenario_rule(scenario: str, folder: str, category: str) -> list[tuple[str, str]]:
    if scenario.lower() == folder.lower() or (scenario, folder) == ("Server", "Interactive"):
        return []
    if "edge" not in category:
        return [("scenario", f"the log is a {scenario} run in a {folder} folder; results are inferred from "
                             "another scenario only on edge systems")]
    if (scenario, folder) not in INFERABLE:
        return [("scenario", f"a {folder} result cannot be inferred from a {scenario} run")]
    return [("scenario", f"a {folder} result inferred from a {scenario} run: this tool does not compute "
                         f"inferred results; submit a {folder} run")]


def _llm_rule(values: dict, rules: BenchmarkRules, scenario: str) -> list[tuple[str, str]]:
    if not rules.is_llm:
        return []
    if values.get("requested_use_token_latencies") is not True:
        return [("token-latencies", f"requested_use_token_latencies is not set: {rules.name} must log TTFT "
                                    "and TPOT (use_token_latencies = 1)")]
    limits = rules.llm_latency_limits.get(scenario)
    if not limits:
        return []
    ttft = _number(values.get("result_first_token_99.00_percentile_latency_ns"))
    tpot = _number(values.get("result_time_per_output_token_99.00_percentile_ns"))
    if ttft is not None and tpot is not None and ttft < limits["ttft"] and tpot < limits["tpot"]:
        return []
    return [("token-latencies", f"p99 TTFT {ttft} ns / TPOT {tpot} ns must stay below {limits['ttft']} / "
                                f"{limits['tpot']} ns for {rules.name} {scenario}")]


def _metric(values: dict, rules: BenchmarkRules, scenario: str, problems: list, version: Version) -> float | None:
    key = rules.result_field(scenario, version.result_fields)
    value = _number(values.get(key)) if key else None
    if value is None:
        problems.append(("metric", f"the detail log has no {key or 'metric for ' + scenario}"))
        return None
    if scenario in ("SingleStream", "MultiStream"):
        return value / _MS  # the checker reports latencies in ms
    return value
