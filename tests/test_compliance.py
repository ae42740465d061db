"""The compliance audits (harness/compliance): audit.config texts, which tests a
benchmark needs, and TEST01/TEST04/TEST06 on genuine LoadGen runs.

The runs are real LoadGen tests on an instant SUT, each in its own process
whose working directory holds the audit.config (LoadGen reads it from there).
This file is also that child: ``python tests/test_compliance.py OUTDIR SCENARIO
MODE KIND`` (KIND ``index``: float32 [qsl_idx + 0.25, 7.0] per sample;
``tokens``: int32 token ids ending in EOS, with their count, the first token
streamed outside Offline). Figures a verdict compares (throughput) are set in
copies of the logs, so that no verdict depends on this machine's speed.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import compliance
from harness.compliance import ComplianceError
from harness.logs.detail import parse_detail

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf

EOS = 2  # Llama's </s>, the default EOS for llama2-70b
TEST01_FILES = {"verify_accuracy.txt", "verify_performance.txt", "accuracy/mlperf_log_accuracy.json",
                "performance/run_1/mlperf_log_summary.txt", "performance/run_1/mlperf_log_detail.txt"}

# (name, scenario, mode, response kind, the audit.config in its working directory as (test, model) or None)
RUNS = {
    "accuracy": ("Offline", "AccuracyOnly", "index", None),
    "performance": ("Offline", "PerformanceOnly", "index", None),
    "test01": ("Offline", "PerformanceOnly", "index", ("TEST01", "resnet50")),
    "test04": ("Offline", "PerformanceOnly", "index", ("TEST04", "resnet50")),
    "test06-offline": ("Offline", "PerformanceOnly", "tokens", ("TEST06", "llama2-70b-99")),
    "test06-server": ("Server", "PerformanceOnly", "tokens", ("TEST06", "llama2-70b-99")),
}


# ---------------------------------------------------------------- the LoadGen child

def _payload(kind: str, index: int) -> np.ndarray:
    if kind == "index":
        return np.array([index + 0.25, 7.0], np.float32)
    return np.array([10 + index % 50, *range(11, 12 + index % 4), EOS], np.int32)


def _child(argv: list[str]) -> int:
    import mlperf_loadgen as lg

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from loadgen_tiny_run import PERFORMANCE_SAMPLES, REDUCED, TOTAL_SAMPLES

    outdir, scenario, mode, kind = argv
    issued: list[int] = []
    keep: list[np.ndarray] = []  # LoadGen reads the bytes during the call; keep them alive anyway

    def issue_queries(samples):
        responses = []
        for sample in samples:
            issued.append(sample.index)
            data = _payload(kind, sample.index)
            keep.append(data)
            if kind == "tokens" and scenario != "Offline":
                first = data[:1].copy()
                keep.append(first)
                lg.FirstTokenComplete([lg.QuerySampleResponse(sample.id, first.ctypes.data, first.nbytes, 1)])
            extra = (len(data),) if kind == "tokens" else ()
            responses.append(lg.QuerySampleResponse(sample.id, data.ctypes.data, data.nbytes, *extra))
        # Complete every query at once: an SUT that never completes one hangs LoadGen.
        lg.QuerySamplesComplete(responses)

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = getattr(lg.TestMode, mode)
    for name, value in REDUCED[scenario].items():
        setattr(settings, name, value)
    if kind == "tokens":
        settings.use_token_latencies = True
        # Equal issue on, as mlperf.conf has it for the LLMs: TEST06's audit.config turns it off.
        settings.sample_concatenate_permutation = True
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = outdir
    log_settings.log_output.copy_summary_to_stdout = False
    sut = lg.ConstructSUT(issue_queries, lambda: None)
    qsl = lg.ConstructQSL(TOTAL_SAMPLES, PERFORMANCE_SAMPLES, lambda indices: None, lambda indices: None)
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    Path(outdir, "issued.json").write_text(json.dumps(issued), encoding="utf-8")
    return 0


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> dict[str, Path]:
    """The runs of RUNS, side by side, one process each (read-only: copy before editing)."""
    base = tmp_path_factory.mktemp("compliance-runs")
    started = []
    for name, (scenario, mode, kind, audit) in RUNS.items():
        folder = base / name
        folder.mkdir()
        if audit is not None:
            compliance.write_audit_config(audit[0], audit[1], scenario, folder)
        command = [sys.executable, str(Path(__file__).resolve()), str(folder), scenario, mode, kind]
        child = subprocess.Popen(command, cwd=folder, env=lf.subprocess_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        started.append((folder, child))
    for folder, child in started:
        try:
            output, _ = child.communicate(timeout=lf.LOADGEN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            output, _ = child.communicate()
            pytest.fail(f"LoadGen run in {folder} did not finish in {lf.LOADGEN_TIMEOUT_S} s:\n{output}")
        assert child.returncode == 0, f"LoadGen run in {folder} exited {child.returncode}:\n{output}"
    return {name: base / name for name in RUNS}


@pytest.fixture
def runs(genuine, tmp_path) -> dict[str, Path]:
    """Editable copies of the genuine runs."""
    return {name: Path(shutil.copytree(folder, tmp_path / "runs" / name)) for name, folder in genuine.items()}


def _entries(run: Path) -> list[dict]:
    return json.loads((run / "mlperf_log_accuracy.json").read_text(encoding="utf-8"))


def _write_entries(run: Path, entries: list[dict]) -> None:
    (run / "mlperf_log_accuracy.json").write_text(json.dumps(entries), encoding="utf-8")


def _hex(array: np.ndarray) -> str:
    return array.tobytes().hex().upper()


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _set_scores(runs: dict[str, Path], reference: float, compliance_run: str, test: float) -> None:
    """Fix the Offline throughput both audits compare, in both logs of each run."""
    for name, value in (("performance", reference), (compliance_run, test)):
        lf.set_detail_value(runs[name], "result_samples_per_second", value)
        lf.set_summary_line(runs[name], "Samples per second", f"{value}")


def _verify_test01(runs, out: Path, **options):
    return compliance.verify("TEST01", compliance_dir=runs["test01"], accuracy_dir=runs["accuracy"],
                             performance_dir=runs["performance"], out_dir=out, model=options.pop("model", "resnet50"),
                             scenario="Offline", **options)


# ---------------------------------------------------------------- audit.config texts

@pytest.mark.parametrize("model, target", [
    ("resnet50", 4096), ("bert-99", 4096), ("dlrm-v2-99.9", 4096), ("retinanet", 256),
    ("3d-unet-99.9", 64), ("stable-diffusion-xl", 128),
])
def test_test01_audit_config_has_the_benchmarks_sampling_target(model, target):
    text = compliance.audit_config_text("TEST01", model, "Offline")
    keys = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert keys == ["*.*.mode = 2", "*.*.accuracy_log_rng_seed = 720381539243781796",
                    f"*.*.accuracy_log_sampling_target = {target}"]
    assert text.startswith("# The format of this config file is 'key = value'.\n") and text.endswith("\n")


def test_test04_audit_config_is_one_file_with_every_scenario():
    text = compliance.audit_config_text("TEST04", "resnet50", "Server")
    assert text == compliance.audit_config_text("TEST04", "stable-diffusion-xl", "Offline")
    for scenario in ("MultiStream", "Offline", "SingleStream", "Server"):
        for line in ("mode = 2", "performance_issue_unique = 0", "performance_issue_same = 1",
                     "performance_issue_same_index = 3"):
            assert f"*.{scenario}.{line}\n" in text
    assert "stable-diffusion-xl.Offline.min_query_count = 500\n" in text


def test_test06_audit_config_ends_like_mlperfs_file():
    text = compliance.audit_config_text("TEST06", "llama2-70b-99", "Server")
    assert "*.*.accuracy_log_sampling_target = 100\n*.*.min_query_count = 100\n*.*.min_duration = 0\n" in text
    # The shipped file has no newline after its last line.
    assert text.endswith("# Turn off equal issue mode for TEST06\n*.*.sample_concatenate_permutation = 0")


def test_audit_settings_take_only_wildcard_model_lines():
    # LoadGen looks audit.config keys up under the model name "*".
    sdxl = compliance.audit_settings("TEST04", "stable-diffusion-xl", "Offline")
    assert sdxl == {"mode": 2, "performance_issue_unique": 0, "performance_issue_same": 1,
                    "performance_issue_same_index": 3}
    assert compliance.audit_settings("TEST06", "gptj-99", "Offline")["min_query_count"] == 100


@pytest.mark.parametrize("test, model, scenario, named", [
    ("TEST05", "resnet50", "Offline", "TEST05"),
    ("TEST01", "resnet50", "Interactive", "Interactive"),
    ("TEST01", "mobilenet-v9", "Offline", "mobilenet-v9"),
    ("TEST01", "gptj-99", "Offline", "gptj-99"),  # no TEST01 audit.config for an LLM
])
def test_audit_config_text_rejects_what_mlperf_does_not_ship(test, model, scenario, named):
    with pytest.raises(ComplianceError, match=named):
        compliance.audit_config_text(test, model, scenario)


def test_write_audit_config_needs_an_existing_folder(tmp_path):
    with pytest.raises(ComplianceError, match="no such folder"):
        compliance.write_audit_config("TEST01", "resnet50", "Offline", tmp_path / "absent")
    path = compliance.write_audit_config("TEST01", "resnet50", "Offline", tmp_path)
    assert path == tmp_path / "audit.config"
    assert path.read_text(encoding="utf-8") == compliance.audit_config_text("TEST01", "resnet50", "Offline")


# ---------------------------------------------------------------- which tests

@pytest.mark.parametrize("model, tests", [
    ("resnet50", ("TEST01", "TEST04")), ("retinanet", ("TEST01",)),
    ("bert-99", ("TEST01",)), ("bert-99.9", ("TEST01",)),
    ("gptj-99", ("TEST06",)), ("gptj-99.9", ("TEST06",)),
    ("llama2-70b-99", ("TEST06",)), ("llama2-70b-99.9", ("TEST06",)),
    ("3d-unet-99", ("TEST01",)), ("3d-unet-99.9", ("TEST01",)),
    ("dlrm-v2-99", ("TEST01",)), ("dlrm-v2-99.9", ("TEST01",)),
    ("rnnt", ("TEST01", "TEST05")), ("stable-diffusion-xl", ("TEST01", "TEST04")),
])
def test_required_tests_in_the_newest_round_of_each_benchmark(model, tests):
    assert compliance.required_tests(model) == tests


@pytest.mark.parametrize("model, version, tests", [
    ("resnet50", "v4.1", ("TEST01", "TEST04", "TEST05")),
    ("gptj-99", "v4.1", ()),
    ("gptj-99", "5.0", ("TEST06",)),
    ("stable-diffusion-xl", "v5.1", ("TEST01", "TEST04")),
    ("llama2-70b-99.9", "v6.0", ("TEST06",)),
])
def test_required_tests_per_round(model, version, tests):
    assert compliance.required_tests(model, version) == tests


@pytest.mark.parametrize("model, version, named", [
    ("dlrm-v2-99", "v6.0", "not a benchmark of round v6.0"),
    ("resnet50", "v9.9", "unknown round"),
    ("resnet", "v3", "unknown round"),
    ("vgg16", None, "unknown benchmark 'vgg16'"),
])
def test_required_tests_rejects_unknown_rounds_and_benchmarks(model, version, named):
    with pytest.raises(ComplianceError, match=named):
        compliance.required_tests(model, version)


# ---------------------------------------------------------------- LoadGen honours audit.config

def test_loadgen_applied_test01_audit_config(genuine):
    detail = parse_detail(genuine["test01"] / "mlperf_log_detail.txt")
    assert detail.values["effective_test_mode"] == "PerformanceOnly"
    assert detail.values["effective_accuracy_log_rng_seed"] == 720381539243781796
    assert detail.values["effective_accuracy_log_sampling_target"] == 4096
    assert _entries(genuine["test01"]), "a TEST01 run logs sampled responses in performance mode"
    assert _entries(genuine["performance"]) == [], "a plain performance run logs none"
    assert compliance.audit_problems(detail, "TEST01", "resnet50", "Offline") == []
    plain = parse_detail(genuine["performance"] / "mlperf_log_detail.txt")
    assert any("accuracy_log_sampling_target" in p for p in compliance.audit_problems(plain, "TEST01", "resnet50",
                                                                                     "Offline"))


def test_loadgen_applied_test04_audit_config(genuine):
    detail = parse_detail(genuine["test04"] / "mlperf_log_detail.txt")
    assert detail.values["effective_performance_issue_same"] is True
    assert detail.values["effective_performance_issue_same_index"] == 3
    issued = json.loads((genuine["test04"] / "issued.json").read_text(encoding="utf-8"))
    assert len(issued) >= 100 and len(set(issued)) == 1, "TEST04 issues one sample for every query"
    plain = json.loads((genuine["performance"] / "issued.json").read_text(encoding="utf-8"))
    assert len(set(plain)) > 1
    assert compliance.audit_problems(detail, "TEST04", "resnet50", "Offline") == []


@pytest.mark.parametrize("name, scenario", [("test06-offline", "Offline"), ("test06-server", "Server")])
def test_loadgen_applied_test06_audit_config(genuine, name, scenario):
    detail = parse_detail(genuine[name] / "mlperf_log_detail.txt")
    # the child turned equal issue on; the audit turns it off
    assert detail.values["effective_sample_concatenate_permutation"] is False
    assert detail.values["effective_min_duration_ms"] == 0
    assert compliance.audit_problems(detail, "TEST06", "llama2-70b-99", scenario) == []
    entries = _entries(genuine[name])
    assert entries and all("token_count" in e for e in entries)
    assert all(("token_data" in e) == (scenario != "Offline") for e in entries)


# ---------------------------------------------------------------- TEST01

def test_test01_passes_on_matching_responses(runs, tmp_path):
    _set_scores(runs, 1000.0, "test01", 950.0)
    verdict = _verify_test01(runs, tmp_path / "out")
    assert verdict.passed and verdict.checks == {"accuracy": True, "accuracy_fallback": None, "performance": True}
    test01 = tmp_path / "out" / "TEST01"
    assert _files(test01) == TEST01_FILES
    assert sorted(verdict.files) == sorted(test01 / f for f in TEST01_FILES)
    entries = len(_entries(runs["test01"]))
    assert (test01 / "verify_accuracy.txt").read_text(encoding="utf-8") == (
        "Verifying accuracy. This might take a while...\nReading accuracy mode results...\n"
        "Reading performance mode results...\n"
        f"num_acc_log_entries = {len(_entries(runs['accuracy']))}\nnum_acc_log_duplicate_keys = 0\n"
        f"num_acc_log_data_mismatch = 0\nnum_perf_log_entries = {entries}\n"
        f"num_perf_log_qsl_idx_match = {entries}\nnum_perf_log_data_mismatch = 0\nnum_missing_qsl_idxs = 0\n"
        "TEST PASS\n\n"
    )
    assert (test01 / "verify_performance.txt").read_text(encoding="utf-8") == (
        "Verifying performance.\nReference score = 1000.0\nTest score = 950.0\nTEST PASS\n"
    )
    assert (test01 / "accuracy" / "mlperf_log_accuracy.json").read_bytes() == \
        (runs["test01"] / "mlperf_log_accuracy.json").read_bytes()
    assert any("950 (compliance run) vs 1000 (performance run" in line and "+-10%" in line for line in verdict.lines)
    assert json.loads(json.dumps(verdict.to_json()))["passed"] is True


@pytest.mark.parametrize("occurrence, mismatches", [("last", 1), ("first", 2)])
def test_test01_fails_when_a_compliance_response_differs(runs, tmp_path, occurrence, mismatches):
    # The script compares a repeated qsl_idx with its previous compliance
    # entry: a wrong first occurrence also counts against the next one.
    _set_scores(runs, 1000.0, "test01", 1000.0)
    entries = _entries(runs["test01"])
    positions = {}
    for n, entry in enumerate(entries):
        positions.setdefault(entry["qsl_idx"], []).append(n)
    repeated = next(p for p in positions.values() if len(p) >= 2)
    victim = entries[repeated[-1] if occurrence == "last" else repeated[0]]
    victim["data"] = _hex(np.array([victim["qsl_idx"] + 1.25, 7.0], np.float32))
    _write_entries(runs["test01"], entries)
    verdict = _verify_test01(runs, tmp_path / "out")
    text = (tmp_path / "out" / "TEST01" / "verify_accuracy.txt").read_text(encoding="utf-8")
    assert f"num_perf_log_data_mismatch = {mismatches}\n" in text and text.endswith("TEST FAIL\n\n")
    assert not verdict.passed and verdict.checks["accuracy"] is False and verdict.checks["performance"] is True
    assert any("not tried" in line for line in verdict.lines)


def test_test01_dtype_decides_how_much_of_the_first_value_is_compared(runs, tmp_path):
    # Change only the float's last byte: the "byte" default of MLPerf's script
    # compares the first byte and misses it; float32 sees the whole value.
    _set_scores(runs, 1000.0, "test01", 1000.0)
    entries = _entries(runs["test01"])
    raw = bytearray(bytes.fromhex(entries[0]["data"]))
    raw[3] ^= 0x01
    entries[0]["data"] = raw.hex().upper()
    _write_entries(runs["test01"], entries)
    assert _verify_test01(runs, tmp_path / "byte", dtype="byte").checks["accuracy"] is True
    assert _verify_test01(runs, tmp_path / "float32").checks["accuracy"] is False


@pytest.mark.parametrize("score, expected", [(1100.0, "TEST PASS"), (1100.5, "TEST FAIL: Test score invalid"),
                                             (899.0, "TEST FAIL: Test score invalid")])
def test_test01_performance_must_be_within_ten_percent(runs, tmp_path, score, expected):
    _set_scores(runs, 1000.0, "test01", score)
    verdict = _verify_test01(runs, tmp_path / "out")
    text = (tmp_path / "out" / "TEST01" / "verify_performance.txt").read_text(encoding="utf-8")
    assert text.splitlines()[-1] == expected
    assert verdict.passed is (expected == "TEST PASS")


def test_test01_invalid_performance_run_fails_first_in_the_file(runs, tmp_path):
    _set_scores(runs, 1000.0, "test01", 1000.0)
    lf.set_detail_value(runs["performance"], "result_validity", "INVALID")
    verdict = _verify_test01(runs, tmp_path / "out")
    text = (tmp_path / "out" / "TEST01" / "verify_performance.txt").read_text(encoding="utf-8")
    # sys.exit's message (stderr) lands before the buffered stdout line
    assert text == (f"TEST FAIL: Invalid results in {runs['performance'] / 'mlperf_log_detail.txt'}\n"
                    "Verifying performance.\n")
    assert verdict.checks["performance"] is False and not verdict.passed


def _accuracy_scorer(label: str):
    """A stand-in for the benchmark's accuracy script: a response is right when
    its first float is qsl_idx + 0.25; printed in ``label``'s format."""
    def score(log: Path) -> str:
        entries = {e["qsl_idx"]: e for e in json.loads(log.read_text(encoding="utf-8"))}  # last entry wins
        good = sum(np.frombuffer(bytes.fromhex(e["data"]), np.float32)[0] == i + 0.25 for i, e in entries.items())
        percent = 100.0 * good / len(entries)
        if label == "acc":
            return f"accuracy={percent:.3f}%, good={good}, total={len(entries)}"
        return json.dumps({"exact_match": percent, "f1": percent})
    return score


