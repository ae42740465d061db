"""The checker's compliance rules (``checks/compliance_check.py``) for one result.

The tests a benchmark needs come from the round's ``models_TEST0x`` lists. Each
``TEST0x/`` folder is what MLPerf's ``compliance/TEST0x/run_verification.py`` writes:

* TEST01: ``verify_accuracy.txt`` with a ``TEST PASS`` line (otherwise ``accuracy/``
  must hold baseline_accuracy.txt and compliance_accuracy.txt whose metric differs by at
  most 1% (0.1% for the 99.9 variants)), ``verify_performance.txt`` with ``TEST PASS``,
  ``performance/run_1/`` with exactly the summary and detail logs;
* TEST04: ``verify_performance.txt`` and ``performance/run_1/`` as for TEST01;
* TEST05 (v3.1 only): as TEST04, its run logging the round's ``test05_seeds``;
* TEST06: ``verify_accuracy.txt`` with the first-token, EOS and sample-length lines.

The performance logs of TEST01, TEST04 and TEST05 go through the performance rules
again (the "Multiple conf files" error that audit.config causes is allowed there; in
network mode the "Network SUT" name rule applies to them too). The
open division needs no compliance tests. The v3.1 checker (``check_compliance_acc_dir``)
also wants ``TEST01/accuracy/`` to hold exactly the log and an ``accuracy.txt`` when the
test passed (and the fallback's two files besides when it did not); later checkers look
into that folder only for the fallback.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.logs.detail import LogFormatError, parse_detail
from harness.submission.benchmarks import ACC_PATTERN, BenchmarkRules
from harness.submission.check_performance import check_performance
from harness.submission.layout import REQUIRED_PERF_FILES, files_diff, list_files
from harness.submission.versions import Version

REQUIRED_TEST01_ACC_FILES_1 = ("mlperf_log_accuracy.json", "accuracy.txt")
REQUIRED_TEST01_ACC_FILES = (*REQUIRED_TEST01_ACC_FILES_1, "baseline_accuracy.txt", "compliance_accuracy.txt")
PERFORMANCE_TESTS = ("TEST01", "TEST04", "TEST05")
TEST06_LINES = (("First token check pass: True", "First token check pass: Skipped"), ("EOS check pass: True",),
                ("Sample length check pass: True",))


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]


def check_compliance(comp_dir: Path, rules: BenchmarkRules, version: Version, *, scenario: str, division: str,
                     category: str, network: bool = False) -> list[tuple[str, str]]:
    if division == "open":
        return []
    problems: list[tuple[str, str]] = []
    for test in version.compliance_tests(rules.name):
        rule = f"compliance-{test}"
        test_dir = comp_dir / test
        if not test_dir.is_dir():
            problems.append((rule, f"{test} result missing: no {test_dir}; run the {test} compliance case "
                                   f"(--mlperf-mode {test}) and rebuild the tree"))
            continue
        if test in ("TEST01", "TEST06"):
            problems += _verify_accuracy(test, test_dir, rules)
        if test == "TEST01" and version.layout == "v3":
            problems += _v3_test01_files(test_dir)
        if test in PERFORMANCE_TESTS:
            problems += _verify_performance(test, test_dir, rules, version, scenario, division, category, network)
    return problems


def _v3_test01_files(test_dir: Path) -> list[tuple[str, str]]:
    """v3.1: TEST01/accuracy/ holds the log and accuracy.txt (plus the fallback's files)."""
    verify = test_dir / "verify_accuracy.txt"
    passed = verify.is_file() and any("TEST PASS" in line for line in _lines(verify))
    wanted = REQUIRED_TEST01_ACC_FILES_1 if passed else REQUIRED_TEST01_ACC_FILES
    acc_dir = test_dir / "accuracy"
    diff = files_diff(list_files(acc_dir), wanted)
    if acc_dir.is_dir() and not diff:
        return []
    return [("compliance-TEST01", f"{acc_dir} must hold exactly {', '.join(wanted)} for the v3.1 checker"
                                  + (f" (missing or extra: {', '.join(sorted(diff))})" if diff else "")
                                  + "; accuracy.txt is the accuracy script's output on TEST01's log")]


def _verify_accuracy(test: str, test_dir: Path, rules: BenchmarkRules) -> list[tuple[str, str]]:
    rule, path = f"compliance-{test}", test_dir / "verify_accuracy.txt"
    if not path.is_file():
        return [(rule, f"{test}: no verify_accuracy.txt in {test_dir}")]
    lines = _lines(path)
    if test == "TEST06":
        failed = [options[0].split(":")[0] for options in TEST06_LINES if not any(o in lines for o in options)]
        return [(rule, f"TEST06 failed: {', '.join(failed)} not passed in {path}")] if failed else []
    if "TEST PASS" in lines:
        return []
    return _test01_fallback(test_dir, rules)


def _test01_fallback(test_dir: Path, rules: BenchmarkRules) -> list[tuple[str, str]]:
    """TEST01 failed in deterministic mode: compare baseline and compliance accuracy."""
    rule, acc_dir = "compliance-TEST01", test_dir / "accuracy"
    diff = files_diff(list_files(acc_dir), REQUIRED_TEST01_ACC_FILES)
    if not acc_dir.is_dir() or diff:
        return [(rule, "TEST01 verify_accuracy.txt does not say TEST PASS, and accuracy/ lacks the "
                       f"baseline/compliance accuracy files for the fallback ({', '.join(sorted(diff))})")]
    for metric, _ in rules.targets:
        delta_allowed = rules.test01_delta(metric)
        baseline = _metric(acc_dir / "baseline_accuracy.txt", metric)
        compliance = _metric(acc_dir / "compliance_accuracy.txt", metric)
        if not baseline or not compliance:
            return [(rule, f"TEST01 fallback: {metric} missing from baseline_accuracy.txt or "
                           "compliance_accuracy.txt")]
        delta = abs(1 - baseline / compliance) * 100
        if delta > delta_allowed:
            return [(rule, f"TEST01 failed: {metric} baseline {baseline:g} vs compliance {compliance:g} differ by "
                           f"{delta:.3f}% > {delta_allowed}%")]
    return []


def _metric(path: Path, metric: str) -> float | None:
    value = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.match(ACC_PATTERN[metric], line)
        if match:
            value = float(match.group(1))
    return value


def _verify_performance(test: str, test_dir: Path, rules: BenchmarkRules, version: Version, scenario: str,
                        division: str, category: str, network: bool = False) -> list[tuple[str, str]]:
    rule, problems = f"compliance-{test}", []
    verify = test_dir / "verify_performance.txt"
    if not verify.is_file():
        problems.append((rule, f"{test}: no verify_performance.txt in {test_dir}"))
    elif not any("TEST PASS" in line for line in _lines(verify)):
        problems.append((rule, f"{test} performance verification failed (no TEST PASS in {verify})"))
    run_dir = test_dir / "performance" / "run_1"
    diff = files_diff(list_files(run_dir), REQUIRED_PERF_FILES, ("mlperf_log_accuracy.json",))
    if not run_dir.is_dir() or diff:
        problems.append((rule, f"{test}: {run_dir} must hold {', '.join(REQUIRED_PERF_FILES)}"
                               + (f" (missing or extra: {', '.join(sorted(diff))})" if diff else "")))
    detail = run_dir / "mlperf_log_detail.txt"
    if detail.is_file():
        try:
            log = parse_detail(detail)
        except LogFormatError as exc:
            return problems + [(rule, str(exc))]
        # checker: config.test05_seeds when the path names TEST05, else the round's seeds
        seeds = version.test05_seeds if test == "TEST05" else None
        found, _ = check_performance(log, rules, version, scenario_folder=scenario, division=division,
                                     category=category, compliance=True, seeds=seeds, network=network)
        problems += [(rule, f"{test} performance run: [{r}] {m}") for r, m in found]
    return problems
