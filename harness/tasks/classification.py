"""Image classification with the MLPerf ResNet50 ONNX contract.

The real model has 1001 classes (0 is background), so MLPerf subtracts one
from ArgMax to get the ImageNet label; the response is that index as float32.
"""
from __future__ import annotations

import numpy as np


class ImageClassification:
    input_name = "input_tensor:0"
    argmax_output = "ArgMax:0"
    response_dtype = np.float32

    def __init__(self, class_offset: int = -1):
        # The offset is a parameter only so a mutation test can break it.
        self.class_offset = class_offset

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input_name,)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.argmax_output,)

    @property
    def contract_outputs(self) -> tuple[str, ...]:
        """Every output of the real model, in its order."""
        return (self.argmax_output, "softmax_tensor:0")

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {self.input_name: batch}

    def responses(self, outputs: list[np.ndarray]) -> np.ndarray:
        """One float32 per sample, contiguous, so responses can point into it."""
        predicted = np.asarray(outputs[0]).reshape(-1)
        return (predicted + self.class_offset).astype(self.response_dtype)
