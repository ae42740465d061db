"""What a task expects of its model's inputs and outputs, declared by the task.

harness/runner/contract.py compares this with what the backend reports about
the loaded model (``Backend.signature()``) before anything runs, so a model
with the wrong shape, dtype, batch or class count fails with one line that
says what the file has and what was expected, not with a framework error in
the middle of a run or an accuracy failure at its end.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorContract:
    name: str
    dtypes: tuple[str, ...]  # NumPy dtype names the harness accepts
    # Acceptable per-sample shapes (the batch dimension left out). Empty for an
    # input: the shape is the staged samples' own, in the backend's layout.
    sample_shapes: tuple[tuple[int, ...], ...] = ()
    # Why those shapes, for the error message ("1000 ImageNet classes ...").
    meaning: str = ""


@dataclass(frozen=True)
class ModelContract:
    inputs: tuple[TensorContract, ...]
    # Outputs are checked where the model has them: ``Backend.signature()``
    # may report only the outputs the harness reads.
    outputs: tuple[TensorContract, ...] = ()
