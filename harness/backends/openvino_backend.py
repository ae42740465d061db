"""OpenVINO backend: the ONNX file compiled by OpenVINO's CPU plugin.

OpenVINO reads ONNX (or its own IR .xml) directly; no conversion step. The
precision is chosen by the plugin's INFERENCE_PRECISION_HINT, always set
explicitly: on CPUs with AMX / AVX512-BF16 the CPU plugin's DEFAULT is bf16,
so an "fp32" run without the hint would silently compute in bf16. After
compiling, the hint the compiled model reports is checked against the one
asked for, and an int8 run must show int8 layers in the runtime graph.
"""
from __future__ import annotations

import os

import numpy as np

from .base import BackendConfig, DeviceUnavailable, FrameworkMissing, ModelLoadError, Signature, SilentFallback

# The harness's device axis -> OpenVINO device. OpenVINO's "GPU" plugin drives
# Intel GPUs only; no axis value (cuda, rocm, tpu) maps to it.
DEVICES = {"cpu": "CPU"}
# precision -> (INFERENCE_PRECISION_HINT, OPTIMIZATION_CAPABILITIES entry it needs).
# int8 comes from the model (QDQ nodes become FakeQuantize); the float parts
# around the quantized layers stay f32.
PRECISIONS = {"fp32": ("f32", None), "bf16": ("bf16", "BF16"), "fp16": ("f16", "FP16"), "int8": ("f32", "INT8")}
INT8_TYPES = ("i8", "u8")


def _ov():
    try:
        import openvino
    except ImportError as exc:
        raise FrameworkMissing("openvino is not installed (pip install openvino)") from exc
    return openvino


class OpenVINOBackend:
    name = "openvino"
    layout = "NCHW"

    def __init__(self):
        self._compiled = None
        self._request = None
        self._config: BackendConfig | None = None

    @classmethod
    def probe(cls, device: str) -> str | None:
        try:
            ov = _ov()
        except FrameworkMissing as exc:
            return str(exc)
        if device not in DEVICES:
            return f"OpenVINO has no plugin for {device} (its GPU plugin drives Intel GPUs only)"
        available = ov.Core().available_devices
        if DEVICES[device] not in available:
            return f"OpenVINO {ov.get_version()} sees no {DEVICES[device]} device here (available: {available})"
        return None

    def load(self, config: BackendConfig) -> None:
        ov = _ov()
        reason = self.probe(config.device)
        if reason:
            raise DeviceUnavailable(reason)
        if config.precision not in PRECISIONS:
            raise DeviceUnavailable(f"the OpenVINO backend offers {sorted(PRECISIONS)}, not {config.precision}")
        core = ov.Core()
        device = DEVICES[config.device]
        hint, capability = PRECISIONS[config.precision]
        capabilities = core.get_property(device, "OPTIMIZATION_CAPABILITIES")
        if capability and capability not in capabilities:
            raise DeviceUnavailable(
                f"OpenVINO's {device} plugin cannot run {config.precision} on this CPU (capabilities: {capabilities})"
            )
        try:
            model = core.read_model(str(config.model_path))
        except Exception as exc:  # OpenVINO raises RuntimeError for any unreadable file
            raise ModelLoadError(
                f"{config.model_path}: OpenVINO cannot read this file; expected an ONNX model or OpenVINO IR (.xml) ({exc})"
            ) from exc
        self._check_names(config, model)
        # A file exported with a fixed batch still takes any batch size.
        for port in model.inputs:
            shape = port.get_partial_shape()
            if shape.rank.is_static and len(shape) > 0 and shape[0].is_static:
                shape[0] = ov.Dimension()
                model.reshape({port.get_any_name(): shape})
        threads = config.threads or os.cpu_count() or 1
        properties = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": hint,
            # One synchronous request per predict(): one stream owning every thread.
            "PERFORMANCE_HINT": config.options.get("performance_hint", "LATENCY"),
            "NUM_STREAMS": 1,
        }
        try:
            compiled = core.compile_model(model, device, properties)
        except Exception as exc:
            raise ModelLoadError(f"{config.model_path}: OpenVINO's {device} plugin cannot compile this model ({exc})") from exc
        actual = compiled.get_property("INFERENCE_PRECISION_HINT")
        if actual != getattr(ov.Type, hint):
            raise SilentFallback(f"asked OpenVINO for {hint} inference, the compiled model runs {actual.get_type_name()}")
        self._int8_layers = self._count_int8_layers(compiled)
        if config.precision == "int8" and not self._int8_layers:
            raise SilentFallback(
                f"{config.model_path}: asked for int8 but OpenVINO runs no layer in int8 (is the model quantized?)"
            )
        self._compiled, self._config, self._threads, self._device = compiled, config, threads, device
        self._ports = [compiled.output(name) for name in config.outputs] or list(compiled.outputs)
        self._request = compiled.create_infer_request()

    @staticmethod
    def _check_names(config: BackendConfig, model) -> None:
        inputs = {n for port in model.inputs for n in port.get_names()}
        missing = [n for n in config.inputs if n not in inputs]
        if missing:
            raise ModelLoadError(f"{config.model_path}: model has no input(s) {missing}; it has {sorted(inputs)}")
        outputs = {n for port in model.outputs for n in port.get_names()}
        missing = [n for n in config.outputs if n not in outputs]
        if missing:
            raise ModelLoadError(f"{config.model_path}: model has no output(s) {missing}; it has {sorted(outputs)}")

    @staticmethod
    def _count_int8_layers(compiled) -> int:
        """Compute layers (FullyConnected, Convolution, MatMul) whose runtime precision is int8."""
        count = 0
        for op in compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            kind = info["layerType"].astype(str) if "layerType" in info else ""
            precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else ""
            if kind in ("FullyConnected", "Convolution", "MatMul") and precision in INT8_TYPES:
                count += 1
        return count

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        # share_inputs: the staged batch is already contiguous float32, no copy;
        # outputs are copied (the next infer() reuses the request's buffers).
        results = self._request.infer(feed, share_inputs=True)
        return [results[port] for port in self._ports]

    def signature(self) -> Signature:
        """The compiled model's ports: the batch is free here (load() reshapes a fixed one)."""
        config = self._config
        return Signature(inputs=_ports(self._compiled.inputs, config.inputs),
                         outputs=_ports(self._compiled.outputs, tuple(config.contract_outputs) + tuple(config.outputs)))

    def info(self) -> dict:
        ov = _ov()
        compiled = self._compiled
        return {
            "backend": self.name,
            "device": self._config.device,
            "precision": self._config.precision,
            "openvino_device": self._device,
            "execution_devices": list(compiled.get_property("EXECUTION_DEVICES")),
            "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "int8_layers": self._int8_layers,
            "inference_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "num_streams": int(compiled.get_property("NUM_STREAMS")),
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "framework_version": ov.get_version(),
        }


def _ports(ports, wanted) -> dict:
    """{name: (dtype, shape)}; a port is named by the harness's name for it where it has one."""
    tensors = {}
    for port in ports:
        names = port.get_names()
        name = next((n for n in wanted if n in names), port.get_any_name())
        shape = port.get_partial_shape()
        dims = None if shape.rank.is_dynamic else [d.get_length() if d.is_static else None for d in shape]
        tensors[name] = (np.dtype(port.get_element_type().to_dtype()).name, dims)
    return tensors
