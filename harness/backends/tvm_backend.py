"""Apache TVM backend: the ONNX file imported by TVM's Relax frontend and compiled with LLVM.

No tuning (MetaSchedule) and no conversion file: the model is imported and
compiled at load time (about 0.3 s for the proxy), keeping ONNX's symbolic
batch dimension, and runs on Relax's virtual machine. Options: ``target``
(default "llvm", the host CPU through TVM's bundled LLVM).
Threads: TVM's runtime pool reads TVM_NUM_THREADS when it starts (lazily),
so the variable is set before the first inference.
"""
from __future__ import annotations

import os

import numpy as np

from .base import BackendConfig, DeviceUnavailable, FrameworkMissing, ModelLoadError, Signature

PRECISIONS = ("fp32",)  # no fp16/int8 path through the ONNX frontend is offered


def _tvm(threads: int | None = None):
    if threads:
        # Read when TVM's pool first starts (lazily, at the first parallel
        # kernel or num_threads()), so importing tvm earlier is fine.
        os.environ["TVM_NUM_THREADS"] = str(threads)
    try:
        import tvm
        from tvm import relax  # noqa: F401 - the Relax frontend and VM
    except ImportError as exc:
        raise FrameworkMissing("Apache TVM is not installed (pip install apache-tvm)") from exc
    return tvm


class TVMBackend:
    name = "tvm"
    layout = "NCHW"

    def __init__(self):
        self._vm = None
        self._config: BackendConfig | None = None

    @classmethod
    def probe(cls, device: str) -> str | None:
        import importlib.util

        if importlib.util.find_spec("tvm") is None:
            return "Apache TVM is not installed (pip install apache-tvm)"
        if device != "cpu":
            return f"the apache-tvm wheel is built for CPU (LLVM) only, not {device}"
        return None

    def load(self, config: BackendConfig) -> None:
        reason = self.probe(config.device)
        if reason:
            raise DeviceUnavailable(reason)
        if config.precision not in PRECISIONS:
            raise DeviceUnavailable(f"the TVM backend offers {list(PRECISIONS)}, not {config.precision}")
        threads = config.threads or os.cpu_count() or 1
        tvm = _tvm(threads)
        import onnx
        from tvm import relax
        from tvm.relax.frontend.onnx import from_onnx

        try:
            model = onnx.load(str(config.model_path))
        except Exception as exc:  # onnx raises DecodeError and others for a bad file
            raise ModelLoadError(f"{config.model_path}: TVM cannot read this file; expected an ONNX model ({exc})") from exc
        inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        outputs = [o.name for o in model.graph.output]
        missing = [n for n in config.inputs if n not in inputs] + [n for n in config.outputs if n not in outputs]
        if missing:
            raise ModelLoadError(f"{config.model_path}: model has no tensor(s) {missing}; inputs {inputs}, outputs {outputs}")
        target = config.options.get("target", "llvm")
        try:
            # Weights become constants of the compiled module; the batch stays symbolic.
            module = from_onnx(model, keep_params_in_input=False)
            executable = tvm.compile(module, target=target)
        except Exception as exc:
            raise ModelLoadError(f"{config.model_path}: TVM cannot import or compile this ONNX model ({exc})") from exc
        # The compiled function takes the ONNX graph's shapes: a fixed batch stays fixed.
        self._signature = Signature(inputs=_onnx_tensors(model.graph.input, inputs),
                                    outputs=_onnx_tensors(model.graph.output, outputs))
        self._vm = relax.VirtualMachine(executable, tvm.cpu())
        self._main = self._vm["main"]
        self._input_order = inputs
        self._picks = [outputs.index(n) for n in config.outputs] if config.outputs else list(range(len(outputs)))
        self._config, self._target, self._tvm = config, target, tvm

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        import tvm_ffi

        # DLPack: TVM reads the staged float32 batch in place (no 19 MB copy per batch).
        args = [tvm_ffi.from_dlpack(np.ascontiguousarray(feed[name])) for name in self._input_order]
        result = self._main(*args)
        if hasattr(result, "numpy"):  # a one-output model returns the tensor itself
            result = [result]
        return [result[i].numpy() for i in self._picks]

    def signature(self) -> Signature:
        return self._signature

    def info(self) -> dict:
        tvm = self._tvm
        return {
            "backend": self.name,
            "device": self._config.device,
            "precision": self._config.precision,
            "target": str(self._target),
            "threads": int(tvm.runtime.num_threads()),
            "framework_version": tvm.__version__,
        }


def _onnx_tensors(values, names) -> dict:
    """ONNX graph inputs/outputs -> {name: (dtype, shape)}; a dim_param (or no dim_value) is None."""
    from onnx.helper import tensor_dtype_to_np_dtype

    tensors = {}
    for value in values:
        if value.name not in names:
            continue  # an initializer listed as a graph input
        kind = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in kind.shape.dim] if kind.HasField("shape") else None
        tensors[value.name] = (np.dtype(tensor_dtype_to_np_dtype(kind.elem_type)).name, dims)
    return tensors
