"""ONNX Runtime backend: one InferenceSession, threads set explicitly."""
from __future__ import annotations

import os
from collections import Counter

import numpy as np

from .base import BackendConfig, DeviceUnavailable, FrameworkMissing, ModelLoadError, Signature, SilentFallback

# ONNX Runtime's type strings -> NumPy dtype names
ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(bfloat16)": "bfloat16", "tensor(int64)": "int64", "tensor(int32)": "int32",
    "tensor(int16)": "int16", "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool",
}

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
}


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise FrameworkMissing("onnxruntime is not installed (pip install onnxruntime, or onnxruntime-gpu for cuda)") from exc
    return onnxruntime


class OnnxRuntimeBackend:
    name = "onnxruntime"
    layout = "NCHW"
    # InferenceSession.run may be called from several threads at once (Server workers).
    concurrent_predict = True

    def __init__(self):
        self._session = None
        self._config: BackendConfig | None = None

    @classmethod
    def probe(cls, device: str) -> str | None:
        try:
            ort = _ort()
        except FrameworkMissing as exc:
            return str(exc)
        provider = PROVIDERS.get(device)
        if provider is None:
            return f"ONNX Runtime has no execution provider for {device}"
        available = ort.get_available_providers()
        if provider not in available:
            return f"ONNX Runtime {ort.__version__} here has no {provider} (available: {', '.join(available)})"
        return None

    def load(self, config: BackendConfig) -> None:
        ort = _ort()
        reason = self.probe(config.device)
        if reason:
            raise DeviceUnavailable(reason)
        options = ort.SessionOptions()
        # One inference thread drives the session; the session's own pool
        # uses the cores. Two Python threads on one session only contend.
        options.intra_op_num_threads = config.threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning pool threads shave latency off back-to-back runs, but in
        # Server they steal the cores from LoadGen's and the SUT's own threads:
        # p99 went from ~2.5 ms to 8-68 ms on 2 cores. The runner decides.
        self._spin = bool(config.options.get("spin", True))
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self._spin else "0")
        provider = PROVIDERS[config.device]
        try:
            session = ort.InferenceSession(str(config.model_path), sess_options=options, providers=[provider])
        except Exception as exc:  # ORT raises several unrelated classes for a bad file
            raise ModelLoadError(
                f"{config.model_path}: ONNX Runtime cannot load this file; expected an ONNX model ({exc})"
            ) from exc
        active = session.get_providers()
        if not active or active[0] != provider:
            raise SilentFallback(
                f"asked ONNX Runtime for {provider} on {config.device}, but the session runs on {active}"
            )
        names = {i.name for i in session.get_inputs()}
        missing = [n for n in config.inputs if n not in names]
        if missing:
            raise ModelLoadError(f"{config.model_path}: model has no input(s) {missing}; it has {sorted(names)}")
        out_names = {o.name for o in session.get_outputs()}
        missing = [n for n in config.outputs if n not in out_names]
        if missing:
            raise ModelLoadError(f"{config.model_path}: model has no output(s) {missing}; it has {sorted(out_names)}")
        self._session, self._config = session, config
        self._outputs = list(config.outputs) or [o.name for o in session.get_outputs()]
        self._threads = options.intra_op_num_threads
        self._batch_dependence = batch_dependence(config.model_path, config.precision)

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(self._outputs, feed)

    def signature(self) -> Signature:
        return Signature(inputs=ort_tensors(self._session.get_inputs()), outputs=ort_tensors(self._session.get_outputs()),
                         batch_dependence=self._batch_dependence)

    def info(self) -> dict:
        ort = _ort()
        return {
            "backend": self.name,
            "device": self._config.device,
            "precision": self._config.precision,
            "execution_provider": self._session.get_providers()[0],
            "intra_op_threads": self._threads,
            "intra_op_spinning": self._spin,
            "framework_version": ort.__version__,
            "batch_dependence": self._batch_dependence,
        }


def ort_tensors(args) -> dict:
    """ONNX Runtime NodeArgs -> {name: (dtype, shape)}; a named (symbolic) dimension is None."""
    return {
        a.name: (ORT_DTYPES.get(a.type, a.type), None if a.shape is None else [d if isinstance(d, int) and d >= 0 else None for d in a.shape])
        for a in args
    }


# Operators that quantize an activation with a scale computed from the whole
# tensor at run time: a sample's int8 values, and so its answer, change with
# the other samples of its batch (the bert int8 proxy's F1 moved between 84.90
# and 85.87 with the batch composition of a Server run, 85.39 at batch 1).
DYNAMIC_QUANTIZERS = ("DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM")


# onnx parses the whole file: a large one is read a second time only when it is
# int8 (a dynamically quantized model is an int8 one; an fp32 BERT-large is 1.3 GB).
INSPECTED_BYTES = 256 << 20


def batch_dependence(model_path, precision: str) -> str | None:
    """Signature.batch_dependence of an ONNX file run as ``precision``."""
    if precision != "int8" and os.path.getsize(model_path) > INSPECTED_BYTES:
        return None
    return dynamic_quantization(model_path)


def dynamic_quantization(model_path) -> str | None:
    """Why ``model_path``'s answers depend on batch composition, or None (static QDQ, float)."""
    try:
        import onnx
    except ImportError as exc:  # installed with the onnxruntime extra; without it the check cannot be made
        raise FrameworkMissing("onnx is not installed (pip install onnx, part of the project's onnxruntime extra)") from exc
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and OSError variants for an unreadable file
        raise ModelLoadError(f"{model_path}: onnx cannot read this file to inspect its operators ({exc})") from exc
    found = Counter(node.op_type for body in (model.graph, *model.functions) for node in _all_nodes(body)
                    if node.op_type in DYNAMIC_QUANTIZERS)
    if not found:
        return None
    ops = ", ".join(f"{count} {op}" for op, count in sorted(found.items()))
    return f"dynamically quantized ({ops}): a batch's samples share one activation scale"


def _all_nodes(graph):
    """The nodes of a graph or function and those of their subgraphs (If / Loop / Scan bodies)."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _all_nodes(sub)
