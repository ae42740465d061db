"""TFLite backend (LiteRT's Interpreter from ai-edge-litert), NHWC, CPU.

The precision is a property of the file (fp32, float16 weights, or int8
quantised): the backend reads it from the model's tensor types and refuses a
file that is not the precision asked for, rather than running it under the
wrong name.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path

import numpy as np

from .base import BackendConfig, DeviceUnavailable, FrameworkMissing, ModelLoadError, Signature
from .tensorflow_backend import check_input_shape

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite file
EXPECTED_FORMAT = "a TFLite flatbuffer (.tflite, file identifier 'TFL3')"
_INSTALL = "ai-edge-litert is not installed (pip install ai-edge-litert; tflite-runtime fails with numpy 2)"
_NO_GPU = ("the TFLite Interpreter in ai-edge-litert runs on the CPU only (XNNPACK): the package ships no GPU "
           "delegate library, and its only GPU path (the CompiledModel API's WebGPU/OpenCL accelerator) "
           "does not use {api}")
DEVICE_REASONS = {
    "cuda": _NO_GPU.format(api="CUDA"),
    "rocm": _NO_GPU.format(api="ROCm"),
    "tpu": "TFLite runs on Edge TPUs only through the libedgetpu delegate and Edge-TPU-compiled models; "
           "Cloud TPUs do not run TFLite",
}


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise FrameworkMissing(_INSTALL) from exc
    return Interpreter


def _strip(tensor_name: str) -> str:
    return tensor_name[:-2] if tensor_name.endswith(":0") else tensor_name


class TFLiteBackend:
    name = "tflite"
    layout = "NHWC"

    def __init__(self):
        self._interp = None
        self._config: BackendConfig | None = None
        self._shape = None

    @classmethod
    def probe(cls, device: str) -> str | None:
        if importlib.util.find_spec("ai_edge_litert") is None:
            return _INSTALL
        if device == "cpu":
            return None
        return DEVICE_REASONS.get(device, f"TFLite has no device {device!r}")

    def load(self, config: BackendConfig) -> None:
        reason = self.probe(config.device)
        if reason:
            raise DeviceUnavailable(reason)
        Interpreter = _interpreter_class()
        path = Path(config.model_path)
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such file; expected {EXPECTED_FORMAT}")
        with path.open("rb") as f:
            head = f.read(8)
        # Checked first: the interpreter's own error for a wrong file is a
        # bare "Model provided has model identifier ...", without the path.
        if head[4:8] != TFLITE_IDENTIFIER:
            raise ModelLoadError(f"{path}: not a TFLite flatbuffer (bytes 4-8 are {head[4:8]!r}, not "
                                 f"{TFLITE_IDENTIFIER!r}); expected {EXPECTED_FORMAT}")
        threads = config.threads or os.cpu_count() or 1
        try:
            interp = Interpreter(model_path=str(path), num_threads=threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{path}: LiteRT cannot load this model; expected {EXPECTED_FORMAT} ({exc})") from exc

        precision, types = model_precision(interp)
        if precision != config.precision:
            raise ModelLoadError(
                f"{path}: asked for {config.precision}, but this file is a {precision} model (tensor types "
                f"{', '.join(types)}); a TFLite file has one precision, provision the {config.precision} file"
            )
        inputs = interp.get_input_details()
        if len(inputs) != 1:
            raise ModelLoadError(f"{path}: expected one input tensor, the model has {[d['name'] for d in inputs]}")
        self._input = inputs[0]
        self._input_index = inputs[0]["index"]
        self._quant_in = _quantization(inputs[0])
        self._outputs, self._output_match = self._match_outputs(interp, path, config)
        self._interp, self._config, self._threads = interp, config, threads
        self._precision_detail = ", ".join(types)
        self._shape = None

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = feed[self._config.inputs[0]]
        interp = self._interp
        if x.shape != self._shape:
            # The interpreter's own error for NCHW data fed to this NHWC model
            # is "XNNPack delegate failed to reshape runtime": say what it is.
            # The batch dimension is free even in a file converted with a fixed
            # batch (resize_tensor_input changes it); the others are checked.
            expected = (-1, *self._input["shape_signature"][1:])
            check_input_shape(x.shape, expected, self._config.model_path)
            # Resizing re-plans every tensor: only when the batch size changes.
            interp.resize_tensor_input(self._input_index, list(x.shape))
            interp.allocate_tensors()
            self._shape = x.shape
        if self._quant_in:
            scale, zero, dtype = self._quant_in
            info = np.iinfo(dtype)
            x = np.clip(np.rint(x / scale) + zero, info.min, info.max).astype(dtype)
        interp.set_tensor(self._input_index, x)
        interp.invoke()
        return [_dequantize(interp.get_tensor(index), quant) for index, quant in self._outputs]

    def signature(self) -> Signature:
        """What predict() takes and returns: float32 in and out around a quantised
        model (it quantises and dequantises), and a free batch (resize_tensor_input)."""
        config, interp = self._config, self._interp
        shape = [None, *(None if d < 0 else int(d) for d in self._input["shape_signature"][1:])]
        dtype = "float32" if self._quant_in else np.dtype(self._input["dtype"]).name
        details = {d["index"]: d for d in interp.get_output_details()}
        matched = list(zip(config.outputs, self._outputs))
        try:  # every contract output where the file's outputs can be told apart
            every, _ = self._match_outputs(interp, Path(config.model_path),
                                           dataclasses.replace(config, outputs=config.contract_outputs))
            matched += list(zip(config.contract_outputs, every))
        except ModelLoadError:
            pass
        outputs = {}
        for name, (index, quant) in matched:
            detail = details[index]
            dims = [None, *(None if d < 0 else int(d) for d in detail["shape_signature"][1:])]
            outputs[name] = ("float32" if quant else np.dtype(detail["dtype"]).name, dims)
        return Signature(inputs={config.inputs[0]: (dtype, shape)}, outputs=outputs)

    def info(self) -> dict:
        from importlib import metadata

        return {
            "backend": self.name,
            "device": self._config.device,
            "precision": self._config.precision,
            "model_tensor_types": self._precision_detail,
            "input_dtype": np.dtype(self._input["dtype"]).name,
            "outputs_matched": self._output_match,
            "num_threads": self._threads,
            "framework_version": metadata.version("ai-edge-litert"),
        }

    @staticmethod
    def _match_outputs(interp, path: Path, config: BackendConfig) -> tuple[list, str]:
        """[(tensor index, quantisation)] in ``config.outputs`` order, and how they were matched."""
        details = interp.get_output_details()
        main = {d["index"] for d in details}
        by_name = {_strip(d["name"]): d for d in details}
        # The converter names output tensors after its own ops
        # ("StatefulPartitionedCall:0") and may reorder them; a signature
        # keeps the model's output names, or "output_0".. in the function's order.
        signatures = interp.get_signature_list()
        ordered = details
        if len(signatures) == 1:
            runner = interp.get_signature_runner(next(iter(signatures)))
            sig = {n: d for n, d in runner.get_output_details().items() if d["index"] in main}
            by_name.update(sig)
            if len(sig) == len(details):
                ordered = [sig[n] for n in signatures[next(iter(signatures))]["outputs"]]
        wanted = [_strip(n) for n in config.outputs]
        if all(n in by_name for n in wanted):
            return [(by_name[n]["index"], _quantization(by_name[n])) for n in wanted], "by name"
        contract = list(config.contract_outputs)
        if len(details) != len(contract):
            raise ModelLoadError(f"{path}: outputs {[d['name'] for d in details]} have no names {wanted} and are not "
                                 f"the {len(contract)} contract outputs {contract}")
        # No names: each contract output by what it is (ArgMax the one 1-D
        # integer tensor, softmax the one 2-D float), where that is unambiguous.
        kinds = {n: [d for d in details if _is_argmax(d) == _is_argmax_name(n)] for n in contract}
        picked = {n: found[0]["index"] for n, found in kinds.items() if len(found) == 1}
        if len(picked) == len(contract) == len(set(picked.values())):
            return [(kinds[n][0]["index"], _quantization(kinds[n][0])) for n in config.outputs], "by kind (dtype, rank)"
        # Else the contract's order, checked.
        for name, d in zip(contract, ordered):
            if _is_argmax(d) != _is_argmax_name(name):
                raise ModelLoadError(f"{path}: output {d['name']} ({np.dtype(d['dtype']).name}, rank "
                                     f"{len(d['shape_signature'])}) is in the place of {name} "
                                     f"but is not what {name} is")
        return [(ordered[contract.index(n)]["index"], _quantization(ordered[contract.index(n)]))
                for n in config.outputs], "by position (contract order)"


def _is_argmax_name(name: str) -> bool:
    return _strip(name).lower() == "argmax"


def _is_argmax(detail: dict) -> bool:
    """An ArgMax output is a 1-D integer tensor (not a quantised one)."""
    integer = np.issubdtype(detail["dtype"], np.integer) and _quantization(detail) is None
    return integer and len(detail["shape_signature"]) == 1


def model_precision(interp) -> tuple[str, list[str]]:
    """("int8" | "fp16" | "fp32", the tensor types) from the model's tensors."""
    types = sorted({np.dtype(t["dtype"]).name for t in interp.get_tensor_details()})
    if "int8" in types or "uint8" in types:
        return "int8", types
    if "float16" in types:
        return "fp16", types  # float16 weights, dequantised to float32 for compute
    return "fp32", types


def _quantization(detail: dict):
    """(scale, zero point, dtype) for a quantised int8/uint8 tensor, else None."""
    scale, zero = detail["quantization"]
    if scale and np.dtype(detail["dtype"]) in (np.dtype(np.int8), np.dtype(np.uint8)):
        return float(scale), int(zero), np.dtype(detail["dtype"])
    return None


def _dequantize(value: np.ndarray, quant) -> np.ndarray:
    if quant is None:
        return value
    scale, zero, _ = quant
    return (value.astype(np.float32) - zero) * scale
