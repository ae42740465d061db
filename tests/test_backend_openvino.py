"""OpenVINO backend: the ONNX proxies compiled by the CPU plugin, end to end."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from harness.backends import BackendConfig, ModelLoadError, SilentFallback, backend_class
from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.proxies import PROXY_DIR, RESNET50_PROXY_ONNX
from harness.registry import load_registry

ov = pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino)")

BENCH = load_registry()["resnet50"]
INPUT, ARGMAX, SOFTMAX = "input_tensor:0", "ArgMax:0", "softmax_tensor:0"
# precision -> proxy file the OpenVINO backend compiles
MODELS = {
    "fp32": RESNET50_PROXY_ONNX,
    "bf16": RESNET50_PROXY_ONNX,
    "fp16": PROXY_DIR / "resnet50_proxy_fp16.onnx",
    "int8": PROXY_DIR / "resnet50_proxy_int8.onnx",
}
CAPABILITY = {"bf16": "BF16", "fp16": "FP16", "int8": "INT8"}


def _load(model: Path, precision="fp32", outputs=(ARGMAX, SOFTMAX)):
    backend = backend_class("openvino")()
    backend.load(BackendConfig(model_path=model, precision=precision, threads=2, inputs=(INPUT,), outputs=outputs,
                               contract_outputs=(ARGMAX, SOFTMAX)))
    return backend


def _needs(precision):
    wanted = CAPABILITY.get(precision)
    if wanted and wanted not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip(f"this CPU's OpenVINO plugin has no {wanted} capability")


def test_probe_offers_the_cpu_and_explains_other_devices():
    cls = backend_class("openvino")
    assert cls.layout == "NCHW"
    assert cls.probe("cpu") is None
    assert "no plugin for cuda" in cls.probe("cuda")


def test_outputs_by_name_match_onnx_runtime():
    ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime is the reference here")
    x = np.random.default_rng(5).uniform(-120, 130, size=(6, 3, 224, 224)).astype(np.float32)
    # asked in the reverse of the file's order: the backend must return by name
    softmax, argmax = _load(RESNET50_PROXY_ONNX, outputs=(SOFTMAX, ARGMAX)).predict({INPUT: x})
    ref_argmax, ref_softmax = ort.InferenceSession(str(RESNET50_PROXY_ONNX), providers=["CPUExecutionProvider"]).run(
        [ARGMAX, SOFTMAX], {INPUT: x})
    assert argmax.dtype == np.int64 and softmax.dtype == np.float32 and softmax.shape == (6, 1001)
    np.testing.assert_array_equal(argmax, ref_argmax)
    np.testing.assert_allclose(softmax, ref_softmax, atol=1e-5)  # fp32 really is f32, not the bf16 default


def test_fp32_is_forced_even_where_the_plugin_defaults_to_bf16():
    info = _load(RESNET50_PROXY_ONNX).info()
    assert info["inference_precision"] == "f32" and info["execution_devices"] == ["CPU"]
    assert info["inference_threads"] == 2 and info["framework_version"] == ov.get_version()


def test_a_fixed_batch_model_is_reshaped_to_take_any_batch(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the fixed-batch copy is written with onnx")
    model = onnx.load(str(RESNET50_PROXY_ONNX))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # as exported with batch 1
    fixed = tmp_path / "batch1.onnx"
    onnx.save(model, str(fixed))
    (argmax,) = _load(fixed, outputs=(ARGMAX,)).predict({INPUT: np.zeros((3, 3, 224, 224), np.float32)})
    assert argmax.shape == (3,)


def test_int8_on_a_float_model_fails_loudly():
    with pytest.raises(SilentFallback, match="no layer in int8"):
        _load(RESNET50_PROXY_ONNX, precision="int8")


def test_int8_model_runs_int8_layers():
    _needs("int8")
    assert _load(MODELS["int8"], precision="int8").info()["int8_layers"] == 2


def test_unreadable_file_names_the_file_and_the_format(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="expected an ONNX model or OpenVINO IR") as info:
        _load(bad)
    assert str(bad) in str(info.value)


def test_missing_output_name_is_a_load_error():
    with pytest.raises(ModelLoadError, match="no output"):
        _load(RESNET50_PROXY_ONNX, outputs=("logits:0",))


def _run(prov, precision, scenario, mode, out):
    prov = dataclasses.replace(prov, model_path=MODELS[precision])
    return execute_case(Case("resnet50", "openvino", "cpu", precision, scenario, mode), BENCH, prov,
                        RunOptions(timeout_s=300), out)


@pytest.mark.parametrize("precision", sorted(MODELS))
def test_accuracy_offline_passes_the_gate(proxy_resnet50, tmp_path, precision):
    _needs(precision)
    result = _run(proxy_resnet50, precision, "Offline", "accuracy", tmp_path / "acc")
    assert result.passed, result.failures
    assert result.accuracy.value >= result.accuracy.threshold
    info = result.child.result["backend_info"]
    assert info["backend"] == "openvino" and info["precision"] == precision


def test_performance_offline_is_valid(proxy_resnet50, tmp_path):
    result = _run(proxy_resnet50, "fp32", "Offline", "performance", tmp_path / "perf")
    assert result.passed, result.failures
    assert result.performance["result_validity"] == "VALID"
    assert result.child.result["backend_info"]["inference_precision"] == "f32"
