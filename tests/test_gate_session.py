"""--mlperf-gate in a real session: exactly the gated cases run, and the session fails on any miss or skip."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom-benchmark"
PREFIX = "example-classifier-onnxruntime-cpu"
ACCURACY = f"{PREFIX}-fp32-Offline-accuracy"
OFFLINE = f"{PREFIX}-fp32-Offline-performance"

pytest.importorskip("onnxruntime", reason="the example's model runs on ONNX Runtime")


def _gate(tmp_path, text: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


def _run(suite, tmp_path, gate: Path, *args):
    out = tmp_path / "out"
    result = suite.runpytest_subprocess("--mlperf-registry", str(EXAMPLE), "--mlperf-gate", str(gate),
                                        "--mlperf-cache", str(tmp_path / "cache"), "--mlperf-output", str(out), *args)
    return result, out


def test_a_gate_the_machine_meets_passes_and_runs_only_its_cases(suite, tmp_path):
    gate = _gate(tmp_path, f'[[case]]\nid = "{ACCURACY}"\nmetric = "accuracy"\nmin = 90\n\n'
                           f'[[case]]\nid = "{OFFLINE}"\nmin = 1\n')
    result, out = _run(suite, tmp_path, gate)
    assert result.ret == 0
    result.assert_outcomes(passed=2)
    document = json.loads((out / "results.json").read_text())
    assert [c["id"] for c in document["cases"]] == [ACCURACY, OFFLINE]
    assert document["gate"]["passed"] is True
    result.stdout.fnmatch_lines(["*MLPerf gate*", f"MET*{ACCURACY}*"])
    assert "| " + ACCURACY in (out / "summary.md").read_text()


def test_a_figure_the_machine_cannot_reach_fails_the_session_with_both_numbers(suite, tmp_path):
    gate = _gate(tmp_path, f'[[case]]\nid = "{OFFLINE}"\nmin = 1e12\n')
    result, out = _run(suite, tmp_path, gate)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1)  # the case itself passed: the gate is what fails
    row = json.loads((out / "results.json").read_text())["gate"]["cases"][0]
    assert row["outcome"] == "missed" and row["requirement"].startswith(">= ") and "samples/s" in row["measured"]
    result.stdout.fnmatch_lines([f"MISSED*{OFFLINE}: requires >= *measured*"])


def test_a_skipped_gated_case_fails_the_gate_with_its_reason(suite, tmp_path):
    skipped = f"{PREFIX}-fp16-Offline-performance"
    gate = _gate(tmp_path, f'[[case]]\nid = "{skipped}"\nmin = 1\n')
    result, out = _run(suite, tmp_path, gate)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    row = json.loads((out / "results.json").read_text())["gate"]["cases"][0]
    assert row["outcome"] == "skipped" and "the example ships one fp32 ONNX model" in row["why"]


def test_an_unknown_id_is_refused_before_anything_runs(suite, tmp_path):
    gate = _gate(tmp_path, f'[[case]]\nid = "{PREFIX}-fp32-Offline-performanse"\nmin = 1\n')
    result, _ = _run(suite, tmp_path, gate)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--mlperf-gate: *performanse*{OFFLINE}*"])


def test_a_gate_with_a_selection_is_refused(suite, tmp_path):
    gate = _gate(tmp_path, f'[[case]]\nid = "{OFFLINE}"\nmin = 1\n')
    result, _ = _run(suite, tmp_path, gate, "--mlperf-scenario", "Offline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlperf-gate runs exactly the cases its file names*"])
