"""The pytest plugin seen from outside: options, ids, markers, skips, exit codes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(pytester, *args):
    return pytester.runpytest_subprocess(*args, "--mlperf-cache", str(pytester.path / "cache"))


ORT = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime")


def _collected(result) -> list[str]:
    return [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "test_mlperf[" in line]


def test_collects_the_whole_matrix_with_public_ids(suite):
    result = _run(suite, "--collect-only", "-q", "--mlperf-mode", "all")
    assert result.ret == 0
    ids = _collected(result)
    assert "resnet50-onnxruntime-cpu-fp32-Offline-accuracy" in ids
    expected = [case_id for path in sorted((ROOT / "tests" / "golden").glob("*_case_ids.txt"))
                for case_id in path.read_text().split()]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    # the audits come after every other case: they reuse the session's accuracy and performance runs
    audits = [i for i, case_id in enumerate(ids) if case_id.rsplit("-", 1)[-1].startswith("TEST")]
    assert audits == list(range(len(ids) - len(audits), len(ids)))


def test_without_a_mode_only_mlperf_s_two_run_modes_are_collected(suite):
    result = _run(suite, "--collect-only", "-q", *ORT, "--mlperf-scenario", "Server")
    assert result.ret == 0
    assert _collected(result) == [f"resnet50-onnxruntime-{device}-{precision}-Server-{mode}"
                                  for device in ("cpu", "cuda", "rocm", "tpu")
                                  for precision in ("bf16", "fp16", "fp32", "int8")
                                  for mode in ("accuracy", "performance")]
    named = _collected(_run(suite, "--collect-only", "-q", *ORT, "--mlperf-scenario", "Server",
                            "--mlperf-device", "cpu", "--mlperf-precision", "fp32", "--mlperf-mode", "find-peak,TEST04"))
    assert named == ["resnet50-onnxruntime-cpu-fp32-Server-find-peak", "resnet50-onnxruntime-cpu-fp32-Server-TEST04"]


def test_axis_options_narrow_collection(suite):
    result = _run(suite, "--collect-only", "-q", *ORT, "--mlperf-scenario", "Offline,Server",
                  "--mlperf-mode", "performance", "--mlperf-device", "cpu", "--mlperf-precision", "fp32")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*resnet50-onnxruntime-cpu-fp32-Offline-performance*",
                                 "*resnet50-onnxruntime-cpu-fp32-Server-performance*", "2 tests collected*"])


def test_markers_select_by_axis_value(suite):
    result = _run(suite, "--collect-only", "-q", "-m",
                  "resnet50 and onnxruntime and Offline and cpu and fp32 and accuracy", "--strict-markers")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*resnet50-onnxruntime-cpu-fp32-Offline-accuracy*", "1/* tests collected*"])


def test_unknown_value_is_a_usage_error_listing_valid_ones(suite):
    result = _run(suite, "--collect-only", "--mlperf-scenario", "offline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown scenario 'offline'; valid scenario values: Offline, Server, SingleStream, MultiStream*"])


def test_empty_selection_exits_non_zero(suite):
    result = _run(suite, "--mlperf-scenario", "Offline", "-k", "no-such-case")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_unsupported_cases_skip_with_the_registry_reason(suite):
    out = suite.path / "out"
    result = _run(suite, "-rs", *ORT, "--mlperf-device", "tpu", "--mlperf-scenario", "Offline",
                  "--mlperf-precision", "fp32", "--mlperf-output", str(out))
    assert result.ret == 0
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*SKIPPED*ONNX Runtime has no TPU execution provider*"])
    cases = json.loads((out / "results.json").read_text())["cases"]
    assert {c["outcome"] for c in cases} == {"skipped"}
    assert all(c["log_dir"].startswith(str(out)) for c in cases)


def test_missing_device_skips_with_a_reason(suite):
    result = _run(suite, "-rs", *ORT, "--mlperf-device", "cuda", "--mlperf-scenario", "Offline",
                  "--mlperf-precision", "fp32", "--mlperf-mode", "accuracy")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*CUDAExecutionProvider*"])


def test_require_all_turns_skips_into_failures(suite):
    result = _run(suite, *ORT, "--mlperf-device", "tpu", "--mlperf-scenario", "Offline", "--mlperf-precision", "fp32",
                  "--mlperf-require-all")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*--mlperf-require-all: resnet50-onnxruntime-tpu-fp32-Offline-*cannot run here*"])


def test_count_is_refused_with_the_valid_style(suite):
    result = _run(suite, "--collect-only", "--mlperf-run-style", "valid", "--mlperf-count", "10")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlperf-count*valid*"])


def test_missing_user_conf_is_a_usage_error(suite):
    result = _run(suite, "--collect-only", "--mlperf-user-conf", "nope.conf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlperf-user-conf nope.conf: no such file*"])


def test_the_session_header_names_the_registry_cache_and_output_folder(suite, tmp_path):
    example = ROOT / "examples" / "custom-benchmark"
    out = tmp_path / "out"
    result = _run(suite, "--collect-only", "--mlperf-registry", str(example), "--mlperf-output", str(out), *ORT)
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"mlperf: registry {ROOT / 'harness' / 'benchmarks'}, {example}",
                                 f"mlperf: cache {suite.path / 'cache'}, output {out}"])
