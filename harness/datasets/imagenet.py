"""ImageNet validation layout and the MLPerf ResNet50 preprocessing.

Layout: ``<dataset_dir>/val_map.txt`` with one ``<image file> <integer label>``
per line and the JPEG files beside it.  Query-sample index ``i`` is line ``i``
of ``val_map.txt``: LoadGen's accuracy log refers to samples by that index, so
the order is a public contract and is never sorted or shuffled here.

Preprocessing follows MLPerf's ``pre_process_vgg`` (vision/classification_and_
detection/python/dataset.py) step by step; accuracy gates depend on it being
exact, so every step and its rounding rule is spelled out below.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

VAL_MAP = "val_map.txt"
OUTPUT_SIZE = 224
# MLPerf resizes so the short side is 224 / 0.875 = 256 before the centre crop.
# The reference computes it as int(100 * 224 / 87.5), which is exactly 256.
RESIZE_SHORT_SIDE = int(100.0 * OUTPUT_SIZE / 87.5)
# Per-channel means in RGB order; MLPerf subtracts them and divides by nothing.
MEAN_RGB = np.array([123.68, 116.78, 103.94], dtype=np.float32)
CHANNEL_ORDERS = ("RGB", "BGR")
# Bumped whenever the pipeline's output could change: it keys the on-disk cache.
PIPELINE_VERSION = "mlperf-resnet50-vgg/1"

_LAYOUT_HINT = "expected {map} with lines '<image file> <label>' and the JPEG files beside it"


class DatasetError(ValueError):
    """The dataset folder does not have the expected layout or content."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A folder or file the layout requires is missing."""


def read_val_map(dataset_dir: str | Path, count: int | None = None, *,
                 check_images: bool = True) -> list[tuple[str, int]]:
    """Return ``[(file name, label), ...]`` in line order, the first ``count`` if given.

    Every returned image is checked to exist, so a broken dataset fails here
    with the path rather than deep inside a benchmark run. Scoring an accuracy
    log needs only the labels (``check_images=False``), as MLPerf's script does.
    """
    root = Path(dataset_dir)
    map_path = root / VAL_MAP
    hint = _LAYOUT_HINT.format(map=map_path)
    if not root.is_dir():
        raise DatasetNotFoundError(f"ImageNet dataset folder {root} does not exist: {hint}")
    if not map_path.is_file():
        raise DatasetNotFoundError(f"{map_path} is missing: {hint}")
    if count is not None and count < 1:
        raise ValueError(f"count must be a positive number of samples, got {count}")

    # Trailing blank lines are harmless; a blank line in the middle is an error
    # because it would silently shift every later query-sample index.
    lines = map_path.read_text(encoding="utf-8").rstrip().splitlines()
    entries: list[tuple[str, int]] = []
    for lineno, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 2 or not _is_int(parts[1]) or int(parts[1]) < 0:
            raise DatasetError(
                f"{map_path}, line {lineno}: {line!r} is malformed; "
                "expected '<image file> <integer label>' (two fields, label >= 0)"
            )
        entries.append((parts[0], int(parts[1])))
    if not entries:
        raise DatasetError(f"{map_path} lists no images: {hint}")
    if count is not None:
        if count > len(entries):
            raise DatasetError(f"count={count} but {map_path} lists only {len(entries)} images")
        entries = entries[:count]
    for name, _ in entries if check_images else ():
        if not (root / name).is_file():
            raise DatasetNotFoundError(f"image {root / name} listed in {map_path} does not exist")
    return entries


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def resize_short_side(img: np.ndarray, short_side: int = RESIZE_SHORT_SIDE) -> np.ndarray:
    """Aspect-preserving INTER_AREA resize so the short side is ``short_side``.

    Mirrors the reference's ``resize_with_aspectratio``: the long side is
    ``int(short_side * long / short)``, truncated, not rounded (a 90x200 image
    becomes 256x568, where rounding would give 569).  A square image takes the
    ``else`` branch, so height is the side set to 256 when they are equal.
    """
    height, width = img.shape[:2]
    if height > width:
        new_w, new_h = short_side, int(short_side * height / width)
    else:
        new_h, new_w = short_side, int(short_side * width / height)
    return cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)


def center_crop(img: np.ndarray, size: int = OUTPUT_SIZE) -> np.ndarray:
    """Centre crop with the reference's offsets: ``int((dim - size) / 2)``."""
    height, width = img.shape[:2]
    top = int((height - size) / 2)
    left = int((width - size) / 2)
    return img[top : top + size, left : left + size]


def preprocess_bgr(img_bgr: np.ndarray, *, channel_order: str = "RGB") -> np.ndarray:
    """Preprocess an 8-bit BGR image as ``cv2.imread`` returns it: (3,224,224) float32.

    ``channel_order="BGR"`` skips the BGR->RGB conversion: a deliberate break of
    the pipeline that mutation tests use to show the accuracy gate bites.
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
    img = img_bgr
    if channel_order == "RGB":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = resize_short_side(img)
    img = center_crop(img)
    out = np.asarray(img, dtype=np.float32) - MEAN_RGB
    # HWC -> CHW, copied so the result is contiguous for the runtime.
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def preprocess_image(path: str | Path, *, channel_order: str = "RGB") -> np.ndarray:
    """Read one image file and return the MLPerf ResNet50 input, (3,224,224) float32."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        if not Path(path).is_file():
            raise DatasetNotFoundError(f"image {path} does not exist")
        raise DatasetError(f"image {path} cannot be decoded by OpenCV")
    return preprocess_bgr(img, channel_order=channel_order)


def preprocess_dataset(
    dataset_dir: str | Path, *, count: int | None = None, channel_order: str = "RGB"
) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess the listed images in ``val_map.txt`` order.

    Returns ``(samples, labels)``: a C-contiguous N x 3 x 224 x 224 float32 array
    (filled in place, so a batch later is a view, never a Python list) and the
    int64 labels.
    """
    root = Path(dataset_dir)
    entries = read_val_map(root, count)
    samples = np.empty((len(entries), 3, OUTPUT_SIZE, OUTPUT_SIZE), dtype=np.float32)
    for i, (name, _) in enumerate(entries):
        samples[i] = preprocess_image(root / name, channel_order=channel_order)
    labels = np.array([label for _, label in entries], dtype=np.int64)
    return samples, labels
