"""The OpenImages MLPerf layout and its COCO-format annotation file, read strictly.

Layout (what accuracy-openimages.py's ``--openimages-dir`` points at):
``annotations/openimages-mlperf.json`` and, for each image it lists,
``validation/data/<file_name>``.

Query-sample index ``i`` is ``images[i]`` of the annotation file: the
accuracy script looks a logged ``qsl_idx`` up as ``dataset["images"][idx]``,
and MLPerf's OpenImages dataset class walks the same list in the same order
(it would skip an absent image and shift every later index, which is why an
absent image is an error here, never skipped).

Category ids are the file's own (``0..263`` in MLPerf's file, numbered by
``enumerate`` of the class list): the retinanet ONNX model's labels are those
ids, and the accuracy script is run without ``--use-inv-map``, so a label is
used as the category id unchanged.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from harness.datasets.base import DatasetFormatError

ANNOTATION_FILE = Path("annotations") / "openimages-mlperf.json"
IMAGE_DIR = Path("validation") / "data"
LAYOUT = f"{ANNOTATION_FILE} (COCO format) and the images it lists under {IMAGE_DIR}/"


@dataclass(frozen=True)
class ImageEntry:
    """One listed image: what the scorer needs to map a detection back to it."""
    id: int
    file_name: str
    width: int
    height: int


def annotation_path(directory: Path) -> Path:
    """The annotation file of a dataset folder (or the file itself, if given)."""
    directory = Path(directory)
    if directory.is_file():
        return directory
    if not directory.is_dir():
        raise DatasetFormatError(f"{directory}: no such folder (expected an OpenImages MLPerf folder: {LAYOUT})")
    path = directory / ANNOTATION_FILE
    if not path.is_file():
        raise DatasetFormatError(f"{path}: missing (expected an OpenImages MLPerf folder: {LAYOUT})")
    return path


def image_path(directory: Path, entry: ImageEntry) -> Path:
    return Path(directory) / IMAGE_DIR / entry.file_name


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def read_annotations(path: Path) -> dict:
    """The parsed annotation file, every field the scorer and the staging use checked.

    Errors are DatasetFormatError naming the file, the entry and what was expected.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: missing (expected the COCO-format annotation file {ANNOTATION_FILE})") from None
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                 "expected a COCO-format JSON annotation file") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise DatasetFormatError(f"{path}: not valid JSON ({detail}); expected a COCO-format annotation file") from None
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: holds a JSON {type(data).__name__}; expected an object with "
                                 "'images', 'annotations' and 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            found = "missing" if key not in data else f"a {type(data[key]).__name__}"
            raise DatasetFormatError(f"{path}: '{key}' is {found}; expected a list (COCO format)")
    if not data["images"]:
        raise DatasetFormatError(f"{path}: 'images' is empty; expected at least one image")
    categories = _check_categories(path, data["categories"])
    images = _check_images(path, data["images"])
    _check_annotations(path, data["annotations"], images, categories)
    return data


def _fail(path: Path, where: str, value, expected: str):
    raise DatasetFormatError(f"{path}: {where} is {value!r}; expected {expected}")


def _with_unique_ids(path: Path, section: str, entries: list, shape: str, noun: str) -> tuple[list, set]:
    """Each entry of ``section`` an object with an integer id, each id once: (numbered entries, ids)."""
    ids: set = set()
    numbered = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            _fail(path, f"{section}[{n}]", entry, shape)
        if not _is_int(entry.get("id")):
            _fail(path, f"{section}[{n}].id", entry.get("id"), f"an integer {noun} id")
        if entry["id"] in ids:
            _fail(path, f"{section}[{n}].id", entry["id"], f"each {noun} id once")
        ids.add(entry["id"])
        numbered.append((n, entry))
    return numbered, ids


def _check_categories(path: Path, categories: list) -> set:
    return _with_unique_ids(path, "categories", categories, "an object with 'id' and 'name'", "category")[1]


def _check_images(path: Path, images: list) -> set:
    numbered, ids = _with_unique_ids(path, "images", images, "an object with id, file_name, width and height",
                                     "image")
    names: set = set()
    for n, image in numbered:
        name = image.get("file_name")
        if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
            _fail(path, f"images[{n}].file_name", name, f"a file name under {IMAGE_DIR}/")
        if name in names:
            _fail(path, f"images[{n}].file_name", name, "each image listed once")
        for key in ("width", "height"):
            if not _is_int(image.get(key)) or image[key] < 1:
                _fail(path, f"images[{n}].{key}", image.get(key), "a positive integer (pixels of the original image)")
        names.add(name)
    return ids


def _check_annotations(path: Path, annotations: list, images: set, categories: set) -> None:
    numbered, _ = _with_unique_ids(path, "annotations", annotations,
                                   "an object with id, image_id, category_id, bbox, area, iscrowd", "annotation")
    for n, ann in numbered:
        if not _is_int(ann.get("image_id")) or ann["image_id"] not in images:
            _fail(path, f"annotations[{n}].image_id", ann.get("image_id"), "the id of an image listed in 'images'")
        if not _is_int(ann.get("category_id")) or ann["category_id"] not in categories:
            _fail(path, f"annotations[{n}].category_id", ann.get("category_id"), "an id listed in 'categories'")
        box = ann.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)
                and box[2] >= 0 and box[3] >= 0):
            _fail(path, f"annotations[{n}].bbox", box, "[x, y, width, height] in pixels (4 finite numbers, sizes >= 0)")
        if not _is_number(ann.get("area")) or ann["area"] < 0:
            _fail(path, f"annotations[{n}].area", ann.get("area"), "a number >= 0")
        if ann.get("iscrowd") not in (0, 1):
            _fail(path, f"annotations[{n}].iscrowd", ann.get("iscrowd"), "0 or 1")


def image_entries(data: dict) -> tuple[ImageEntry, ...]:
    """The listed images in file order: query-sample index i is entry i."""
    return tuple(ImageEntry(int(i["id"]), i["file_name"], int(i["width"]), int(i["height"])) for i in data["images"])


def first(entries: tuple[ImageEntry, ...], count: int | None, path: Path) -> tuple[ImageEntry, ...]:
    """The first ``count`` entries (all when None), as --mlperf-count asks."""
    if count is None:
        return entries
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive number of images, got {count!r}")
    if count > len(entries):
        raise DatasetFormatError(f"{path}: count={count} but it lists only {len(entries)} images")
    return entries[:count]


def check_images_exist(directory: Path, entries: tuple[ImageEntry, ...], path: Path) -> list[Path]:
    """The image files of ``entries``, each checked to exist (an absent one would shift the indices)."""
    files = []
    for n, entry in enumerate(entries):
        file = image_path(directory, entry)
        if not file.is_file():
            raise DatasetFormatError(f"{file}: missing; {path} lists it as images[{n}] (id {entry.id}); "
                                     f"expected every listed image under {IMAGE_DIR}/")
        files.append(file)
    return files
