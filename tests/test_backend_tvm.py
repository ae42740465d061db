"""Apache TVM backend: the ONNX proxy imported by Relax, compiled with LLVM, end to end."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.backends import BACKENDS, BackendConfig, DeviceUnavailable, ModelLoadError, backend_class
from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.proxies import RESNET50_PROXY_ONNX
from harness.registry import load_registry

pytest.importorskip("tvm", reason="Apache TVM is not installed (pip install apache-tvm)")

BENCH = load_registry()["resnet50"]
# the name once the lead lists it in harness/backends/__init__.py; the module:Class spec until then
BACKEND = "tvm" if "tvm" in BACKENDS else "harness.backends.tvm_backend:TVMBackend"
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"


def _load(model, outputs=(ARGMAX, SOFTMAX), precision="fp32"):
    backend = backend_class(BACKEND)()
    backend.load(BackendConfig(model_path=model, precision=precision, threads=2, inputs=(INPUT,), outputs=outputs,
                               contract_outputs=(ARGMAX, SOFTMAX)))
    return backend


def test_probe_is_cpu_only():
    cls = backend_class(BACKEND)
    assert cls.layout == "NCHW" and cls.probe("cpu") is None
    assert "CPU (LLVM) only" in cls.probe("cuda")


def test_outputs_by_name_match_onnx_runtime_for_any_batch():
    ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime is the reference here")
    backend = _load(RESNET50_PROXY_ONNX, outputs=(SOFTMAX, ARGMAX))  # reverse of the file's order
    session = ort.InferenceSession(str(RESNET50_PROXY_ONNX), providers=["CPUExecutionProvider"])
    data = np.random.default_rng(2).uniform(-120, 130, size=(8, 3, 224, 224)).astype(np.float32)
    for x in (data[:1], data[1:8]):  # the batch stays symbolic; a view at an unaligned offset is fine
        softmax, argmax = backend.predict({INPUT: x})
        ref_argmax, ref_softmax = session.run([ARGMAX, SOFTMAX], {INPUT: x})
        np.testing.assert_array_equal(argmax, ref_argmax)
        np.testing.assert_allclose(softmax, ref_softmax, rtol=1e-4, atol=1e-6)
    info = backend.info()
    assert info["threads"] == 2 and info["target"] == "llvm"


def test_only_fp32_is_offered():
    with pytest.raises(DeviceUnavailable, match="offers"):
        _load(RESNET50_PROXY_ONNX, precision="int8")


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x08\x07not onnx")
    with pytest.raises(ModelLoadError, match="expected an ONNX model|cannot import or compile") as info:
        _load(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("scenario,mode", [("Offline", "accuracy"), ("Offline", "performance")])
def test_end_to_end(proxy_resnet50, tmp_path, scenario, mode):
    prov = dataclasses.replace(proxy_resnet50, model_path=RESNET50_PROXY_ONNX)
    result = execute_case(Case("resnet50", BACKEND, "cpu", "fp32", scenario, mode), BENCH, prov,
                          RunOptions(timeout_s=300), tmp_path / "run")
    assert result.passed, result.failures
    if mode == "accuracy":
        assert result.accuracy.value >= result.accuracy.threshold
    else:
        assert result.performance["result_validity"] == "VALID"
    assert result.child.result["backend_info"]["backend"] == "tvm"
