"""Per backend: a pipeline broken on purpose (BGR channel order) fails the gate.

The proxy reads the digit from the red channel and a different digit sits in
blue, so feeding BGR must collapse top-1 on every backend, whatever it does
inside. (PyTorch, TensorFlow, TFLite and ONNX Runtime have their own mutation
tests next to their backend tests.)
"""
from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.provision import provision
from harness.registry import load_registry

BENCH = load_registry()["resnet50"]
FRAMEWORKS = {"openvino": "openvino", "tvm": "tvm", "ray": "ray"}


@pytest.fixture(scope="module")
def bgr_proxy(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp().parent / "mlperf-cache"
    return provision(BENCH, "onnxruntime", "fp32", cache_dir=cache, channel_order="BGR")


@pytest.mark.parametrize("backend", sorted(FRAMEWORKS))
def test_bgr_input_fails_the_accuracy_gate(backend, bgr_proxy, tmp_path):
    if importlib.util.find_spec(FRAMEWORKS[backend]) is None:
        pytest.skip(f"{FRAMEWORKS[backend]} is not installed, so the {backend} backend cannot run")
    support = BENCH.backends[backend]
    prov = dataclasses.replace(bgr_proxy, backend_options=dict(support.options))
    result = execute_case(Case("resnet50", backend, "cpu", "fp32", "Offline", "accuracy"), BENCH, prov,
                          RunOptions(), tmp_path / backend)
    assert not result.passed
    assert result.accuracy.value < result.accuracy.threshold
    assert "accuracy gate failed" in "\n".join(result.failures)
