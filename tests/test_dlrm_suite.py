"""The dlrm-v2 family through the whole harness: the suite's cases, the accuracy command, the gate biting.

The suite runs as a user runs it (an inner pytest session, real LoadGen, one
child process per case): Offline accuracy and performance on PyTorch (ONNX
Runtime, the family's default backend, runs both scenarios in suites/; PyTorch's
Server in make matrix), and the tighter variant's
accuracy gate. A dataset whose label column is shuffled across the rows
must fail the gate (the proxy model's scores no longer belong to the labels).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the dlrm-v2 proxy runs on ONNX Runtime (and PyTorch)")
pytest.importorskip("sklearn", reason="the AUC is sklearn's roc_auc_score, as accuracy-dlrm.py computes it")

from harness.case_run import execute_case  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.provision import provision  # noqa: E402
from harness.registry.loader import load_family  # noqa: E402
from harness.registry.parts import dataset_format  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "dlrm"
RECORD = json.loads((FAMILY_DIR / "proxy" / "proxy.json").read_text())
LABELS_FILE = "day_23_labels.npy"

# ONNX Runtime, the family's default backend, runs every scenario and mode in suites/ (make test); PyTorch's Offline runs here, its other scenarios in make matrix
CASES = [f"dlrm-v2-99-{backend}-cpu-fp32-{scenario}-{mode}" for backend in ("pytorch",)
         for scenario in ("Offline",) for mode in ("accuracy", "performance")]
CASES.append("dlrm-v2-99.9-pytorch-cpu-fp32-Offline-accuracy")


@pytest.fixture(scope="module")
def benchmarks():
    return {bench.name: bench for bench in load_family(FAMILY_DIR / "benchmark.toml")}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.getbasetemp().parent / "mlperf-cache"  # shared with the family's other tests


@pytest.fixture
def suite(pytester, nested_run_lock):
    """An inner pytest session holding the benchmark suite, as a user runs it."""
    shutil.copy(ROOT / "suites" / "test_mlperf.py", pytester.path / "test_mlperf.py")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\njunit_family = xunit1\n")
    return pytester


def test_offline_passes_on_pytorch_and_the_accuracy_command_agrees(suite, cache, benchmarks):
    out = suite.path / "out"
    result = suite.runpytest_subprocess(
        *[f"test_mlperf.py::test_mlperf[{case}]" for case in CASES],
        "--mlperf-cache", str(cache), "--mlperf-output", str(out), "--mlperf-progress", "0")
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    assert set(cases) == set(CASES)
    for case_id, case in cases.items():
        print(f"{case_id}: {case['outcome']} in {case['duration_s'] or 0:.1f} s")  # the durations, with -s
    failed = {i: c["message"] for i, c in cases.items() if c["outcome"] != "passed"}
    assert not failed
    assert result.ret == 0
    for case_id, case in cases.items():
        if case["mode"] == "accuracy":
            accuracy = case["accuracy"]
            ratio = 0.999 if case_id.startswith("dlrm-v2-99.9") else 0.99
            assert accuracy["metric"] == "AUC" and accuracy["reference"] == pytest.approx(RECORD["reference_auc"])
            assert accuracy["threshold"] == pytest.approx(RECORD["reference_auc"] * ratio)
            assert accuracy["value"] == pytest.approx(RECORD["reference_auc"], abs=0.01)
            assert (Path(case["log_dir"]) / "accuracy.txt").read_text().splitlines()[0] == RECORD["official_line"]
        else:
            performance = case["performance"]
            assert performance["result_validity"] == "VALID"
            loadgen = case["settings"]["loadgen"]
            if case["scenario"] == "Server":  # MLPerf's 60 ms bound, from the built-in mlperf.conf
                assert loadgen["effective_target_latency_ns"] == 60_000_000
                # the family's test style: a fixed rate and query count (benchmark.toml)
                assert (loadgen["effective_target_qps"], loadgen["effective_min_query_count"]) == (150, 3072)
            else:  # one query of the family's test-style sample count
                assert (loadgen["effective_min_query_count"], loadgen["effective_samples_per_query"]) == (1, 4096)
            assert loadgen["effective_performance_sample_count"] == 204800  # mlperf.conf (the QSL holds 1,032)

    # python -m harness accuracy prints the official script's line for the run's log
    log = out / "dlrm-v2-99-pytorch-cpu-fp32-Offline-accuracy" / "mlperf_log_accuracy.json"
    dataset = dataset_format(benchmarks["dlrm-v2-99"]).proxy_directory(benchmarks["dlrm-v2-99"], cache)
    printed = subprocess.run(
        [sys.executable, "-m", "harness", "accuracy",
         "--benchmark", "dlrm-v2-99", "--log", str(log), "--dataset", str(dataset)],
        cwd=ROOT, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == [RECORD["official_line"]]


def test_a_shuffled_label_column_fails_the_gate(benchmarks, cache, tmp_path):
    bench = benchmarks["dlrm-v2-99"]
    proxy_dir = dataset_format(bench).proxy_directory(bench, cache)
    shuffled = tmp_path / "shuffled"
    shutil.copytree(proxy_dir, shuffled)
    labels = np.load(proxy_dir / LABELS_FILE)
    np.save(shuffled / LABELS_FILE, labels[np.random.default_rng(5).permutation(len(labels))])
    # Not the proxy's dataset any more (recognised by content): the proxy's reference is given
    # explicitly, so the gate compares with what the unbroken pairing reaches.
    prov = provision(bench, "onnxruntime", "fp32", cache_dir=cache, dataset_path=shuffled,
                     reference_accuracy={"AUC": bench.proxy.reference})
    case = Case("dlrm-v2-99", "onnxruntime", "cpu", "fp32", "Offline", "accuracy")
    result = execute_case(case, bench, prov, RunOptions(), tmp_path / "run")
    assert not result.passed
    assert abs(result.accuracy.value - 50.0) < 2.0  # chance: the scores no longer belong to the labels
    assert "accuracy gate failed: AUC" in "\n".join(result.failures)
    assert result.accuracy_line.startswith("AUC=")