def _break_one_response(run: Path) -> int:
    """Make the last-logged response of one sample wrong; returns how many samples the log holds."""
    entries = _entries(run)
    last = {e["qsl_idx"]: n for n, e in enumerate(entries)}
    victim = entries[max(last.values())]
    victim["data"] = _hex(np.array([victim["qsl_idx"] + 9.25, 7.0], np.float32))
    _write_entries(run, entries)
    return len(last)


def test_test01_fallback_accepts_a_small_accuracy_delta(runs, tmp_path):
    _set_scores(runs, 1000.0, "test01", 1000.0)
    samples = _break_one_response(runs["test01"])
    assert 100 / samples < 1, "one wrong sample must move accuracy by less than the 1% allowed"
    verdict = _verify_test01(runs, tmp_path / "out", score_accuracy_log=_accuracy_scorer("acc"))
    assert verdict.checks == {"accuracy": False, "accuracy_fallback": True, "performance": True} and verdict.passed
    accuracy = tmp_path / "out" / "TEST01" / "accuracy"
    assert _files(accuracy) == {"mlperf_log_accuracy.json", "baseline_accuracy.txt", "compliance_accuracy.txt",
                                "accuracy.txt"}
    assert (accuracy / "baseline_accuracy.txt").read_text(encoding="utf-8").startswith("accuracy=100.000%")
    assert (accuracy / "accuracy.txt").read_text(encoding="utf-8") == \
        (accuracy / "compliance_accuracy.txt").read_text(encoding="utf-8")
    assert any(line.startswith("accuracy fallback: acc baseline 100 vs") and "<= 1.0%" in line
               for line in verdict.lines)


