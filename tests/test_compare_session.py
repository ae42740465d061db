"""--mlperf-compare in a real session: an inflated baseline fails the cases it beats, with both figures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "cpu",
             "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline,SingleStream", "--mlperf-mode", "performance")
OFFLINE = "resnet50-onnxruntime-cpu-fp32-Offline-performance"
SINGLE = "resnet50-onnxruntime-cpu-fp32-SingleStream-performance"


@pytest.fixture
def suite(cached_suite):
    return cached_suite


def _run(suite, out, *args):
    result = suite.runpytest_subprocess(*SELECTION, "--mlperf-cache", str(suite.cache_dir),
                                        "--mlperf-output", str(out), *args)
    return result, json.loads((out / "results.json").read_text())


def _scaled(document: dict, throughput: float, latency: float) -> dict:
    baseline = json.loads(json.dumps(document))
    for case in baseline["cases"]:
        perf = case.get("performance")
        if perf:
            perf["value"] *= throughput if perf["unit"] == "samples/s" else latency
    return baseline


def test_an_inflated_baseline_fails_each_case_with_both_figures(suite, tmp_path):
    first, document = _run(suite, tmp_path / "first")
    first.assert_outcomes(passed=2)
    baseline = tmp_path / "baseline.json"
    # The baseline claims ten times the throughput and a tenth of the latency:
    # far past any run-to-run spread of a busy 2-core machine.
    baseline.write_text(json.dumps(_scaled(document, 10.0, 0.1)))
    again, compared = _run(suite, tmp_path / "again", "--mlperf-compare", str(baseline))
    again.assert_outcomes(failed=2)
    cases = {c["id"]: c for c in compared["cases"]}
    for case_id in (OFFLINE, SINGLE):
        message = cases[case_id]["message"]
        assert f"regression against {baseline}: {case_id}: " in message
        assert "against the baseline's" in message and "worse than the 5% allowed" in message
    assert [r["case_id"] for r in compared["comparison"]["regressions"]] == [OFFLINE, SINGLE]
    again.stdout.fnmatch_lines(["*MLPerf comparison*", f"REGRESSION {OFFLINE}: *",
                                f"report: {tmp_path / 'again' / 'report.html'} (summary: *summary.md)"])
    # the session's report shows the cases and the comparison beside results.json
    page = (tmp_path / "again" / "report.html").read_text()
    assert OFFLINE in page and SINGLE in page and "regression" in page.lower()
    summary = (tmp_path / "again" / "summary.md").read_text()
    assert f"| {OFFLINE} | failed |" in summary


def test_a_baseline_within_the_allowance_passes_and_missing_cases_are_listed(suite, tmp_path):
    first, document = _run(suite, tmp_path / "first")
    baseline = _scaled(document, 0.1, 10.0)  # this run is far faster than the baseline: an improvement
    baseline["cases"].append({**baseline["cases"][0], "id": "resnet50-onnxruntime-cpu-fp32-Server-performance"})
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    again, compared = _run(suite, tmp_path / "again", "--mlperf-compare", str(path))
    again.assert_outcomes(passed=2)
    assert compared["comparison"]["regressions"] == []
    assert compared["comparison"]["only_in_baseline"] == ["resnet50-onnxruntime-cpu-fp32-Server-performance"]


@pytest.mark.parametrize("content, expected", [
    ("not json", "*--mlperf-compare: *baseline.json*"),
    (json.dumps({"machine": {}}), "*--mlperf-compare: *baseline.json*cases*"),
])
def test_a_bad_baseline_is_refused_before_anything_runs(suite, tmp_path, content, expected):
    path = tmp_path / "baseline.json"
    path.write_text(content)
    result = suite.runpytest_subprocess(*SELECTION, "--mlperf-compare", str(path), "--mlperf-output", str(tmp_path / "o"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_a_negative_allowance_is_refused(suite, tmp_path):
    result = suite.runpytest_subprocess(*SELECTION, "--mlperf-compare-fail", "-1", "--mlperf-output", str(tmp_path / "o"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlperf-compare-fail -1.0: expected a percentage >= 0*"])
