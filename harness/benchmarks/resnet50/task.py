"""Image classification with the MLPerf ResNet50 ONNX contract.

The real model has 1001 classes (0 is background), so MLPerf subtracts one
from ArgMax to get the ImageNet label; the response is that index as float32.
"""
from __future__ import annotations

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task

INTEGER_INDEX = ("int64", "int32")


class ImageClassification(Task):
    input_kind = "stacked"
    response_kind = "fixed"
    input_name = "input_tensor:0"
    argmax_output = "ArgMax:0"
    softmax_output = "softmax_tensor:0"
    response_dtype = np.float32

    def __init__(self, class_offset: int = -1, num_classes: int = 1000):
        # The offset is a parameter only so a mutation test can break it.
        self.class_offset = class_offset
        # The dataset's classes (labels 0..num_classes-1): the registry's
        # task option, 1000 for ImageNet.
        self.num_classes = int(num_classes)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input_name,)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.argmax_output,)

    @property
    def contract_outputs(self) -> tuple[str, ...]:
        """Every output of the real model, in its order."""
        return (self.argmax_output, self.softmax_output)

    def model_contract(self) -> ModelContract:
        """Input float32 in the staged layout; ArgMax an index; the softmax one score per class.

        The class output may carry MLPerf's background class 0 (1001 wide,
        offset -1) or not (1000 wide, offset 0, torchvision): both are real
        models, so the width is not tied to the offset in force (a mutation
        test changes the offset to show the accuracy gate bites).
        """
        n = self.num_classes
        return ModelContract(
            inputs=(TensorContract(self.input_name, ("float32",)),),
            outputs=(
                TensorContract(self.argmax_output, INTEGER_INDEX, ((), (1,)), "one class index per sample"),
                TensorContract(self.softmax_output, ("float32", "float16"), ((n + 1,), (n,)),
                               f"{n} classes plus the background class 0 as in MLPerf's ResNet50, or {n} without it"),
            ),
        )

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {self.input_name: batch}

    def responses(self, outputs: list[np.ndarray], indices=None) -> np.ndarray:
        """One float32 per sample, contiguous, so responses can point into it."""
        predicted = np.asarray(outputs[0]).reshape(-1)
        return (predicted + self.class_offset).astype(self.response_dtype)