def test_test01_fallback_is_ten_times_stricter_for_99_9_variants(runs, tmp_path):
    _set_scores(runs, 1000.0, "test01", 1000.0)
    samples = _break_one_response(runs["test01"])
    assert 100 / samples > 0.1, "one wrong sample must move accuracy by more than the 0.1% allowed"
    verdict = _verify_test01(runs, tmp_path / "out", model="bert-99.9", score_accuracy_log=_accuracy_scorer("F1"))
    assert verdict.checks["accuracy_fallback"] is False and not verdict.passed
    assert any("F1" in line and "<= 0.1%" in line and line.endswith("fail") for line in verdict.lines)


@pytest.mark.parametrize("model, baseline, compliance_text, passed", [
    ("resnet50", "accuracy=76.000%, good=1, total=1", "accuracy=75.300%, good=1, total=1", True),
    ("resnet50", "accuracy=76.000%, good=1, total=1", "accuracy=75.000%, good=1, total=1", False),
    ("resnet50", "accuracy=76.000%, good=1, total=1", "no figure here", False),
    ("stable-diffusion-xl", "Accuracy Results: {'FID_SCORE': '23.5', 'CLIP_SCORE': '31.7'}",
     "Accuracy Results: {'FID_SCORE': '23.9', 'CLIP_SCORE': '31.6'}", True),  # FID may move 2%, CLIP 1%
    ("stable-diffusion-xl", "Accuracy Results: {'FID_SCORE': '23.5', 'CLIP_SCORE': '31.7'}",
     "Accuracy Results: {'FID_SCORE': '23.5', 'CLIP_SCORE': '31.3'}", False),
])
def test_fallback_comparison_follows_the_checkers_rule(model, baseline, compliance_text, passed):
    rows = compliance.compare_accuracy(model, baseline, compliance_text)
    assert all(row["passed"] for row in rows) is passed


