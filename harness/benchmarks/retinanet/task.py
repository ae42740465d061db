"""Object detection with the MLPerf retinanet ONNX contract, answered as MLPerf's harness answers.

The model (resnext50_32x4d_fpn.onnx, profile ``retinanet-onnxruntime``)
takes ``images`` [1, 3, 800, 800] and returns ``boxes`` (x1, y1, x2, y2 in
pixels of the 800x800 input), ``scores`` (highest first) and ``labels``.
MLPerf's ``PostProcessOpenImagesRetinanet(False, 0.05, 800, 800, False)``
(vision/classification_and_detection/python/openimages.py) turns them into,
per detection, seven float32 values

    [qsl_idx, ymin, xmin, ymax, xmax, score, label]

with y divided by the input height and x by the input width (800 both), the
label as the model gives it (no inverse map), and stops at the first
detection scored below 0.05 (the scores come sorted). The response of one
sample is those rows, contiguous; a sample without detections answers zero
bytes, which the accuracy script counts as an image with no results.
"""
from __future__ import annotations

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task

INPUT_SIZE = 800  # the model's input height and width: boxes are divided by it
SCORE_THRESHOLD = 0.05
VALUES_PER_DETECTION = 7
INTEGER_LABELS = ("int64", "int32")


class ObjectDetection(Task):
    input_kind = "stacked"
    response_kind = "ragged"
    inputs = ("images",)
    # What the harness reads, in MLPerf's profile order ("boxes,labels,scores").
    outputs = ("boxes", "labels", "scores")
    # The real ONNX model's outputs in its own order (tools/retinanet_pytorch_to_onnx.py
    # exports output_names=["boxes", "scores", "labels"]): positional backends
    # (PyTorch) return them in this order.
    contract_outputs = ("boxes", "scores", "labels")
    response_dtype = np.float32

    def __init__(self, swap_xy: bool = False, label_offset: int = 0, score_threshold: float = SCORE_THRESHOLD):
        # swap_xy and label_offset exist only so mutation tests can break the
        # response layout and show the accuracy gate bites.
        self.swap_xy = bool(swap_xy)
        self.label_offset = int(label_offset)
        self.score_threshold = float(score_threshold)

    def model_contract(self) -> ModelContract:
        """Input float32 in the staged layout; one row of 4 per box, one label and score per detection."""
        return ModelContract(
            inputs=(TensorContract("images", ("float32",)),),
            outputs=(
                TensorContract("boxes", ("float32",), ((4,),), "x1, y1, x2, y2 per detection, pixels of the 800x800 input"),
                TensorContract("scores", ("float32",), ((),), "one score per detection"),
                TensorContract("labels", INTEGER_LABELS, ((),), "one category id per detection"),
            ),
        )

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {"images": batch}

    def run(self, backend, batch, indices):
        """One model call per image: the model's outputs are per image, unbatched (as MLPerf's, batch 1)."""
        indices = np.asarray(indices).reshape(-1)
        if len(indices) != len(batch):
            raise ValueError(f"a batch of {len(batch)} images came with {len(indices)} query-sample indices")
        answers = []
        for n in range(len(batch)):
            answers.extend(self.responses(backend.predict(self.feed(batch[n:n + 1])), indices[n:n + 1]))
        return answers

    def responses(self, outputs: list[np.ndarray], indices) -> list[np.ndarray]:
        """``outputs``: boxes, labels, scores of one image (``self.outputs`` order) -> one float32 array."""
        indices = np.asarray(indices).reshape(-1)
        if len(indices) != 1:
            raise ValueError(f"the retinanet model answers one image per call; got {len(indices)} indices")
        boxes, labels, scores = (np.asarray(o) for o in outputs)
        boxes = boxes.reshape(-1, 4)
        labels, scores = labels.reshape(-1), scores.reshape(-1)
        if not len(boxes) == len(labels) == len(scores):
            raise ValueError(f"the model returned {len(boxes)} boxes, {len(labels)} labels and {len(scores)} "
                             "scores; expected one of each per detection")
        # MLPerf breaks at the first score under the threshold (not a filter):
        # the scores come sorted, and a model that does not sort them is
        # answered the same way the reference answers it. The comparison is
        # the reference's own (float32 against the threshold; NaN is kept).
        below = np.flatnonzero(scores < self.score_threshold)
        kept = int(below[0]) if len(below) else len(scores)
        rows = np.empty((kept, VALUES_PER_DETECTION), dtype=self.response_dtype)
        x1, y1, x2, y2 = (boxes[:kept, i].astype(np.float32) / np.float32(INPUT_SIZE) for i in range(4))
        rows[:, 0] = indices[0]
        if self.swap_xy:
            rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4] = x1, y1, x2, y2
        else:
            rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4] = y1, x1, y2, x2
        rows[:, 5] = scores[:kept]
        rows[:, 6] = labels[:kept] + self.label_offset
        return [rows.reshape(-1)]
