"""MLPerf's retinanet preprocessing, step for step (``pre_process_openimages_retinanet``).

vision/classification_and_detection/python/dataset.py (``maybe_resize``):
the decoded BGR uint8 image is first made float32, grey images become three
channels, BGR becomes RGB, the float image is resized to 800x800 with
INTER_LINEAR (no aspect ratio kept, no crop), divided by 255 (no mean, no
std) and transposed to CHW. The order matters for the bytes: resizing the
float image is not the same as resizing the uint8 one and converting after.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from harness.datasets.base import DatasetFormatError

INPUT_SIZE = 800  # the model's input is 800x800 (MLPerf's "openimages-800-retinanet-onnx")
SCALE = 255.0
CHANNEL_ORDERS = ("RGB", "BGR")
# Bumped whenever the output could change: it keys the staged samples.
PIPELINE_VERSION = "mlperf-retinanet-800/1"


def preprocess_bgr(image_bgr: np.ndarray, *, channel_order: str = "RGB") -> np.ndarray:
    """An image as ``cv2.imread`` returns it -> (3, 800, 800) float32 in [0, 1].

    ``channel_order="BGR"`` skips the BGR->RGB conversion: a deliberate break
    that mutation tests use to show the accuracy gate bites.
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
    image = np.array(image_bgr, dtype=np.float32)
    if image.ndim < 3 or image.shape[2] != 3:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if channel_order == "RGB":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    image = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    image /= SCALE
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def decode_image(path: Path) -> np.ndarray:
    """``cv2.imread(path)`` (BGR, 3 channels), an unreadable file an error naming it."""
    path = Path(path)
    try:
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: missing (expected an image file)") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DatasetFormatError(f"{path}: OpenCV cannot decode this file; expected a JPEG image")
    return image


def preprocess_files(files: list[Path], *, channel_order: str = "RGB") -> np.ndarray:
    """The files' samples as one C-contiguous [N, 3, 800, 800] float32 array, in list order."""
    samples = np.empty((len(files), 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    for n, file in enumerate(files):
        samples[n] = preprocess_bgr(decode_image(file), channel_order=channel_order)
    return samples