# ---------------------------------------------------------------- TEST04

def _verify_test04(runs, out: Path):
    return compliance.verify("TEST04", compliance_dir=runs["test04"], performance_dir=runs["performance"],
                             out_dir=out, model="resnet50", scenario="Offline")


def test_test04_passes_when_one_repeated_sample_is_not_faster(runs, tmp_path):
    _set_scores(runs, 1000.0, "test04", 1050.0)
    verdict = _verify_test04(runs, tmp_path / "out")
    test04 = tmp_path / "out" / "TEST04"
    assert verdict.passed and verdict.checks == {"performance": True}
    assert _files(test04) == {"verify_performance.txt", "performance/run_1/mlperf_log_summary.txt",
                              "performance/run_1/mlperf_log_detail.txt"}
    assert (test04 / "verify_performance.txt").read_text(encoding="utf-8") == (
        "Verifying performance.\nreference score = 1000.0\ntest score = 1050.0\nTEST PASS\n"
    )


def test_test04_fails_when_the_repeated_sample_runs_over_ten_percent_faster(runs, tmp_path):
    _set_scores(runs, 1000.0, "test04", 1200.0)
    verdict = _verify_test04(runs, tmp_path / "out")
    text = (tmp_path / "out" / "TEST04" / "verify_performance.txt").read_text(encoding="utf-8")
    assert text.endswith("test score = 1200.0\nTEST FAIL: Test score invalid\n")
    assert not verdict.passed and any("below reference x 1.10 = 1100 " in line for line in verdict.lines)


