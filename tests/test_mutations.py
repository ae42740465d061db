"""Deliberately broken pipelines must fail the gates, and clearly.

These run the real harness end to end on the proxy (one child process each).
"""
from __future__ import annotations

import dataclasses

import pytest

from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.registry import load_registry
from harness.runner import RunFailed

BENCH = load_registry()["resnet50"]


def _case(scenario="Offline", mode="accuracy", backend="onnxruntime"):
    return Case("resnet50", backend, "cpu", "fp32", scenario, mode)


def test_the_unbroken_pipeline_passes_the_gate(proxy_resnet50, tmp_path):
    result = execute_case(_case(), BENCH, proxy_resnet50, RunOptions(), tmp_path / "ok")
    assert result.passed, result.failures
    assert result.accuracy.value >= result.accuracy.threshold
    assert (tmp_path / "ok" / "accuracy.txt").read_text().startswith("accuracy=")


def test_wrong_channel_order_fails_the_accuracy_gate(tmp_path, tmp_path_factory):
    from harness.provision import provision

    cache = tmp_path_factory.getbasetemp().parent / "mlperf-cache"
    bgr = provision(BENCH, "onnxruntime", "fp32", cache_dir=cache, channel_order="BGR")
    result = execute_case(_case(), BENCH, bgr, RunOptions(), tmp_path / "bgr")
    assert not result.passed
    assert result.accuracy.value < result.accuracy.threshold
    message = "\n".join(result.failures)
    assert "accuracy gate failed" in message and str(tmp_path / "bgr" / "mlperf_log_accuracy.json") in message


def test_missing_class_offset_fails_the_accuracy_gate(proxy_resnet50, tmp_path):
    options = RunOptions(task_options={"class_offset": 0})
    result = execute_case(_case(), BENCH, proxy_resnet50, options, tmp_path / "offset")
    assert not result.passed
    assert result.accuracy.value < 20.0
    assert f"threshold {result.accuracy.threshold:.4f}" in "\n".join(result.failures)


def test_an_sut_that_raises_fails_with_the_traceback(proxy_resnet50, tmp_path, fault_backends_on_path):
    case = _case(scenario="SingleStream", mode="performance", backend="fault_backends:RaisingBackend")
    with pytest.raises(RunFailed, match="the SUT raised") as info:
        execute_case(case, BENCH, proxy_resnet50, RunOptions(timeout_s=120), tmp_path / "raises")
    # one line first, naming what raised and what it said; the traceback stays in child.log
    assert info.value.summary.startswith("the SUT (fault_backends:RaisingBackend on ")
    assert "RuntimeError: injected backend failure" in info.value.summary
    assert "Traceback" not in str(info.value)
    assert "Traceback" in (tmp_path / "raises" / "child.log").read_text()


def test_an_sut_that_never_answers_is_killed_by_the_watchdog(proxy_resnet50, tmp_path, fault_backends_on_path):
    case = _case(scenario="SingleStream", mode="performance", backend="fault_backends:HangingBackend")
    with pytest.raises(RunFailed, match=r"no result within the watchdog's 8 s \(--mlperf-timeout\)"):
        execute_case(case, BENCH, proxy_resnet50, RunOptions(timeout_s=8), tmp_path / "hangs")


def test_a_machine_that_cannot_run_the_case_is_unavailable_not_failed(proxy_resnet50, tmp_path, fault_backends_on_path):
    from harness.runner import RunUnavailable

    case = _case(backend="fault_backends:UnsupportedCpuBackend")
    with pytest.raises(RunUnavailable, match="cannot run here: this CPU cannot run fp32") as info:
        execute_case(case, BENCH, proxy_resnet50, RunOptions(timeout_s=60), tmp_path / "unavailable")
    assert info.value.reason == "this CPU cannot run fp32 (injected)"


def test_a_crashing_process_fails_with_the_signal(proxy_resnet50, tmp_path, fault_backends_on_path):
    case = _case(scenario="SingleStream", mode="performance", backend="fault_backends:AbortingBackend")
    with pytest.raises(RunFailed, match=r"aborted \(SIGABRT\)"):
        execute_case(case, BENCH, proxy_resnet50, RunOptions(timeout_s=60), tmp_path / "aborts")


def test_a_model_file_the_backend_cannot_load_names_the_file(proxy_resnet50, tmp_path):
    bad = tmp_path / "not-a-model.onnx"
    bad.write_bytes(b"this is not an ONNX protobuf")
    prov = dataclasses.replace(proxy_resnet50, model_path=bad)
    with pytest.raises(RunFailed, match="could not start") as info:
        execute_case(_case(), BENCH, prov, RunOptions(), tmp_path / "bad-model")
    assert info.value.summary.startswith(f"{bad}: ONNX Runtime cannot load this file; expected an ONNX model")
    assert "Traceback" not in str(info.value)


INNER_SESSION = '''
import os
from pathlib import Path

import pytest

from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.provision import provision
from harness.registry import load_registry

BENCH = load_registry()["resnet50"]


@pytest.mark.parametrize("backend", ["fault_backends:RaisingBackend", "fault_backends:HangingBackend", "onnxruntime"])
def test_case(backend, tmp_path):
    prov = provision(BENCH, "onnxruntime", "fp32", cache_dir=Path(os.environ["PROXY_CACHE"]))
    case = Case("resnet50", backend, "cpu", "fp32", "SingleStream", "performance")
    result = execute_case(case, BENCH, prov, RunOptions(timeout_s=8), tmp_path / "run")
    assert result.passed, result.failures
'''


def test_failing_runs_do_not_stop_the_session(pytester, proxy_resnet50, tmp_path_factory, fault_backends_on_path,
                                              monkeypatch):
    monkeypatch.setenv("PROXY_CACHE", str(tmp_path_factory.getbasetemp().parent / "mlperf-cache"))
    pytester.makepyfile(test_inner=INNER_SESSION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*the SUT raised during the run*", "*no result within the watchdog's 8 s*"], consecutive=False)
