"""The ``audit.config`` files MLPerf ships, and whether a run applied one.

LoadGen reads ``audit.config`` from the working directory of the process that
calls ``StartTest`` and applies it last, over every other setting, looking keys
up with the model name ``*`` (``loadgen.cc``). So only lines whose model part is
``*`` take effect: ``stable-diffusion-xl.Offline.min_query_count = 500`` in
TEST04's file is inert through this path (SDXL's reference main.py also loads
the file itself, under its model name). ``audit_settings`` applies that rule,
and ``audit_problems`` compares the result with a run's ``effective_*`` lines.

Texts: ``compliance/TEST01/<benchmark>/audit.config``, ``compliance/TEST04/audit.config``
and ``compliance/TEST06/audit.config`` of mlcommons/inference, byte for byte
(TEST06's file has no newline after its last line).
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.logs.detail import DetailLog

from .rules import TEST01_SAMPLING_TARGET, checker_name, require_scenario, require_test
from .verdict import ComplianceError

AUDIT_CONFIG_NAME = "audit.config"
TEST01_RNG_SEED = 720381539243781796

_HEADER = (
    "# The format of this config file is 'key = value'.\n"
    "# The key has the format 'model.scenario.key'. Value is mostly int64_t.\n"
    "# Model maybe '*' as wildcard. In that case the value applies to all models.\n"
    "# All times are in milli seconds\n"
)
_MODE_LEGEND = "# mode dictionary (0 = submission, 1 = accuracy, 2 = performance, 3 = find peak perf)\n"

_TEST04 = _HEADER + "".join(
    f"*.{scenario}.mode = 2\n"
    f"*.{scenario}.performance_issue_unique = 0\n"
    f"*.{scenario}.performance_issue_same = 1\n"
    f"*.{scenario}.performance_issue_same_index = 3\n"
    for scenario in ("MultiStream", "Offline", "SingleStream", "Server")
) + (
    "stable-diffusion-xl.Offline.min_query_count = 500\n"
    "wan-2.2-t2v-a14b.Offline.min_query_count = 20\n"
    "wan-2.2-t2v-a14b.SingleStream.min_query_count = 20\n"
    "# You can optionally set the target qps to match the expected query count \n"
    "# in the min duration with the min_query_count. But take into account you\n"
    "# system expected qps, the min duration for this test is 10 minutes\n"
    "# stable-diffusion-xl.Offline.target_qps = 0.75\n"
)

_TEST06 = _HEADER + "\n" + _MODE_LEGEND + (
    "*.*.mode = 2\n"
    f"*.*.accuracy_log_rng_seed = {TEST01_RNG_SEED}\n"
    "*.*.accuracy_log_sampling_target = 100\n"
    "*.*.min_query_count = 100\n"
    "*.*.min_duration = 0\n"
    "# Turn off equal issue mode for TEST06\n"
    "*.*.sample_concatenate_permutation = 0"
)


def audit_config_text(test: str, model: str, scenario: str) -> str:
    """The audit.config MLPerf ships for ``test`` and ``model``. The files hold
    the scenario in their keys; ``scenario`` is checked, not substituted."""
    require_test(test)
    require_scenario(scenario)
    name = checker_name(model)
    if test == "TEST04":
        return _TEST04
    if test == "TEST06":
        return _TEST06
    if name not in TEST01_SAMPLING_TARGET:
        raise ComplianceError(f"no TEST01 audit.config known for {model!r}: MLPerf ships one for "
                              f"{', '.join(sorted(TEST01_SAMPLING_TARGET))}")
    return _HEADER + "\n" + _MODE_LEGEND + (
        "*.*.mode = 2\n"
        f"*.*.accuracy_log_rng_seed = {TEST01_RNG_SEED}\n"
        f"*.*.accuracy_log_sampling_target = {TEST01_SAMPLING_TARGET[name]}\n"
    )


def write_audit_config(test: str, model: str, scenario: str, folder: Path) -> Path:
    """Write ``folder/audit.config``: the folder must be the working directory
    of the process that runs LoadGen."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ComplianceError(f"{folder}: no such folder to hold {AUDIT_CONFIG_NAME}")
    path = folder / AUDIT_CONFIG_NAME
    path.write_text(audit_config_text(test, model, scenario), encoding="utf-8")
    return path


_LINE = re.compile(r"^\s*([^.\s]+)\.([^.\s]+)\.(\w+)\s*=\s*(\S+)\s*$")


def audit_settings(test: str, model: str, scenario: str) -> dict[str, int]:
    """The settings LoadGen takes from this audit.config in ``scenario``: lines
    whose model is ``*``, ``*.<scenario>.key`` winning over ``*.*.key``."""
    found: dict[str, tuple[int, int]] = {}  # key -> (precedence, value)
    for line in audit_config_text(test, model, scenario).splitlines():
        match = _LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        model_part, scenario_part, key, value = match.groups()
        if model_part != "*" or scenario_part not in (scenario, "*"):
            continue
        precedence = 1 if scenario_part == scenario else 0
        if key not in found or precedence >= found[key][0]:
            found[key] = (precedence, int(value))
    return {key: value for key, (_, value) in found.items()}


_MODE_NAMES = {0: "SubmissionRun", 1: "AccuracyOnly", 2: "PerformanceOnly", 3: "FindPeakPerformance"}
# audit key -> the detail log's key for its effective value
_EFFECTIVE = {
    "accuracy_log_rng_seed": "effective_accuracy_log_rng_seed",
    "accuracy_log_sampling_target": "effective_accuracy_log_sampling_target",
    "performance_issue_unique": "effective_performance_issue_unique",
    "performance_issue_same": "effective_performance_issue_same",
    "performance_issue_same_index": "effective_performance_issue_same_index",
    "min_duration": "effective_min_duration_ms",
    "sample_concatenate_permutation": "effective_sample_concatenate_permutation",
}
_BOOLEAN = {"performance_issue_unique", "performance_issue_same", "sample_concatenate_permutation"}


def audit_problems(detail: DetailLog, test: str, model: str, scenario: str) -> list[str]:
    """Each audit setting the run's detail log does not show in effect, as
    ``key: expected X, the log has Y``; empty when the audit was applied."""
    problems = []
    for key, want in audit_settings(test, model, scenario).items():
        if key == "mode":
            detail_key, expected = "effective_test_mode", _MODE_NAMES.get(want, want)
            ok = detail.values.get(detail_key) == expected
        elif key == "min_query_count" and scenario == "Offline":
            # Offline runs one query; LoadGen folds min_query_count into its size.
            detail_key, expected = "effective_samples_per_query", f">= {want}"
            found = detail.values.get(detail_key)
            ok = isinstance(found, int) and found >= want
        elif key == "min_query_count":
            detail_key, expected = "effective_min_query_count", want
            ok = detail.values.get(detail_key) == want
        elif key in _EFFECTIVE:
            detail_key = _EFFECTIVE[key]
            expected = bool(want) if key in _BOOLEAN else want
            found = detail.values.get(detail_key)
            ok = found is expected if key in _BOOLEAN else found == expected
        else:
            raise ComplianceError(f"{test} audit.config key {key!r} has no effective_* line to check it against")
        if not ok:
            problems.append(f"{key}: expected {detail_key} {expected!r}, the log has "
                            f"{detail.values.get(detail_key, 'no such line')!r}")
    return problems