def test_test04_fails_on_an_invalid_reference(runs, tmp_path):
    _set_scores(runs, 1000.0, "test04", 1000.0)
    lf.set_summary_line(runs["performance"], "Result is", "INVALID")
    verdict = _verify_test04(runs, tmp_path / "out")
    text = (tmp_path / "out" / "TEST04" / "verify_performance.txt").read_text(encoding="utf-8")
    assert text == "TEST FAIL: Reference results are invalid\nVerifying performance.\n"
    assert not verdict.passed


# ---------------------------------------------------------------- TEST06

def _verify_test06(run: Path, out: Path, scenario: str):
    return compliance.verify("TEST06", compliance_dir=run, out_dir=out, model="llama2-70b-99", scenario=scenario)


@pytest.mark.parametrize("name, scenario, first", [("test06-offline", "Offline", "Skipped"),
                                                   ("test06-server", "Server", "True")])
def test_test06_passes_on_consistent_token_output(runs, tmp_path, name, scenario, first):
    verdict = _verify_test06(runs[name], tmp_path / "out", scenario)
    test06 = tmp_path / "out" / "TEST06"
    assert verdict.passed
    assert _files(test06) == {"verify_accuracy.txt", "accuracy/mlperf_log_accuracy.json"}
    assert (test06 / "verify_accuracy.txt").read_text(encoding="utf-8") == (
        f"First token check pass: {first}\nEOS check pass: True\nSample length check pass: True\n"
        "TEST06 verification complete\n"
    )


