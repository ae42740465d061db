"""The small interface every framework backend implements.

A backend turns a feed of named arrays into named outputs. It never imports
its framework at module import time of the harness: ``harness.backends``
resolves a backend by name and imports its module only when a run starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np


class BackendError(RuntimeError):
    """Base for errors a backend raises on purpose."""


class DeviceUnavailable(BackendError):
    """The requested device cannot be used by this backend here (a skip reason)."""


class FrameworkMissing(BackendError):
    """The backend's framework is not installed (a skip reason)."""


class ModelLoadError(BackendError):
    """The model file cannot be loaded by this backend."""


class SilentFallback(BackendError):
    """The backend ran somewhere other than where it was asked to: never a pass."""


class ModelContractError(BackendError):
    """The model's inputs or outputs are not what the task feeds and reads
    (names, dtypes, shapes, a fixed batch size, the class count)."""


@dataclass(frozen=True)
class Signature:
    """What a loaded model takes and returns, as its framework declares it.

    ``inputs`` and ``outputs`` map a tensor name (the harness's name for it)
    to ``(NumPy dtype name, shape)``; a shape is a list whose entries are
    ints, or None where the dimension is symbolic (a free batch). A shape of
    None: the rank is unknown. Describes what ``predict()`` accepts: a
    backend that casts or resizes for the caller reports the result.
    """
    inputs: dict
    outputs: dict
    # Why one sample's answer depends on the others in its batch (dynamic
    # quantization: one scale per batch tensor), or None when it does not. The
    # contract check then runs batches of one, so that a sample is answered the
    # same in every scenario and at every batch composition.
    batch_dependence: str | None = None


@dataclass
class BackendConfig:
    model_path: Path
    device: str = "cpu"
    precision: str = "fp32"
    threads: int = 0  # 0: the backend's own choice, recorded in info()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # the outputs predict() must return, in this order
    # every output of the model's contract, in contract order: backends whose
    # models have no output names (PyTorch, TFLite) return outputs by position
    contract_outputs: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)


class Backend(Protocol):
    name: str
    # "NCHW" or "NHWC": what the model expects. The harness stages samples in
    # this layout once, before timing, so predict() never transposes.
    layout: str
    # Optional, default False: predict() may be called from several threads at
    # once, so the Server SUT runs one worker per core on one loaded model
    # (harness/runner/sut.py server_workers). Not for one TFLite interpreter,
    # one OpenVINO infer request, one TVM executor.
    concurrent_predict: bool

    @classmethod
    def probe(cls, device: str) -> str | None:
        """Why ``device`` cannot be used, or None. Cheap; called at run time only."""

    def load(self, config: BackendConfig) -> None: ...

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs in the order of ``config.outputs``."""

    def info(self) -> dict:
        """What actually ran: device, provider, precision, threads, versions."""

    # Optional: ``signature() -> Signature`` after load(), where the framework
    # declares its model's tensors cheaply. harness/runner/contract.py checks
    # it against the task's contract before calibration; a backend without it
    # (PyTorch: an nn.Module declares no input shapes or dtypes) is not checked.
