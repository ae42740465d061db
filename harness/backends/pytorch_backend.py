"""PyTorch backend: a state dict loaded into a named nn.Module architecture.

The model file is a torch state dict (``torch.load(weights_only=True)``: no
pickled code runs); the architecture that receives it is the backend option
``architecture`` ("module:Class"), by default the resnet50 proxy module. The
module's forward returns the model contract's outputs by position
(``BackendConfig.contract_outputs`` order: ArgMax, softmax for resnet50).

Reduced precisions cast the whole module and each input batch
(``module.to(dtype)``); outputs come back as float32 / int64 numpy arrays.

No ``signature()``: an nn.Module declares no input names, shapes or dtypes
(its forward takes whatever tensors it is given), so the model contract
check (harness/runner/contract.py) skips PyTorch models; a wrong input shape
fails in the first forward, which the backend's own errors name.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings

import numpy as np

from .base import BackendConfig, BackendError, DeviceUnavailable, FrameworkMissing, ModelLoadError, SilentFallback

DEFAULT_ARCHITECTURE = "harness.proxies.torch_resnet50_proxy:Resnet50Proxy"
# Options that are the architecture's constructor arguments (the real
# torchvision-layout ResNet50 takes num_classes).
ARCHITECTURE_ARGS = ("num_classes",)
PRECISIONS = ("fp32", "bf16", "fp16")
# The torch device type each harness device runs on (ROCm builds reuse "cuda").
DEVICE_TYPES = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "tpu": "xla"}
_LISTED = 10  # missing/unexpected keys named in an error; the rest are counted


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise FrameworkMissing("torch is not installed (pip install torch; the project pins torch==2.13.0)") from exc
    return torch


def _dtype(torch, precision: str):
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _names(keys) -> str:
    keys = list(keys)
    more = f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else ""
    return ", ".join(keys[:_LISTED]) + more


def start_torch(config: BackendConfig, probe, precisions: tuple[str, ...], what: str):
    """Import torch for a run: OpenMP policy, device probe, precision, threads."""
    if not config.options.get("spin", True) and "torch" not in sys.modules:
        # OpenMP reads its wait policy once, when torch loads it. Spinning
        # pool threads hold a core after each parallel region; with other
        # work competing for 2 cores, 2 threads gave 20-40 ms tails at batch
        # 8 (passive: under 11 ms, +0.3 ms median). The runner asks for no
        # spinning in Server; a policy set in the environment wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = _torch()
    reason = probe(config.device)
    if reason:
        raise DeviceUnavailable(reason)
    if config.precision not in precisions:
        raise BackendError(f"{what} runs {', '.join(precisions)}, not {config.precision}")
    # The intra-op pool is process-wide; set it before the first op runs.
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    return torch


class PyTorchBackend:
    name = "pytorch"
    layout = "NCHW"
    # A module in inference mode may run in several threads at once; torch
    # releases the GIL in its ops, so Server workers overlap.
    concurrent_predict = True

    def __init__(self):
        self._model = None
        self._config: BackendConfig | None = None

    # device probes: cheap, no model, no allocation ------------------------
    @classmethod
    def probe(cls, device: str) -> str | None:
        try:
            torch = _torch()
        except FrameworkMissing as exc:
            return str(exc)
        if device == "cpu":
            return None
        if device == "cuda":
            if torch.version.hip is not None:
                return f"torch {torch.__version__} is a ROCm (HIP {torch.version.hip}) build, not CUDA"
            if torch.version.cuda is None:
                return f"torch {torch.__version__} is a CPU-only build (no CUDA support compiled in)"
            if not torch.cuda.is_available():
                return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
            return None
        if device == "rocm":
            if torch.version.hip is None:
                return f"torch {torch.__version__} is not a ROCm build (torch.version.hip is None)"
            if not torch.cuda.is_available():
                return f"torch {torch.__version__} (HIP {torch.version.hip}) sees no ROCm device"
            return None
        if device == "tpu":
            try:
                importlib.import_module("torch_xla")
            except ImportError:
                return "torch_xla is not installed: PyTorch reaches TPUs only through torch_xla"
            return None
        return f"the pytorch backend has no device {device!r} (known: {', '.join(DEVICE_TYPES)})"

    # loading ---------------------------------------------------------------
    @staticmethod
    def _architecture(spec: str):
        if ":" not in spec:
            raise BackendError(f"architecture {spec!r} is not 'module:Class'")
        module_name, class_name = spec.split(":", 1)
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise BackendError(f"cannot import the pytorch architecture {spec!r}: {exc}") from exc

    def _torch_device(self, torch, device: str):
        if device == "tpu":
            import torch_xla.core.xla_model as xm  # only reached when the probe found torch_xla

            return xm.xla_device()
        return torch.device(DEVICE_TYPES[device])

    def _load_state(self, torch, config: BackendConfig, arch: str, model) -> None:
        path = config.model_path
        expected = f"expected a torch state dict for {arch} (torch.save(model.state_dict(), file))"
        try:
            # Always onto the CPU first: a file saved from a GPU loads here too,
            # and the move to the device below is the one place it happens.
            state = torch.load(str(path), weights_only=True, map_location="cpu")
        except Exception as exc:  # torch raises pickle, zip, EOF and runtime errors for bad files
            raise ModelLoadError(f"{path}: torch.load(weights_only=True) cannot read this file; {expected} ({exc})") from exc
        if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            kind = type(state).__name__
            raise ModelLoadError(f"{path}: holds a {kind}, not a mapping of names to tensors; {expected}")
        try:
            incompatible = model.load_state_dict(state, strict=False)
        except (RuntimeError, ValueError) as exc:  # size mismatches raise even with strict=False
            detail = " ".join(str(exc).split())  # torch's message is one line per mismatch
            raise ModelLoadError(f"{path}: tensors do not fit {arch}; {expected} ({detail})") from exc
        problems = []
        if incompatible.missing_keys:
            problems.append(f"missing keys: {_names(incompatible.missing_keys)}")
        if incompatible.unexpected_keys:
            problems.append(f"unexpected keys: {_names(incompatible.unexpected_keys)}")
        if problems:
            raise ModelLoadError(f"{path}: not a state dict for {arch}; {expected}; {'; '.join(problems)}")

    def load(self, config: BackendConfig) -> None:
        torch = start_torch(config, self.probe, PRECISIONS, "the pytorch backend")
        self._threads = torch.get_num_threads()
        arch = config.options.get("architecture", DEFAULT_ARCHITECTURE)
        kwargs = {k: config.options[k] for k in ARCHITECTURE_ARGS if k in config.options}
        cls = self._architecture(arch)
        if config.model_path.is_dir() and hasattr(cls, "from_dir"):
            # A saved folder (config + weights, e.g. a transformers model): the
            # architecture reads its own configuration from it.
            try:
                model = cls.from_dir(config.model_path)
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"{config.model_path}: {arch}.from_dir cannot load this folder: {exc}") from exc
        else:
            try:
                model = cls(**kwargs)
            except TypeError as exc:
                raise BackendError(f"the pytorch architecture {arch} does not take the options {kwargs}: {exc}") from exc
            self._load_state(torch, config, arch, model)
        model.eval().requires_grad_(False)
        self._torch, self._float32 = torch, torch.float32
        self._device = self._torch_device(torch, config.device)
        self._dtype = _dtype(torch, config.precision)
        model.to(device=self._device, dtype=self._dtype)
        self._model, self._config, self._arch = model, config, arch
        self._input = config.inputs[0] if config.inputs else None
        # Models with several inputs (BERT) take them positionally, in contract order.
        self._inputs = tuple(config.inputs) if len(config.inputs) > 1 else ()
        self._positions = self._output_positions(config, arch)
        self._check_placement(config)

    @staticmethod
    def _output_positions(config: BackendConfig, arch: str) -> list[int]:
        """Where each wanted output sits in the forward's tuple (contract order)."""
        contract = list(config.contract_outputs)
        wanted = list(config.outputs) or contract
        if not contract:
            return list(range(len(wanted)))
        missing = [n for n in wanted if n not in contract]
        if missing:
            raise ModelLoadError(f"{config.model_path}: {arch} returns {contract} by position; no {missing}")
        return [contract.index(n) for n in wanted]

    def _check_placement(self, config: BackendConfig) -> None:
        """Every tensor on the device and float dtype asked for, or the run is not what it claims."""
        self._device_type = DEVICE_TYPES[config.device]
        tensors = self._tensors()
        elsewhere = sorted({str(t.device) for t in tensors if t.device.type != self._device_type})
        if elsewhere:
            raise SilentFallback(f"asked pytorch for {config.device}, but model tensors are on {elsewhere}")
        other = sorted({str(t.dtype) for t in tensors if t.is_floating_point() and t.dtype != self._dtype})
        if other:
            raise SilentFallback(f"asked pytorch for {config.precision}, but model tensors are {other}")
        # Where outputs land is only known once a batch has run: the first
        # predict (the harness's calibration, before LoadGen starts) checks it.
        self._outputs_checked = False

    def _tensors(self):
        return list(self._model.parameters()) + list(self._model.buffers())

    # inference -------------------------------------------------------------
    def _tensor(self, array: np.ndarray):
        torch = self._torch
        if array.flags.writeable:
            x = torch.from_numpy(array)  # shares the staged memory: no copy on CPU fp32
        else:
            # The model never writes its input; torch warns (once) about sharing
            # a read-only buffer, and copying it instead would cost a batch copy.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                x = torch.from_numpy(array)
        # One conversion does the device move and the cast; a no-op on CPU
        # fp32. Token ids and masks stay integers.
        return x.to(device=self._device, dtype=self._dtype if x.is_floating_point() else None)

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            if self._inputs:
                outputs = self._model(*(self._tensor(feed[name]) for name in self._inputs))
            else:
                outputs = self._model(self._tensor(feed[self._input] if self._input else next(iter(feed.values()))))
            if not self._outputs_checked:
                self._check_outputs(outputs)
            return [self._numpy(outputs[i]) for i in self._positions]

    def _check_outputs(self, outputs) -> None:
        places = sorted({str(o.device) for o in outputs if o.device.type != self._device_type})
        if places:
            raise SilentFallback(f"asked pytorch for {self._config.device}, but the model's outputs land on {places}")
        self._outputs_checked = True

    def _numpy(self, tensor) -> np.ndarray:
        if tensor.is_floating_point() and tensor.dtype != self._float32:
            tensor = tensor.float()  # numpy has no bfloat16; the contract is float32
        return tensor.cpu().numpy()  # .cpu() is a no-op for CPU tensors

    def info(self) -> dict:
        torch = self._torch
        first = next(self._model.parameters(), None)
        return {
            "backend": self.name,
            "device": self._config.device,
            "torch_device": str(first.device) if first is not None else str(self._device),
            "precision": self._config.precision,
            "parameter_dtype": str(first.dtype).removeprefix("torch.") if first is not None else None,
            "architecture": self._arch,
            "intra_op_threads": torch.get_num_threads(),
            # what OpenMP was started with: set before torch loaded, or its default
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "framework_version": torch.__version__,
            **({"cuda_device_name": torch.cuda.get_device_name(self._device)} if self._device.type == "cuda" else {}),
        }