def _edit_first_entry(run: Path, edit) -> None:
    entries = _entries(run)
    tokens = np.frombuffer(bytes.fromhex(entries[0]["data"]), np.int32)
    edit(entries[0], tokens)
    _write_entries(run, entries)


def _first_token_differs(entry, tokens):
    entry["token_data"] = _hex(np.array([tokens[0] + 1], np.int32))


def _two_eos(entry, tokens):
    entry["data"] = _hex(np.append(tokens, np.int32(EOS)))
    entry["token_count"] = len(tokens) + 1  # only the EOS check may fail


def _count_differs(entry, tokens):
    entry["token_count"] = len(tokens) + 3


@pytest.mark.parametrize("edit, check", [(_first_token_differs, "first_token"), (_two_eos, "eos"),
                                         (_count_differs, "sample_length")])
def test_test06_fails_each_check(runs, tmp_path, edit, check):
    _edit_first_entry(runs["test06-server"], edit)
    verdict = _verify_test06(runs["test06-server"], tmp_path / "out", "Server")
    assert not verdict.passed
    assert {name for name, ok in verdict.checks.items() if ok is False} == {check}
    text = (tmp_path / "out" / "TEST06" / "verify_accuracy.txt").read_text(encoding="utf-8")
    assert text.endswith("TEST06 verification failed\n")
    label = {"first_token": "First token", "eos": "EOS", "sample_length": "Sample length"}[check]
    assert f"{label} check pass: False\n" in text


