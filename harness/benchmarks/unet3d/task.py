"""Kidney and tumour segmentation with MLPerf's 3d-unet contract, one volume at a time.

The model sees one window at a time: input ``input`` float32 [N, 1, R, R, R],
output ``output`` float32 logits [N, 3, R, R, R] (background, kidney, tumour),
R = 128 for MLPerf's model (its ONNX file has a free batch axis). A sample is
a whole preprocessed case, [1, D, H, W] of its own size, answered by MLPerf's
sliding-window inference (``sliding_window``); the response is the uint8 mask
[D, H, W], C order: the bytes ``accuracy_kits.py`` reshapes to the case's
``image_shape``. Several windows go into one model call (``windows_per_call``)
where MLPerf's reference feeds one: the sums, and so the mask, are the same.

Mutation options, only for tests that show the accuracy gate bites:
``gaussian=False`` weights every window voxel equally; ``swap_classes=True``
answers kidney as tumour and tumour as kidney.
"""
from __future__ import annotations

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task

from . import layout, sliding_window


class KidneyTumourSegmentation(Task):
    input_kind = "volumes"
    response_kind = "ragged"
    input_name = "input"
    output_name = "output"
    inputs = (input_name,)
    outputs = (output_name,)
    contract_outputs = (output_name,)
    response_dtype = np.uint8

    def __init__(self, roi_size: int = layout.ROI_SIZE, overlap: float = layout.SLIDE_OVERLAP_FACTOR,
                 windows_per_call: int = 4, gaussian: bool = True, swap_classes: bool = False):
        self.roi_size = int(roi_size)
        self.overlap = float(overlap)
        if self.roi_size < 2 or not 0.0 < self.overlap < 1.0 or layout.strides(self.roi_size, self.overlap) < 1:
            raise ValueError(f"roi_size {roi_size} and overlap {overlap}: expected a window of at least 2 voxels "
                             "and an overlap in (0, 1) that leaves a step of at least one voxel")
        self.windows_per_call = max(1, int(windows_per_call))
        self.gaussian, self.swap_classes = bool(gaussian), bool(swap_classes)
        roi = self.roi_size
        self._patch = sliding_window.importance_patch(roi) if self.gaussian else sliding_window.uniform_patch(roi)

    def model_contract(self) -> ModelContract:
        r = self.roi_size
        return ModelContract(
            inputs=(TensorContract(self.input_name, ("float32",)),),
            outputs=(TensorContract(self.output_name, ("float32",), ((len(layout.CLASSES), r, r, r),),
                                    f"logits of {', '.join(layout.CLASSES)} for each voxel of one {r}^3 window"),),
        )

    def probe_batch(self, source):
        """One window, as the model is fed: [1, 1, R, R, R] from the first volume's corner."""
        r = self.roi_size
        volume = np.asarray(source[0], dtype=np.float32)
        window = np.full((1, 1, r, r, r), layout.PADDING_VAL, np.float32)
        corner = volume[0, :r, :r, :r] if volume.ndim == 4 else volume[:r, :r, :r]
        window[0, 0, : corner.shape[0], : corner.shape[1], : corner.shape[2]] = corner
        return window

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {self.input_name: batch}

    def segment(self, backend, volume: np.ndarray) -> np.ndarray:
        """The mask of one volume: every window through ``backend.predict``."""
        return sliding_window.segment(
            volume, lambda windows: backend.predict(self.feed(windows))[0], roi=self.roi_size,
            overlap=self.overlap, patch=self._patch, windows_per_call=self.windows_per_call)

    def responses(self, outputs: list[np.ndarray], indices) -> list[np.ndarray]:
        """``outputs``: one uint8 mask per sample; returns the bytes to log, contiguous, one array each."""
        answers = []
        for mask in outputs:
            mask = np.asarray(mask, dtype=self.response_dtype)
            if self.swap_classes:
                swapped = mask.copy()
                swapped[mask == layout.KIDNEY] = layout.TUMOUR
                swapped[mask == layout.TUMOUR] = layout.KIDNEY
                mask = swapped
            answers.append(np.ascontiguousarray(mask))
        return answers

    def run(self, backend, batch, indices) -> list[np.ndarray]:
        """``batch``: the volumes to answer ([1, D, H, W] each, a list or a stacked array)."""
        return self.responses([self.segment(backend, volume) for volume in batch], indices)
