"""Render a small detection dataset of coloured shapes in the OpenImages MLPerf layout.

Why it looks like this:
- images of varied sizes (320-640 px, width and height drawn apart) so the
  plain 800x800 resize of MLPerf's pipeline stretches every image differently
  and a box must be scaled back by its own image's width and height;
- six classes told apart by shape *and* colour, with red/blue and
  yellow/cyan pairs of the same shape: a BGR/RGB mix-up swaps those classes
  and the accuracy collapses, so a colour-order mutation bites;
- several objects per image, 10-32% of the short side, never overlapping
  (the box of each is the tight extent of its own pixels), on a noisy
  background with a gentle gradient, written as JPEG.

Category ids are 0..5 and image ids 1..N, numbered as MLPerf's own export
(tools/openimages.py: categories by ``enumerate``, images from 1).
Everything is seeded per image (numpy's default_rng of a fixed tuple), and
JPEG is written by OpenCV at a fixed quality: rendering twice gives the same
bytes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .annotations import ANNOTATION_FILE, IMAGE_DIR

# Bump when the pictures could change: the proxy model and its reference
# accuracy were measured on this version.
GENERATOR_VERSION = "1"
SEED = 20260817
SPLITS = {"val": 0, "train": 1}  # separate seed streams: training never sees a val image
VAL_IMAGES = 64  # MLPerf retinanet's performance sample count
SIDE_RANGE = (320, 640)
OBJECTS_PER_IMAGE = (2, 6)
SIZE_RANGE = (0.10, 0.32)  # object side as a fraction of the image's short side
GAP = 6  # pixels kept free between objects
NOISE = 14  # +- grey levels of per-pixel noise
JPEG_QUALITY = 90


@dataclass(frozen=True)
class ShapeClass:
    name: str
    shape: str
    rgb: tuple[int, int, int]


CLASSES = (
    ShapeClass("Red circle", "circle", (220, 45, 45)),
    ShapeClass("Blue circle", "circle", (45, 70, 220)),
    ShapeClass("Green square", "square", (50, 185, 60)),
    ShapeClass("Yellow triangle", "triangle", (230, 205, 40)),
    ShapeClass("Cyan triangle", "triangle", (40, 200, 215)),
    ShapeClass("Magenta cross", "cross", (205, 55, 200)),
)


@dataclass(frozen=True)
class RenderedObject:
    category_id: int
    bbox: tuple[int, int, int, int]  # x, y, width, height in pixels of the image


def _mask(shape: str, height: int, width: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    if shape == "circle":
        r = w // 2
        cv2.circle(mask, (x0 + r, y0 + r), r, 1, thickness=-1)
    elif shape == "square":
        cv2.rectangle(mask, (x0, y0), (x0 + w - 1, y0 + h - 1), 1, thickness=-1)
    elif shape == "triangle":
        points = np.array([[x0, y0 + h - 1], [x0 + w - 1, y0 + h - 1], [x0 + (w - 1) // 2, y0]], np.int32)
        cv2.fillPoly(mask, [points], 1)
    elif shape == "cross":
        third = max(w // 3, 1)
        cv2.rectangle(mask, (x0, y0 + third), (x0 + w - 1, y0 + h - 1 - third), 1, thickness=-1)
        cv2.rectangle(mask, (x0 + third, y0), (x0 + w - 1 - third, y0 + h - 1), 1, thickness=-1)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return mask


def _overlaps(box: tuple[int, int, int, int], placed: list[tuple[int, int, int, int]]) -> bool:
    x, y, w, h = box
    return any(x < px + pw + GAP and px < x + w + GAP and y < py + ph + GAP and py < y + h + GAP
               for px, py, pw, ph in placed)


def render_image(split: str, index: int) -> tuple[np.ndarray, list[RenderedObject]]:
    """Image ``index`` of ``split`` as a BGR uint8 array (as cv2 writes it) and its objects."""
    rng = np.random.default_rng((SEED, SPLITS[split], index))
    width, height = (int(v) for v in rng.integers(SIDE_RANGE[0], SIDE_RANGE[1] + 1, size=2))
    base = rng.uniform(70.0, 180.0) + rng.uniform(-15.0, 15.0, size=3)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height) * rng.uniform(-25.0, 25.0)
    rgb = base[None, None, :].astype(np.float32) + ramp[:, :, None]

    objects: list[RenderedObject] = []
    placed: list[tuple[int, int, int, int]] = []
    short = min(width, height)
    for _ in range(int(rng.integers(OBJECTS_PER_IMAGE[0], OBJECTS_PER_IMAGE[1] + 1))):
        category = int(rng.integers(len(CLASSES)))
        cls = CLASSES[category]
        w = int(rng.uniform(*SIZE_RANGE) * short)
        h = int(w * rng.uniform(0.8, 1.2)) if cls.shape == "triangle" else w
        colour = np.clip(np.array(cls.rgb) + rng.uniform(-15.0, 15.0, size=3), 0, 255).astype(np.float32)
        for _attempt in range(100):
            x0 = int(rng.integers(0, width - w + 1))
            y0 = int(rng.integers(0, height - h + 1))
            if not _overlaps((x0, y0, w, h), placed):
                break
        else:
            continue  # no room left: fewer objects in this image
        mask = _mask(cls.shape, height, width, x0, y0, w, h).astype(bool)
        rgb[mask] = colour
        rows, cols = np.nonzero(mask)
        # The tight extent of the object's own pixels: pixel i covers [i, i + 1).
        box = (int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1))
        placed.append((x0, y0, w, h))
        objects.append(RenderedObject(category, box))

    rgb += rng.integers(-NOISE, NOISE + 1, size=rgb.shape).astype(np.float32)
    image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[:, :, ::-1]), objects


def encode_jpeg(image_bgr: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError("OpenCV could not encode a JPEG")
    return data.tobytes()


def file_name(split: str, index: int) -> str:
    """A 16-hex-digit name, as OpenImages image ids look."""
    return hashlib.sha256(f"{SEED}-{split}-{index}".encode()).hexdigest()[:16] + ".jpg"


def render_dataset(out_dir: Path, *, count: int = VAL_IMAGES, split: str = "val") -> Path:
    """Write ``annotations/openimages-mlperf.json`` and ``validation/data/*.jpg``; return ``out_dir``."""
    out = Path(out_dir)
    (out / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    (out / ANNOTATION_FILE).parent.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        image, objects = render_image(split, index)
        name = file_name(split, index)
        (out / IMAGE_DIR / name).write_bytes(encode_jpeg(image))
        height, width = image.shape[:2]
        images.append({"id": index + 1, "file_name": name, "height": height, "width": width,
                       "license": None, "coco_url": None})
        for obj in objects:
            x, y, w, h = (float(v) for v in obj.bbox)
            annotations.append({
                "id": len(annotations) + 1, "image_id": index + 1, "category_id": obj.category_id,
                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                "IsOccluded": 0, "IsInside": 0, "IsDepiction": 0, "IsTruncated": 0, "IsGroupOf": 0,
            })
    data = {
        "info": {"dataset": "openimages_mlperf (proxy: rendered shapes)", "version": f"shapes-v{GENERATOR_VERSION}"},
        "licenses": [],
        "categories": [{"id": i, "name": c.name, "supercategory": None} for i, c in enumerate(CLASSES)],
        "images": images,
        "annotations": annotations,
    }
    (out / ANNOTATION_FILE).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return out