@pytest.mark.parametrize("tokens, passed", [([EOS, EOS], True), ([EOS, EOS, EOS], False), ([7, EOS, 9], True)])
def test_test06_eos_walk_stops_before_the_first_token(runs, tmp_path, tokens, passed):
    # MLPerf's walk back from the end never looks at index 0: [EOS, EOS] passes.
    _edit_first_entry(runs["test06-offline"], lambda entry, _: entry.update(
        data=_hex(np.array(tokens, np.int32)), token_count=len(tokens)))
    assert _verify_test06(runs["test06-offline"], tmp_path / "out", "Offline").checks["eos"] is passed


# ---------------------------------------------------------------- bad input

def test_missing_compliance_accuracy_log_is_named(runs, tmp_path):
    (runs["test01"] / "mlperf_log_accuracy.json").unlink()
    with pytest.raises(ComplianceError, match=re.escape(str(runs["test01"] / "mlperf_log_accuracy.json"))):
        _verify_test01(runs, tmp_path / "out")


def test_missing_performance_folder_is_named(runs, tmp_path):
    with pytest.raises(ComplianceError, match="performance-mode run"):
        compliance.verify("TEST04", compliance_dir=runs["test04"], performance_dir=None, out_dir=tmp_path,
                          model="resnet50", scenario="Offline")
    with pytest.raises(ComplianceError, match=re.escape(str(tmp_path / "nowhere"))):
        compliance.verify("TEST04", compliance_dir=runs["test04"], performance_dir=tmp_path / "nowhere",
                          out_dir=tmp_path, model="resnet50", scenario="Offline")


