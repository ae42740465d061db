"""Render scikit-learn's digits as a small dataset in the ImageNet val layout.

Why it looks like this: the digits are grey 8x8 images, so on their own a
colour-order bug (BGR fed where RGB is expected) would change nothing.  Each
picture therefore puts the TRUE digit in the red channel, a DIFFERENT digit
(the distractor) in the blue channel and a faint third digit plus noise in
green.  A model trained through the real pipeline learns to read red; swapping
red and blue makes it read the distractor, and accuracy collapses.

The pictures are non-square (288 x 320) so the short-side resize and the centre
crop of the MLPerf ResNet50 pipeline both do real work.  The digit covers 256 x
256 pixels (8 cells of 32) in the middle, which the 256/288 resize and 224 crop
bring to about one 28 x 28 pooling cell per digit pixel.

Everything is deterministic: fixed split boundaries, a numpy generator seeded
per digit index, and JPEG written by OpenCV at a fixed quality.  Rendering twice
gives identical bytes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Bump when the pictures could change: the proxy model and its reference
# accuracy were measured on this version.
GENERATOR_VERSION = "1"

# Fixed split of load_digits' 1,797 images (by index).
SPLITS = {
    "train": (0, 1097),
    "calibration": (1097, 1297),  # for int8 calibration
    "val": (1297, 1797),  # the 500-image accuracy set
}
FILE_PREFIX = {
    "train": "ILSVRC2012_train_",
    "calibration": "ILSVRC2012_cal_",
    "val": "ILSVRC2012_val_",
}
IMAGE_HEIGHT, IMAGE_WIDTH = 288, 320
CELL = 32  # pixels per digit pixel
JPEG_QUALITY = 92
SEED = 20240617
MAX_SHIFT = 6  # pixels of jitter for the distractor and the green digit
NOISE = 6  # +- grey levels of per-pixel noise in every channel


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # shipped inside scikit-learn, no download

    digits = load_digits()
    return digits.images.astype(np.float64), digits.target.astype(np.int64)


def _place(canvas: np.ndarray, digit8: np.ndarray, scale: float, dy: int, dx: int) -> None:
    """Add an 8x8 digit (values 0..16) upscaled to CELL-pixel blocks, centred + shifted."""
    block = np.kron((digit8 * scale).astype(np.float32), np.ones((CELL, CELL), np.float32))
    size = block.shape[0]
    top = (IMAGE_HEIGHT - size) // 2 + dy
    left = (IMAGE_WIDTH - size) // 2 + dx
    canvas[top : top + size, left : left + size] += block


def render_image(index: int, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The picture for digit ``index`` as an RGB uint8 array (H, W, 3)."""
    rng = np.random.default_rng((SEED, index))
    train_lo, train_hi = SPLITS["train"]
    train_idx = np.arange(train_lo, train_hi)
    others = train_idx[(labels[train_lo:train_hi] != labels[index]) & (train_idx != index)]
    distractor = int(rng.choice(others))
    third = int(rng.choice(train_idx[train_idx != index]))

    background = rng.uniform(0.0, 30.0, size=3)
    rgb = np.empty((3, IMAGE_HEIGHT, IMAGE_WIDTH), np.float32)
    rgb[:] = background[:, None, None]
    shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(2, 2))
    # The true digit sits on the pooling grid of the proxy model; the
    # distractors are jittered so they cannot line up with it by construction.
    _place(rgb[0], images[index], 14.0, 0, 0)  # red: the true digit
    _place(rgb[1], images[third], 5.0, *shifts[0])  # green: faint third digit
    _place(rgb[2], images[distractor], 14.0, *shifts[1])  # blue: distractor
    # Uniform integer noise: as good as Gaussian here and several times cheaper.
    rgb += rng.integers(-NOISE, NOISE + 1, size=rgb.shape, dtype=np.int16)
    np.rint(rgb, out=rgb)
    np.clip(rgb, 0, 255, out=rgb)
    return rgb.astype(np.uint8).transpose(1, 2, 0)


def render_dataset(out_dir: str | Path, split: str = "val", *, count: int | None = None) -> Path:
    """Write the split's pictures as JPEG plus ``val_map.txt``; return ``out_dir``.

    ``val_map.txt`` (``<file> <digit label>``) is written for every split so the
    same reader handles them all; the calibration split also gets ``cal_map.txt``
    with the same lines, named after MLPerf's calibration list.  ``count`` keeps
    the first N images of the split.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    lo, hi = SPLITS[split]
    if count is not None:
        if not 1 <= count <= hi - lo:
            raise ValueError(f"count must be in 1..{hi - lo} for split {split!r}, got {count}")
        hi = lo + count
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = _digits()
    lines = []
    for n, index in enumerate(range(lo, hi), start=1):
        name = f"{FILE_PREFIX[split]}{n:08d}.JPEG"
        rgb = render_image(index, images, labels)
        # OpenCV writes BGR: reverse the channels or red and blue swap on disk.
        ok = cv2.imwrite(str(out / name), rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError(f"OpenCV could not write {out / name}")
        lines.append(f"{name} {int(labels[index])}\n")
    (out / "val_map.txt").write_text("".join(lines))
    if split == "calibration":
        (out / "cal_map.txt").write_text("".join(lines))
    return out
