"""rnnt through the whole harness: the suite's cases on the proxy (Offline accuracy
and performance on PyTorch: ONNX Runtime, the family's default backend, runs every scenario in suites/), the official line from ``python -m harness accuracy``,
and the accuracy gate failing a broken pipeline (a wrong feature stride, a dropped blank)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jiwer", reason="rnnt's word error rate is computed with jiwer")
pytest.importorskip("onnxruntime", reason="the ONNX proxy runs on ONNX Runtime")
pytest.importorskip("torch", reason="the PyTorch proxy runs on torch")

from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.provision import provision  # noqa: E402
from harness.registry.loader import load_benchmark  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "rnnt"
PROXY_DATASET = FAMILY_DIR / "proxy" / "librispeech-tones"
OFFICIAL = r"^Word Error Rate: \d+\.\d+%, accuracy=\d+\.\d+%$"
BENCH = load_benchmark(FAMILY_DIR / "benchmark.toml")


@pytest.fixture
def suite(pytester, nested_run_lock):
    """An inner pytest session holding the benchmark suite, as a user runs it."""
    shutil.copy(ROOT / "suites" / "test_mlperf.py", pytester.path / "test_mlperf.py")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.getbasetemp().parent / "mlperf-cache"


def _accuracy_command(log: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", "accuracy",
         "--benchmark", "rnnt", "--log", str(log), "--dataset", str(PROXY_DATASET)],
        cwd=ROOT, capture_output=True, text=True)


def test_offline_passes_on_pytorch_and_the_command_prints_the_official_line(suite, cache, tmp_path):
    # ONNX Runtime, the family's default backend, runs every scenario and mode in suites/ (make test); PyTorch's Offline runs here, its other scenarios in make matrix
    out = tmp_path / "out"
    result = suite.runpytest_subprocess(
        "--mlperf-model", "rnnt", "--mlperf-backend", "pytorch", "--mlperf-scenario", "Offline",
        "--mlperf-device", "cpu", "--mlperf-precision", "fp32", "--mlperf-mode", "accuracy,performance",
        "--rootdir", str(suite.path), "--mlperf-cache", str(cache), "--mlperf-output", str(out))
    result.assert_outcomes(passed=2)
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    for backend in ("pytorch",):
        for scenario in ("Offline",):
            accuracy = cases[f"rnnt-{backend}-cpu-fp32-{scenario}-accuracy"]["accuracy"]
            assert (accuracy["metric"], accuracy["value"]) == ("ACCURACY", BENCH.proxy.reference)
            assert accuracy["threshold"] == pytest.approx(BENCH.proxy.reference * 0.99)
            performance = cases[f"rnnt-{backend}-cpu-fp32-{scenario}-performance"]["performance"]
            assert performance["result_validity"] == "VALID"
    folder = out / "rnnt-pytorch-cpu-fp32-Offline-accuracy"
    line = (folder / "accuracy.txt").read_text().splitlines()[0]
    assert re.match(OFFICIAL, line), line
    printed = _accuracy_command(folder / "mlperf_log_accuracy.json")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == [line]


@pytest.fixture(scope="module")
def provisioned(cache):
    return provision(BENCH, "onnxruntime", "fp32", cache_dir=cache)


@pytest.mark.parametrize("options", [{"window_stride": 0.02}, {"remove_blanks_first": True}],
                         ids=["features-every-20-ms", "blank-dropped-before-merging"])
def test_a_broken_pipeline_fails_the_gate(provisioned, options, tmp_path):
    case = Case("rnnt", "onnxruntime", "cpu", "fp32", "Offline", "accuracy")
    result = execute_case(case, BENCH, provisioned, RunOptions(task_options=options), tmp_path / "broken")
    assert not result.passed
    assert result.accuracy.value < result.accuracy.threshold
    message = "\n".join(result.failures)
    assert "accuracy gate failed" in message and str(tmp_path / "broken" / "mlperf_log_accuracy.json") in message
    assert re.match(OFFICIAL, (tmp_path / "broken" / "accuracy.txt").read_text().splitlines()[0])


def test_the_command_names_a_bad_log_and_exits_2(tmp_path):
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 99, "data": ""}]))
    printed = _accuracy_command(log)
    assert printed.returncode == 2
    assert f"{log}: entry 0: qsl_idx 99 is outside the dataset's 40 utterances" in printed.stderr
