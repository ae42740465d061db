"""COCO mAP of a retinanet accuracy log, computed as MLPerf's accuracy-openimages.py computes it.

vision/classification_and_detection/tools/accuracy-openimages.py, step by step:
- each log entry's ``data`` is float32 hex; the first entry of a ``qsl_idx``
  counts, later ones are skipped undecoded ("de-dupe");
- ``qsl_idx`` is an index into the annotation file's ``images`` list (not an
  image id); an entry with no detections still puts its image in the
  evaluation (pycocotools then counts its objects as missed);
- each detection is ``[qsl_idx, ymin, xmin, ymax, xmax, score, label]``; y
  is multiplied by the image's height and x by its width, in float32 as the
  script's numpy scalars do, and the box becomes COCO's
  ``[xmin, ymin, xmax - xmin, ymax - ymin]``; the label is ``int(label)``,
  used as the category id unchanged (retinanet runs without --use-inv-map);
- a payload whose first value disagrees with ``qsl_idx`` is reported
  ("ERROR: loadgen(..) and payload(..) disagree on image_idx") and scored
  under ``qsl_idx`` anyway;
- COCOeval(iouType="bbox") over exactly the logged images, and the result is
  ``stats[0]`` (AP at IoU 0.50:0.95, all areas, 100 detections), printed as
  ``mAP={:.3f}%`` of it.

Where the script would crash or score nonsense this raises AccuracyLogError
naming the file and the entry instead: a response whose length is not a
multiple of seven values (the script silently ignores 1-6 values and
crashes past 7), a non-finite value, a ``qsl_idx`` outside the dataset
(the script would index from the end of the list), an empty log. A log
with no detections at all scores 0.000% (the script crashes in pycocotools'
loadRes on an empty result list).
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.metrics.accuracy_log import AccuracyLogError, read_accuracy_log

from .annotations import ImageEntry

VALUES_PER_DETECTION = 7


@dataclass(frozen=True)
class MeanAveragePrecision:
    stat: float  # cocoEval.stats[0], a fraction (-1 when the logged images have no objects)
    images: int  # distinct qsl_idx scored
    detections: int
    no_results: int  # images answered with no detection
    duplicates: int  # entries skipped because their qsl_idx came earlier
    mismatches: tuple[tuple[int, int], ...]  # (qsl_idx, payload index) that disagree
    summary: tuple[str, ...]  # COCOeval.summarize()'s lines

    @property
    def percent(self) -> float:
        return 100.0 * self.stat

    def official_line(self) -> str:
        """The line accuracy-openimages.py prints (and accuracy.txt's first line)."""
        return "mAP={:.3f}%".format(100.0 * self.stat)

    def mismatch_lines(self) -> tuple[str, ...]:
        return tuple("ERROR: loadgen({}) and payload({}) disagree on image_idx".format(lg, payload)
                     for lg, payload in self.mismatches)


def _decode(log_path: Path, position: int, index: int, data) -> np.ndarray:
    try:
        return np.frombuffer(bytes.fromhex(data), np.float32)
    except (ValueError, TypeError) as exc:  # TypeError: data is not a string
        raise AccuracyLogError(f"{log_path}: entry {position} (qsl_idx {index}): data is not float32 hex: {exc}") from None


def logged_detections(log_path: Path, images: tuple[ImageEntry, ...]):
    """(detections in COCO result format, logged image ids, counts) from the log, as the script builds them."""
    log_path = Path(log_path)
    entries = read_accuracy_log(log_path)
    if not entries:
        raise AccuracyLogError(f"{log_path}: holds no entries; expected one per answered sample")
    detections: list[dict] = []
    image_ids: set[int] = set()
    seen: set[int] = set()
    no_results = 0
    mismatches: list[tuple[int, int]] = []
    for position, entry in enumerate(entries):
        index = entry["qsl_idx"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise AccuracyLogError(f"{log_path}: entry {position}: qsl_idx {index!r} is not an integer")
        if index in seen:
            continue
        seen.add(index)
        if not 0 <= index < len(images):
            raise AccuracyLogError(f"{log_path}: entry {position}: qsl_idx {index} is outside the dataset's "
                                   f"{len(images)} images (expected 0..{len(images) - 1})")
        data = _decode(log_path, position, index, entry["data"])
        image = images[index]
        image_ids.add(image.id)
        if len(data) == 0:
            no_results += 1
            continue
        if len(data) % VALUES_PER_DETECTION:
            raise AccuracyLogError(
                f"{log_path}: entry {position} (qsl_idx {index}): {len(data)} float32 values; expected a multiple of "
                "7 ([qsl_idx, ymin, xmin, ymax, xmax, score, label] per detection)")
        rows = data.reshape(-1, VALUES_PER_DETECTION)
        if not np.isfinite(rows).all():
            row = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
            raise AccuracyLogError(f"{log_path}: entry {position} (qsl_idx {index}): detection {row} holds "
                                   f"{rows[row].tolist()}; expected finite numbers")
        for payload in sorted({int(v) for v in rows[:, 0]}):
            if payload != index:
                mismatches.append((index, payload))
        # float32 throughout, as the script's numpy scalars compute it
        height, width = np.float32(image.height), np.float32(image.width)
        ymin, xmin = rows[:, 1] * height, rows[:, 2] * width
        ymax, xmax = rows[:, 3] * height, rows[:, 4] * width
        boxes = np.stack((xmin, ymin, xmax - xmin, ymax - ymin), axis=1).tolist()
        for box, score, label in zip(boxes, rows[:, 5].tolist(), rows[:, 6].tolist()):
            detections.append({"image_id": image.id, "category_id": int(label), "bbox": box, "score": score})
    counts = {"no_results": no_results, "duplicates": len(entries) - len(seen), "mismatches": tuple(mismatches)}
    return detections, image_ids, counts


def coco_ground_truth(annotations: dict):
    """A pycocotools COCO object over the (already checked) annotation data, without its prints."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = annotations
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _empty_results(coco_gt):
    from pycocotools.coco import COCO

    empty = COCO()
    empty.dataset = {"images": list(coco_gt.dataset["images"]), "categories": list(coco_gt.dataset["categories"]),
                     "annotations": []}
    with contextlib.redirect_stdout(io.StringIO()):
        empty.createIndex()
    return empty


def mean_average_precision(log_path: Path, annotations: dict, images: tuple[ImageEntry, ...]) -> MeanAveragePrecision:
    """``images[i]`` is query-sample index i (the annotation file's ``images`` order)."""
    from pycocotools.cocoeval import COCOeval

    detections, image_ids, counts = logged_detections(log_path, images)
    coco_gt = coco_ground_truth(annotations)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        coco_dt = coco_gt.loadRes(detections) if detections else _empty_results(coco_gt)
        evaluation = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluation.params.imgIds = list(image_ids)
        evaluation.evaluate()
        evaluation.accumulate()
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            evaluation.summarize()
    return MeanAveragePrecision(
        stat=float(evaluation.stats[0]), images=len(image_ids), detections=len(detections),
        no_results=counts["no_results"], duplicates=counts["duplicates"], mismatches=counts["mismatches"],
        summary=tuple(line for line in summary.getvalue().splitlines() if line.strip()),
    )
