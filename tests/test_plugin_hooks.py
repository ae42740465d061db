"""The plugin's hooks (harness/pytest_plugin/hookspec.py) as a conftest.py uses them, and what results.json lists."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom-benchmark"

pytest.importorskip("onnxruntime", reason="the example's model runs on ONNX Runtime")

CONFTEST = '''
def pytest_mlperf_case_record(record, case):
    record.extra["rack"] = "B7"
    record.extra["id"] = "must not replace the contract's id"
    if case.mode == "performance":
        record.extra["power_cap_w"] = 300


def pytest_mlperf_machine_info(machine, config):
    machine["accelerator"] = "none"
'''


def test_hooks_amend_each_case_record_and_the_machine(suite, tmp_path):
    suite.makeconftest(CONFTEST)
    out = tmp_path / "out"
    result = suite.runpytest_subprocess("--mlperf-registry", str(EXAMPLE), "--mlperf-model", "example-classifier",
                                        "--mlperf-cache", str(tmp_path / "cache"), "--mlperf-output", str(out), "-n", "2")
    result.assert_outcomes(passed=4, skipped=60)
    document = json.loads((out / "results.json").read_text())
    assert document["machine"]["accelerator"] == "none"
    ran = [c for c in document["cases"] if c["outcome"] == "passed"]
    assert all(c["rack"] == "B7" for c in ran)
    # a skipped case is decided too: the hook saw it
    assert all(c["rack"] == "B7" for c in document["cases"] if c["outcome"] == "skipped")
    assert all(c["id"].startswith("example-classifier-") for c in document["cases"])
    assert {c["id"]: c.get("power_cap_w") for c in ran} == {
        "example-classifier-onnxruntime-cpu-fp32-Offline-accuracy": None,
        "example-classifier-onnxruntime-cpu-fp32-Offline-performance": 300,
        "example-classifier-onnxruntime-cpu-fp32-SingleStream-accuracy": None,
        "example-classifier-onnxruntime-cpu-fp32-SingleStream-performance": 300,
    }
    # versions name the frameworks the runs imported, at the versions they ran
    import onnxruntime

    assert document["versions"]["frameworks"]["onnxruntime"] == onnxruntime.__version__
    assert all(c["frameworks"] == {"onnxruntime": onnxruntime.__version__} for c in ran)


def test_a_child_reports_the_frameworks_it_imported():
    from harness.runner.child import imported_frameworks

    found = imported_frameworks()
    assert all(name in sys.modules for name in ("onnxruntime",)) and found["onnxruntime"]
    assert "tensorflow-cpu" not in found or "tensorflow" in sys.modules
