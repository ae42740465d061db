"""Backends by name, imported only when asked for.

No if/elif import chain: a name maps to ``module:Class``; importing the
harness therefore never imports a framework. A ``module:Class`` spec is also
accepted so that tests and users can plug in their own backend.
"""
from __future__ import annotations

import importlib

from .base import (
    Backend,
    BackendConfig,
    BackendError,
    DeviceUnavailable,
    FrameworkMissing,
    ModelContractError,
    ModelLoadError,
    Signature,
    SilentFallback,
)

BACKENDS = {
    "onnxruntime": "harness.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "pytorch": "harness.backends.pytorch_backend:PyTorchBackend",
    "tensorflow": "harness.backends.tensorflow_backend:TensorFlowBackend",
    "tflite": "harness.backends.tflite_backend:TFLiteBackend",
    "openvino": "harness.backends.openvino_backend:OpenVINOBackend",
    "ray": "harness.backends.ray_backend:RayBackend",
    "tvm": "harness.backends.tvm_backend:TVMBackend",
    "null": "harness.backends.null:NullBackend",
}


def backend_class(name: str):
    spec = BACKENDS.get(name, name)
    if ":" not in spec:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(sorted(BACKENDS))} (or 'module:Class')")
    module_name, class_name = spec.split(":", 1)
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


__all__ = [
    "BACKENDS", "Backend", "BackendConfig", "BackendError", "DeviceUnavailable",
    "FrameworkMissing", "ModelContractError", "ModelLoadError", "Signature", "SilentFallback", "backend_class",
]
