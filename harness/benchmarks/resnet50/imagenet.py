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

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from harness.datasets.base import DatasetFormatError

VAL_MAP = "val_map.txt"
# ImageNet-2012 has 1000 classes: the real val_map.txt labels are 0..999. A
# benchmark passes its own count (the registry's task option num_classes).
IMAGENET_CLASSES = 1000
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


class DatasetError(DatasetFormatError):
    """The dataset folder does not have the expected layout or content."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A folder or file the layout requires is missing."""


def read_val_map(dataset_dir: str | Path, count: int | None = None, *,
                 check_images: bool = True, num_classes: int = IMAGENET_CLASSES) -> list[tuple[str, int]]:
    """Return ``[(file name, label), ...]`` in line order, the first ``count`` if given.

    Every line is checked (two fields, a label in ``0..num_classes-1``, no
    image listed twice) and every returned image is checked to exist, so a
    broken dataset fails here with the line rather than deep inside a
    benchmark run. Scoring an accuracy log needs only the labels
    (``check_images=False``), as MLPerf's script does.
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
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive number of classes, got {num_classes}")

    # Trailing blank lines are harmless; a blank line in the middle is an error
    # because it would silently shift every later query-sample index.
    lines = map_path.read_text(encoding="utf-8").rstrip().splitlines()
    entries: list[tuple[str, int]] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 2 or not _is_int(parts[1]) or int(parts[1]) < 0:
            raise DatasetError(
                f"{map_path}, line {lineno}: {line!r} is malformed; "
                "expected '<image file> <integer label>' (two fields, label >= 0)"
            )
        name, label = parts[0], int(parts[1])
        if label >= num_classes:
            # Scored anyway, such a label could never match a prediction: the
            # accuracy would drop with no word about why.
            raise DatasetError(
                f"{map_path}, line {lineno}: {line!r} has label {label}, outside the model's {num_classes} "
                f"classes; expected a label in 0..{num_classes - 1}"
            )
        if name in first_line:
            # A repeated image would be scored twice and shift nothing, so it
            # would go unnoticed: the real list names 50,000 distinct files.
            raise DatasetError(
                f"{map_path}, line {lineno}: {line!r} lists {name} again (first listed on line "
                f"{first_line[name]}); expected each image once"
            )
        first_line[name] = lineno
        entries.append((name, label))
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


# Markers that stand alone (no length field): TEM, RST0-7, SOI, EOI.
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8), 0xD8, 0xD9})
_SOS, _EOI = 0xDA, 0xD9


def jpeg_damage(data: bytes) -> str | None:
    """Why ``data`` is not a complete JPEG stream, or None.

    libjpeg decodes a truncated file to a partly grey image and only prints
    "Premature end of JPEG file"; this walk finds the same damage from the
    structure alone, whatever the OpenCV build prints: marker segments from
    the start-of-image marker, the entropy-coded data after each start of
    scan (where an FF byte is followed by 00 or a restart marker), up to the
    end-of-image marker FF D9. Bytes after FF D9 are ignored, as libjpeg does.
    """
    size = len(data)
    if data[:2] != b"\xff\xd8":
        return "does not start with the start-of-image marker FF D8"
    cut = f"ends after {size} bytes, before the end-of-image marker FF D9 (the file is truncated)"
    pos = 2
    while True:
        if pos >= size:
            return cut
        if data[pos] != 0xFF:
            stray = data.find(b"\xff", pos)
            stray = (size if stray < 0 else stray) - pos
            return f"has {stray} stray byte(s) at offset {pos} where a marker was expected"
        while pos < size and data[pos] == 0xFF:  # FF fill bytes may pad before a marker
            pos += 1
        if pos >= size:
            return cut
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            return None
        if marker in _STANDALONE_MARKERS:
            continue
        if marker == 0x00:
            return f"has a stray FF 00 at offset {pos - 2} where a marker was expected"
        if pos + 2 > size:
            return cut
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2:
            return f"has a marker segment FF {marker:02X} at offset {pos - 2} with an invalid length {length}"
        pos += length
        if pos > size:
            return cut
        if marker == _SOS:
            while True:  # the scan's entropy-coded data, up to the next real marker
                ff = data.find(b"\xff", pos)
                if ff < 0 or ff + 1 >= size:
                    return cut
                follower = data[ff + 1]
                if follower == 0x00 or 0xD0 <= follower <= 0xD7:
                    pos = ff + 2
                    continue
                pos = ff
                break


_trap_lock = threading.Lock()
_trap_fd: int | None = None  # one scratch file per process, reused for every image


@contextmanager
def _native_stderr(messages: list[str]):
    """Collect what native code writes to file descriptor 2 inside the block.

    libjpeg reports recoverable damage (a cut file, corrupt entropy-coded
    data, stray bytes) only by printing a warning to stderr, and OpenCV then
    returns the damaged image as if it were whole. The warning is the only
    evidence, so it is caught here and turned into an error by the caller.
    Fd 2 is process-wide: the lock keeps two decoding threads from sharing
    the trap (output of unrelated threads in that window is caught as well).
    """
    global _trap_fd
    with _trap_lock:
        try:
            sys.stderr.flush()  # Python's own pending output is not the decoder's
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield  # no usable fd 2 (a daemon): the structural JPEG check still ran
            return
        if _trap_fd is None:
            with tempfile.TemporaryFile() as scratch:  # unlinked at once; the dup keeps it open
                _trap_fd = os.dup(scratch.fileno())
        os.ftruncate(_trap_fd, 0)
        os.lseek(_trap_fd, 0, os.SEEK_SET)
        os.dup2(_trap_fd, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.fstat(_trap_fd).st_size
            if size:
                os.lseek(_trap_fd, 0, os.SEEK_SET)
                messages.append(os.read(_trap_fd, size).decode("utf-8", "replace").strip())


def decode_image(path: str | Path) -> np.ndarray:
    """``cv2.imread(path, IMREAD_COLOR)``, with damage an error naming the file.

    A JPEG whose structure is incomplete, or any warning the decoder prints,
    is a DatasetError: a partly decoded image would lower the accuracy and
    nothing else would say why.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"image {path} does not exist")
    head = path.read_bytes()
    if head[:2] == b"\xff\xd8":
        damage = jpeg_damage(head)
        if damage:
            raise DatasetError(f"image {path} is a damaged JPEG: it {damage}; expected a complete JPEG file")
    messages: list[str] = []
    with _native_stderr(messages):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    said = " ".join(m for m in messages if m)
    if img is None:
        raise DatasetError(f"image {path} cannot be decoded by OpenCV" + (f" ({said})" if said else ""))
    if said:
        raise DatasetError(
            f"image {path}: the decoder warned {said!r} (it would return a partly decoded image); "
            "expected a file that decodes cleanly"
        )
    return img


