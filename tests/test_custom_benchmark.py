"""Bring your own benchmark: examples/custom-benchmark run end to end from outside the project's registry."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="the example's model is an ONNX file run by ONNX Runtime")
pytest.importorskip("sklearn", reason="the example's data is scikit-learn's bundled digits")

from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.provision import provision  # noqa: E402
from harness.registry.loader import REGISTRY_DIR, _load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom-benchmark"


def _registry():
    return _load((REGISTRY_DIR, EXAMPLE))


def test_the_example_script_makes_the_committed_model_and_data(tmp_path):
    subprocess.run([sys.executable, str(EXAMPLE / "make_proxy.py"), str(tmp_path)], check=True, capture_output=True)
    for name in ("proxy/classifier.onnx", "proxy/reference.json", "data/digits.csv"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), (
            f"{name} differs from what make_proxy.py makes: rerun python examples/custom-benchmark/make_proxy.py")
    reference = json.loads((EXAMPLE / "proxy" / "reference.json").read_text())["accuracy"]
    bench = _registry()["example-classifier"]
    assert bench.proxy.reference == reference and reference > 50  # chance is 10%


def test_the_registry_folder_adds_the_family_and_leaves_the_built_in_ones(tmp_path):
    registry = _registry()
    assert "example-classifier" in registry and "resnet50" in registry
    assert registry["example-classifier"].home == str(EXAMPLE.resolve())
    assert "example-classifier" not in _load((REGISTRY_DIR,))


def test_the_suite_runs_the_example_from_its_folder(suite, tmp_path):
    out = tmp_path / "out"
    result = suite.runpytest_subprocess(
        "--mlperf-registry", str(EXAMPLE), "--mlperf-model", "example-classifier",
        "--rootdir", str(suite.path), "--mlperf-cache", str(tmp_path / "cache"), "--mlperf-output", str(out))
    result.assert_outcomes(passed=4, skipped=60)
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"] if c["outcome"] == "passed"}
    accuracy = cases["example-classifier-onnxruntime-cpu-fp32-Offline-accuracy"]["accuracy"]
    assert accuracy["value"] == pytest.approx(96.0) and accuracy["threshold"] == pytest.approx(96.0 * 0.99)
    assert cases["example-classifier-onnxruntime-cpu-fp32-Offline-performance"]["performance"]["result_validity"] == "VALID"
    log = out / "example-classifier-onnxruntime-cpu-fp32-Offline-accuracy" / "mlperf_log_accuracy.json"
    printed = subprocess.run(
        [sys.executable, "-m", "harness", "accuracy", "--registry", str(EXAMPLE), "--benchmark", "example-classifier",
         "--log", str(log), "--dataset", str(EXAMPLE / "data")], cwd=ROOT, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0] == "accuracy=96.000%, good=432, total=450"


def test_a_broken_example_pipeline_fails_the_gate(tmp_path):
    bench = _registry()["example-classifier"]
    prov = provision(bench, "onnxruntime", "fp32", cache_dir=tmp_path / "cache")
    case = Case("example-classifier", "onnxruntime", "cpu", "fp32", "Offline", "accuracy")
    result = execute_case(case, bench, prov, RunOptions(task_options={"label_offset": 1}), tmp_path / "broken")
    assert not result.passed and result.accuracy.value < 20.0
    assert "accuracy gate failed" in "\n".join(result.failures)


def test_an_unknown_registry_folder_is_a_usage_error(suite, tmp_path):
    result = suite.runpytest_subprocess("--mlperf-registry", str(tmp_path / "nowhere"), "--mlperf-model", "resnet50")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--mlperf-registry: {tmp_path / 'nowhere'}: no such registry folder*"])
