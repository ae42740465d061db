"""The benchmark suite run as a user runs it (inner pytest sessions, real LoadGen)."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "cpu",
             "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline,SingleStream")
CONTRACT_KEYS = {"id", "model", "backend", "device", "precision", "scenario", "mode", "outcome", "log_dir",
                 "dataset", "model_file", "run_style", "accuracy", "performance", "settings", "started",
                 "duration_s"}


@pytest.fixture
def suite(cached_suite):
    return cached_suite


def _results(suite, out, *args):
    result = suite.runpytest_subprocess(*SELECTION, "--rootdir", str(suite.path), "--mlperf-cache", str(suite.cache_dir),
                                        "--mlperf-output", str(out), *args)
    document = json.loads((out / "results.json").read_text())
    return result, document


def test_serial_and_xdist_give_the_same_outcomes_and_one_results_file(suite):
    serial, serial_doc = _results(suite, suite.path / "serial")
    parallel, parallel_doc = _results(suite, suite.path / "parallel", "-n", "2")
    assert serial.ret == parallel.ret == 0
    outcomes = {c["id"]: c["outcome"] for c in serial_doc["cases"]}
    assert outcomes == {c["id"]: c["outcome"] for c in parallel_doc["cases"]}
    assert sorted(outcomes) == sorted(
        f"resnet50-onnxruntime-cpu-fp32-{s}-{m}" for s in ("Offline", "SingleStream") for m in ("accuracy", "performance")
    )
    assert set(outcomes.values()) == {"passed"}
    # both workers ran cases, yet no LoadGen run overlapped a performance run:
    # the run lock gives each performance run the machine alone
    assert {c["worker"] for c in parallel_doc["cases"]} == {"gw0", "gw1"}
    spans = {c["id"]: _loadgen_span(Path(c["log_dir"])) for c in parallel_doc["cases"]}
    for case in parallel_doc["cases"]:
        if case["mode"] != "performance":
            continue
        start, end = spans[case["id"]]
        overlapping = [other for other, (s, e) in spans.items() if other != case["id"] and s < end and e > start]
        assert not overlapping, f"{case['id']} ran while {overlapping} ran"


def _loadgen_span(case_dir: Path) -> tuple[float, float]:
    """When a LoadGen run went, in wall-clock seconds: it logs time_ms from its own
    start, and its detail log's last write is the run's end (inside the run lock)."""
    detail = case_dir / "mlperf_log_detail.txt"
    last_ms = max(json.loads(line.split(":::MLLOG ", 1)[1])["time_ms"]
                  for line in detail.read_text().splitlines() if ":::MLLOG " in line)
    end = detail.stat().st_mtime
    return end - last_ms / 1000.0, end


def test_results_json_and_junit_follow_the_contract(suite):
    out = suite.path / "out"
    result, document = _results(suite, out, "--mlperf-mode", "accuracy,performance", "-k", "Offline")
    assert result.ret == 0
    assert set(document) == {"cases", "machine", "versions"}
    assert document["versions"]["loadgen"] == "6.0.17"
    assert document["versions"]["frameworks"]["onnxruntime"]
    cases = {c["mode"]: c for c in document["cases"]}
    for case in cases.values():
        assert CONTRACT_KEYS <= set(case)
        for key in ("log_dir", "dataset", "model_file"):
            assert Path(case[key]).is_absolute() and Path(case[key]).exists()
        assert case["settings"]["backend"]["execution_provider"] == "CPUExecutionProvider"
        assert case["settings"]["loadgen"]["effective_qsl_rng_seed"] == 2085463073848966840
    accuracy, performance = cases["accuracy"], cases["performance"]
    assert accuracy["accuracy"]["metric"] == "top1"
    assert accuracy["accuracy"]["reference"] == pytest.approx(95.6)
    assert accuracy["accuracy"]["threshold"] == pytest.approx(95.6 * 0.99)
    assert accuracy["performance"] is None and performance["accuracy"] is None
    assert performance["performance"]["metric"] == "result_samples_per_second"
    assert performance["performance"]["result_validity"] == "VALID"
    assert performance["performance"]["value"] > 0
    log_dir = Path(accuracy["log_dir"])
    assert {"mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "mlperf_log_trace.json",
            "user.conf", "accuracy.txt"} <= {p.name for p in log_dir.iterdir()}
    assert (log_dir / "accuracy.txt").read_text().startswith(
        f"accuracy={accuracy['accuracy']['value']:.3f}%, good=")
    conf = (Path(performance["log_dir"]) / "user.conf").read_text()
    assert "# origin: run style 'test'\nresnet50.Offline.min_duration = 0" in conf
    assert "(origin: mlperf.conf, built into LoadGen)" in conf
    junit = ET.parse(out / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert props["mlperf_performance_result_validity"] == "VALID"
    assert "MLPerf summary" in result.stdout.str()


def test_the_reference_follows_what_the_model_and_dataset_are(suite, proxy_resnet50, tmp_path):
    onnx = pytest.importorskip("onnx", reason="a model other than the proxy is the proxy re-saved with onnx")
    copy = tmp_path / "my_model.onnx"
    shutil.copy(proxy_resnet50.model_path, copy)
    other = tmp_path / "other_model.onnx"  # same graph, other bytes: not the proxy
    model = onnx.load(str(proxy_resnet50.model_path))
    model.producer_name = "someone else"
    onnx.save(model, str(other))
    same = tmp_path / "imagenet-copy"
    shutil.copytree(proxy_resnet50.dataset_dir, same)
    mine = tmp_path / "imagenet-mine"  # the proxy's images less the last: another dataset
    shutil.copytree(proxy_resnet50.dataset_dir, mine)
    lines = (mine / "val_map.txt").read_text().splitlines()
    (mine / "val_map.txt").write_text("\n".join(lines[:-1]) + "\n")

    def case(name, model, dataset, *extra):
        out = suite.path / name
        result, document = _results(suite, out, "--mlperf-mode", "accuracy", "-k", "Offline",
                                    "--mlperf-model-path", str(model), "--mlperf-dataset-path", str(dataset), *extra)
        (record,) = document["cases"]
        return result, record

    # copies of the proxy's files are the proxy: its own measured reference
    result, record = case("copies", copy, same)
    assert result.ret == 0 and record["accuracy"]["reference"] == pytest.approx(95.6)
    assert record["model_file"] == str(copy) and record["dataset"] == str(same)
    assert "recognised by content" in record["reference_reason"]
    # another model on another dataset: MLPerf's FP32 reference
    result, record = case("real", other, mine)
    assert record["accuracy"]["reference"] == 76.46 and record["outcome"] == "passed"
    assert "other than the proxy" in record["reference_reason"]
    # the proxy model on another dataset: no reference exists, the case fails saying so
    result, record = case("mixed", copy, mine)
    assert result.ret == pytest.ExitCode.TESTS_FAILED and record["outcome"] == "failed"
    assert record["message"].startswith("resnet50: no FP32 reference exists for the proxy model on the dataset")
    assert "--mlperf-reference-accuracy" in record["message"]
    result.stdout.fnmatch_lines(["*no FP32 reference exists for the proxy model*"])
    # ... unless the user gives one
    result, record = case("given", copy, mine, "--mlperf-reference-accuracy", "90")
    assert result.ret == 0
    assert record["accuracy"]["reference"] == 90.0 and record["accuracy"]["threshold"] == pytest.approx(89.1)
    assert record["reference_reason"] == "--mlperf-reference-accuracy was given"


def test_real_source_offline_without_a_cached_model_errors_naming_the_url(suite, tmp_path):
    out = suite.path / "real"
    result = suite.runpytest_subprocess(*SELECTION, "--mlperf-cache", str(tmp_path / "empty-cache"),
                                        "--mlperf-output", str(out), "--mlperf-mode", "accuracy", "-k", "Offline",
                                        "--mlperf-source", "real", "--mlperf-offline")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*https://zenodo.org/record/4735647/files/resnet50_v1.onnx*"])
    (case,) = json.loads((out / "results.json").read_text())["cases"]
    assert case["outcome"] == "failed"
