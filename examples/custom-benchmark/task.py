"""The model's contract: float32 pixels [N, 64] in; the predicted class (int64) out.

The response per sample is the class as one int32, completed in bulk.
"""
from __future__ import annotations

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task


class DigitClassification(Task):
    input_kind = "stacked"
    response_kind = "fixed"
    inputs = ("pixels",)
    outputs = ("label",)
    contract_outputs = ("label", "logits")

    def __init__(self, label_offset: int = 0):
        self.label_offset = int(label_offset)  # a mutation test shifts it to show the gate bites

    def model_contract(self) -> ModelContract:
        return ModelContract(
            inputs=(TensorContract("pixels", ("float32",)),),
            outputs=(TensorContract("label", ("int64",), ((),), "one class per sample"),),
        )

    def responses(self, outputs, indices=None) -> np.ndarray:
        return (np.asarray(outputs[0]).reshape(-1) + self.label_offset).astype(np.int32)