def test_malformed_accuracy_log_is_named(runs, tmp_path):
    (runs["accuracy"] / "mlperf_log_accuracy.json").write_text("[{\"qsl_idx\": 1,", encoding="utf-8")
    with pytest.raises(ComplianceError, match=re.escape(str(runs["accuracy"] / "mlperf_log_accuracy.json"))):
        _verify_test01(runs, tmp_path / "out")


def test_response_not_a_whole_number_of_dtype_values_is_named(runs, tmp_path):
    entries = _entries(runs["test01"])
    entries[2]["data"] = "ABCDEF"
    _write_entries(runs["test01"], entries)
    with pytest.raises(ComplianceError, match=r"entry 2 .*3 bytes, not a whole number of float32"):
        _verify_test01(runs, tmp_path / "out")


def test_a_run_without_the_audit_config_is_refused(runs, tmp_path):
    # A plain performance run as TEST04's compliance run would pass trivially.
    with pytest.raises(ComplianceError, match="did not apply TEST04's audit.config.*performance_issue_same"):
        compliance.verify("TEST04", compliance_dir=runs["performance"], performance_dir=runs["performance"],
                          out_dir=tmp_path, model="resnet50", scenario="Offline")


def test_scenario_must_match_the_compliance_log(runs, tmp_path):
    with pytest.raises(ComplianceError, match="effective_scenario is 'Offline', but scenario 'Server'"):
        _verify_test06(runs["test06-offline"], tmp_path / "out", "Server")


def test_output_folder_may_not_hold_an_input(runs, tmp_path):
    shutil.move(runs["test04"], tmp_path / "TEST04")
    with pytest.raises(ComplianceError, match="lies in the output folder"):
        compliance.verify("TEST04", compliance_dir=tmp_path / "TEST04", performance_dir=runs["performance"],
                          out_dir=tmp_path, model="resnet50", scenario="Offline")
    assert (tmp_path / "TEST04" / "mlperf_log_detail.txt").is_file(), "the input was left alone"


def test_test06_entry_without_token_count_is_named(runs, tmp_path):
    _edit_first_entry(runs["test06-offline"], lambda entry, tokens: entry.pop("token_count"))
    with pytest.raises(ComplianceError, match="entry 0 .*has no token_count"):
        _verify_test06(runs["test06-offline"], tmp_path / "out", "Offline")


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
