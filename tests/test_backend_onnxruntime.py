"""ONNX Runtime backend: device probing and the silent-fallback guard."""
from __future__ import annotations

import pytest

ort = pytest.importorskip("onnxruntime", reason="the ONNX Runtime backend needs onnxruntime")

from harness.backends import BackendConfig, DeviceUnavailable, ModelLoadError, SilentFallback  # noqa: E402
from harness.backends.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from harness.proxies import RESNET50_PROXY_ONNX  # noqa: E402


def _config(device="cpu", **kw):
    return BackendConfig(model_path=RESNET50_PROXY_ONNX, device=device, inputs=("input_tensor:0",),
                         outputs=("ArgMax:0",), **kw)


def test_cpu_session_reports_what_ran():
    backend = OnnxRuntimeBackend()
    backend.load(_config(threads=1))
    info = backend.info()
    assert info["execution_provider"] == "CPUExecutionProvider"
    assert info["intra_op_threads"] == 1


@pytest.mark.parametrize("device, provider", [("cuda", "CUDAExecutionProvider"), ("rocm", "ROCMExecutionProvider")])
def test_missing_provider_is_a_skip_reason_naming_it(device, provider):
    if provider in ort.get_available_providers():
        pytest.skip(f"{provider} is available here, so there is no reason to report")
    assert provider in OnnxRuntimeBackend.probe(device)
    with pytest.raises(DeviceUnavailable, match=provider):
        OnnxRuntimeBackend().load(_config(device))


def test_tpu_has_no_provider():
    assert "TPU" in OnnxRuntimeBackend.probe("tpu") or "tpu" in OnnxRuntimeBackend.probe("tpu")


def test_a_session_that_falls_back_to_cpu_fails_loudly(monkeypatch):
    """ONNX Runtime silently drops a provider it cannot load; we must not."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    real_session = ort.InferenceSession

    def session(path, sess_options=None, providers=None):
        assert providers == ["CUDAExecutionProvider"]
        return real_session(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", session)
    with pytest.raises(SilentFallback, match="CUDAExecutionProvider.*CPUExecutionProvider"):
        OnnxRuntimeBackend().load(_config("cuda"))


def test_a_model_without_the_contract_outputs_is_refused():
    with pytest.raises(ModelLoadError, match="has no output.*nope"):
        OnnxRuntimeBackend().load(BackendConfig(model_path=RESNET50_PROXY_ONNX, inputs=("input_tensor:0",),
                                                outputs=("nope",)))