def preprocess_image(path: str | Path, *, channel_order: str = "RGB") -> np.ndarray:
    """Read one image file and return the MLPerf ResNet50 input, (3,224,224) float32."""
    return preprocess_bgr(decode_image(path), channel_order=channel_order)


def preprocess_dataset(
    dataset_dir: str | Path, *, count: int | None = None, channel_order: str = "RGB",
    num_classes: int = IMAGENET_CLASSES,
) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess the listed images in ``val_map.txt`` order.

    Returns ``(samples, labels)``: a C-contiguous N x 3 x 224 x 224 float32 array
    (filled in place, so a batch later is a view, never a Python list) and the
    int64 labels.
    """
    root = Path(dataset_dir)
    entries = read_val_map(root, count, num_classes=num_classes)
    samples = np.empty((len(entries), 3, OUTPUT_SIZE, OUTPUT_SIZE), dtype=np.float32)
    for i, (name, label) in enumerate(entries):
        try:
            samples[i] = preprocess_image(root / name, channel_order=channel_order)
        except DatasetError as exc:
            # Line i + 1: read_val_map refuses blank lines before the last entry.
            raise type(exc)(f"{root / VAL_MAP}, line {i + 1} ('{name} {label}'): {exc}") from exc
    labels = np.array([label for _, label in entries], dtype=np.int64)
    return samples, labels
