"""The retinanet scorer on small hand-made cases: mAP as MLPerf's accuracy-openimages.py computes it.

Each case writes an OpenImages-layout annotation file and a LoadGen-format
accuracy log by hand; the expected values are worked out in the comments.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycocotools", reason="the retinanet mAP is computed by pycocotools, as MLPerf's script does")

from harness.benchmarks.retinanet.dataset import OpenImagesFormat  # noqa: E402
from harness.benchmarks.retinanet.scorer import OpenImagesMapScorer  # noqa: E402
from harness.datasets.base import DatasetFormatError, DatasetRequest  # noqa: E402
from harness.metrics.accuracy_log import AccuracyLogError  # noqa: E402

# The submission checker's regex for the mAP line (mlperf-facts §5).
CHECKER_MAP = re.compile(r".*(?:mAP=|'Total':)\s*([\d.]+)")

# Image "A" is 200 wide and 100 high, image "B" 300 x 300; file order A, B.
IMAGES = [
    {"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
    {"id": 2, "file_name": "b.jpg", "width": 300, "height": 300},
]
CATEGORIES = [{"id": 0, "name": "Cat"}, {"id": 1, "name": "Dog"}]
# (image id, category, [x, y, w, h] in pixels)
OBJECTS = [(1, 0, [20.0, 10.0, 50.0, 40.0]), (1, 1, [120.0, 30.0, 60.0, 50.0]), (2, 0, [100.0, 100.0, 80.0, 80.0])]


def write_annotations(root: Path, *, images=IMAGES, categories=CATEGORIES, objects=OBJECTS) -> Path:
    annotations = [
        {"id": n + 1, "image_id": image_id, "category_id": category, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
        for n, (image_id, category, box) in enumerate(objects)
    ]
    path = root / "annotations" / "openimages-mlperf.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return root


def rows(qsl_idx: int, image: dict, detections) -> np.ndarray:
    """MLPerf's 7-float rows for ``detections`` = [(x, y, w, h) pixels, score, label]: y / height, x / width."""
    out = []
    for (x, y, w, h), score, label in detections:
        out.append([qsl_idx, y / image["height"], x / image["width"], (y + h) / image["height"],
                    (x + w) / image["width"], score, label])
    return np.array(out, np.float32).reshape(-1)


def write_log(path: Path, entries) -> Path:
    """``entries``: (qsl_idx, float32 array) in log order, as LoadGen writes mlperf_log_accuracy.json."""
    path.write_text(json.dumps([
        {"seq_id": seq, "qsl_idx": int(index), "data": np.asarray(data, np.float32).tobytes().hex().upper()}
        for seq, (index, data) in enumerate(entries)
    ]))
    return path


def score(root: Path, log: Path):
    truth = OpenImagesFormat().ground_truth(root, DatasetRequest())
    return OpenImagesMapScorer(truth, dtype="float32").score(log)


def perfect(index: int) -> np.ndarray:
    image = IMAGES[index]
    return rows(index, image, [(box, 0.9, category) for image_id, category, box in OBJECTS if image_id == image["id"]])


# --- values ------------------------------------------------------------------


def test_perfect_detections_score_100_percent(tmp_path):
    root = write_annotations(tmp_path)
    scored = score(root, write_log(tmp_path / "log.json", [(0, perfect(0)), (1, perfect(1))]))
    assert scored.lines[0] == "mAP=100.000%"
    assert scored.values == {"mAP": pytest.approx(100.0)}
    assert (scored.answered, scored.dataset_total) == (2, 2)


def test_one_box_of_two_missing_gives_the_coco_value(tmp_path):
    # One class, two objects in one image, one found (perfectly, the only
    # detection). Recall reaches 0.5 at precision 1 and stops. COCO samples
    # precision at the 101 recall points 0.00, 0.01, ..., 1.00: the 51 up to
    # 0.50 read 1, the 50 above read 0, at every IoU threshold. AP = 51/101.
    images = [IMAGES[1]]
    objects = [(2, 0, [10.0, 10.0, 60.0, 60.0]), (2, 0, [150.0, 150.0, 100.0, 90.0])]
    root = write_annotations(tmp_path, images=images, objects=objects)
    log = write_log(tmp_path / "log.json", [(0, rows(0, images[0], [([10.0, 10.0, 60.0, 60.0], 0.8, 0)]))])
    scored = score(root, log)
    assert scored.values["mAP"] == pytest.approx(100.0 * 51 / 101)
    assert scored.lines[0] == "mAP=50.495%"


def test_a_box_in_swapped_x_y_order_scores_lower(tmp_path):
    # A wide image and an object far from the diagonal: read as x/y, the box
    # lands elsewhere and overlaps nothing.
    images = [{"id": 1, "file_name": "wide.jpg", "width": 400, "height": 200}]
    box = [250.0, 20.0, 100.0, 60.0]
    root = write_annotations(tmp_path, images=images, objects=[(1, 0, box)])
    right = rows(0, images[0], [(box, 0.9, 0)])
    swapped = right.reshape(-1, 7)[:, [0, 2, 1, 4, 3, 5, 6]].reshape(-1)
    assert score(root, write_log(tmp_path / "right.json", [(0, right)])).values["mAP"] == pytest.approx(100.0)
    assert score(root, write_log(tmp_path / "swapped.json", [(0, swapped)])).values["mAP"] == pytest.approx(0.0)


def test_the_first_entry_of_a_qsl_idx_counts(tmp_path):
    # LoadGen may log a sample twice; the script keeps the first and skips the rest undecoded.
    root = write_annotations(tmp_path)
    first_good = write_log(tmp_path / "a.json", [(0, perfect(0)), (1, perfect(1)), (1, [])])
    first_empty = write_log(tmp_path / "b.json", [(0, perfect(0)), (1, []), (1, perfect(1))])
    undecodable_later = tmp_path / "c.json"
    entries = json.loads(first_good.read_text())
    entries[2]["data"] = "not hex"  # never decoded: it is a duplicate
    undecodable_later.write_text(json.dumps(entries))
    assert score(root, first_good).values["mAP"] == pytest.approx(100.0)
    assert score(root, undecodable_later).values["mAP"] == pytest.approx(100.0)
    # Image B answered with nothing: its one Cat is missed. Cat: 2 objects,
    # 1 found -> 51/101; Dog: 1 of 1 -> 1. mAP = (51/101 + 1) / 2.
    dropped = score(root, first_empty)
    assert dropped.values["mAP"] == pytest.approx(100.0 * (51 / 101 + 1) / 2)
    assert dropped.answered == 2


def test_qsl_idx_indexes_the_images_list_not_the_image_ids(tmp_path):
    images = [dict(IMAGES[0], id=7), dict(IMAGES[1], id=3)]
    objects = [(7, 0, [20.0, 10.0, 50.0, 40.0]), (3, 1, [100.0, 100.0, 80.0, 80.0])]
    root = write_annotations(tmp_path, images=images, objects=objects)
    right = write_log(tmp_path / "right.json", [(0, rows(0, images[0], [([20.0, 10.0, 50.0, 40.0], 0.9, 0)])),
                                                 (1, rows(1, images[1], [([100.0, 100.0, 80.0, 80.0], 0.9, 1)]))])
    assert score(root, right).values["mAP"] == pytest.approx(100.0)
    # Image 7's detections logged under qsl_idx 1 are scored against image 3 (the second listed).
    shifted = write_log(tmp_path / "shifted.json", [(1, rows(1, images[0], [([20.0, 10.0, 50.0, 40.0], 0.9, 0)]))])
    assert score(root, shifted).values["mAP"] == pytest.approx(0.0)


def test_only_the_logged_images_are_evaluated(tmp_path):
    # A --count run answers the first images only: the others' objects are not counted as missed.
    root = write_annotations(tmp_path)
    scored = score(root, write_log(tmp_path / "log.json", [(0, perfect(0))]))
    assert scored.values["mAP"] == pytest.approx(100.0)
    assert (scored.answered, scored.dataset_total) == (1, 2)


def test_labels_are_the_category_ids_without_an_inverse_map(tmp_path):
    # MLPerf runs retinanet's accuracy script without --use-inv-map: label 5 is category 5.
    images = [IMAGES[1]]
    categories = [{"id": 0, "name": "Cat"}, {"id": 5, "name": "Dog"}]
    box = [100.0, 100.0, 80.0, 80.0]
    root = write_annotations(tmp_path, images=images, categories=categories, objects=[(2, 5, box)])
    as_id = write_log(tmp_path / "id.json", [(0, rows(0, images[0], [(box, 0.9, 5)]))])
    as_position = write_log(tmp_path / "position.json", [(0, rows(0, images[0], [(box, 0.9, 1)]))])
    assert score(root, as_id).values["mAP"] == pytest.approx(100.0)
    assert score(root, as_position).values["mAP"] == pytest.approx(0.0)


def test_a_payload_index_that_disagrees_is_reported_and_scored_under_qsl_idx(tmp_path):
    root = write_annotations(tmp_path)
    wrong = perfect(0).reshape(-1, 7).copy()
    wrong[:, 0] = 9
    scored = score(root, write_log(tmp_path / "log.json", [(0, wrong.reshape(-1)), (1, perfect(1))]))
    assert scored.values["mAP"] == pytest.approx(100.0)
    assert "ERROR: loadgen(0) and payload(9) disagree on image_idx" in scored.lines
    assert scored.lines[0] == "mAP=100.000%"


def test_no_detections_at_all_score_zero(tmp_path):
    root = write_annotations(tmp_path)
    scored = score(root, write_log(tmp_path / "log.json", [(0, []), (1, [])]))
    assert scored.lines[0] == "mAP=0.000%"
    assert scored.values["mAP"] == 0.0


def test_the_official_line_is_what_the_checker_reads(tmp_path):
    images = [IMAGES[1]]
    objects = [(2, 0, [10.0, 10.0, 60.0, 60.0]), (2, 0, [150.0, 150.0, 100.0, 90.0])]
    root = write_annotations(tmp_path, images=images, objects=objects)
    scored = score(root, write_log(tmp_path / "log.json", [(0, rows(0, images[0], [([10.0, 10.0, 60.0, 60.0], 0.8, 0)]))]))
    match = CHECKER_MAP.match(scored.lines[0])
    assert match and float(match.group(1)) == round(scored.values["mAP"], 3)
    # pycocotools' summary follows; no later line may look like another mAP to the checker
    assert scored.lines[1].startswith(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]")
    assert not any(CHECKER_MAP.match(line) for line in scored.lines[1:])


# --- bad input -----------------------------------------------------------------


def test_a_missing_annotation_file_names_what_was_expected(tmp_path):
    (tmp_path / "validation" / "data").mkdir(parents=True)
    with pytest.raises(DatasetFormatError, match=r"openimages-mlperf\.json: missing .*COCO format"):
        OpenImagesFormat().ground_truth(tmp_path, DatasetRequest())
    with pytest.raises(DatasetFormatError, match=r"nowhere: no such folder"):
        OpenImagesFormat().check(tmp_path / "nowhere", None)


@pytest.mark.parametrize("text, expected", [
    ("{", r"not valid JSON \(line 1: "),
    ("[]", r"holds a JSON list; expected an object with 'images'"),
    ('{"images": [], "annotations": [], "categories": []}', r"'images' is empty"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "height": 5}], "annotations": [], "categories": []}',
     r"images\[0\]\.width is None; expected a positive integer"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 5, "height": 5}], "categories": [{"id": 0}],'
     ' "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [1, 2, 3], "area": 6, "iscrowd": 0}]}',
     r"annotations\[0\]\.bbox is \[1, 2, 3\]; expected \[x, y, width, height\]"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 5, "height": 5}], "categories": [{"id": 0}],'
     ' "annotations": [{"id": 1, "image_id": 1, "category_id": 4, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}]}',
     r"annotations\[0\]\.category_id is 4; expected an id listed in 'categories'"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 5, "height": 5}], "categories": [{"id": 0}],'
     ' "annotations": [{"id": 1, "image_id": 2, "category_id": 0, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}]}',
     r"annotations\[0\]\.image_id is 2; expected the id of an image listed"),
])
def test_a_malformed_annotation_file_names_the_file_and_field(tmp_path, text, expected):
    path = tmp_path / "annotations" / "openimages-mlperf.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(DatasetFormatError, match=expected) as error:
        OpenImagesFormat().ground_truth(tmp_path, DatasetRequest())
    assert str(path) in str(error.value)


def test_an_image_listed_but_absent_is_an_error_before_any_work(tmp_path):
    root = write_annotations(tmp_path)
    (root / "validation" / "data").mkdir(parents=True)
    (root / "validation" / "data" / "a.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(DatasetFormatError, match=r"b\.jpg: missing; .* lists it as images\[1\] \(id 2\)"):
        OpenImagesFormat().check(root, None)
    OpenImagesFormat().check(root, 1)  # the first image alone is all a --count 1 run reads


@pytest.mark.parametrize("entry, expected", [
    ({"seq_id": 0, "qsl_idx": 0, "data": "XYZ"}, r"entry 0 \(qsl_idx 0\): data is not float32 hex"),
    ({"seq_id": 0, "qsl_idx": 0, "data": np.zeros(10, np.float32).tobytes().hex()},
     r"entry 0 \(qsl_idx 0\): 10 float32 values; expected a multiple of 7"),
    ({"seq_id": 0, "qsl_idx": 2, "data": ""}, r"entry 0: qsl_idx 2 is outside the dataset's 2 images"),
    ({"seq_id": 0, "qsl_idx": -1, "data": ""}, r"entry 0: qsl_idx -1 is outside"),
    ({"seq_id": 0, "qsl_idx": "0", "data": ""}, r"entry 0: qsl_idx '0' is not an integer"),
    ({"seq_id": 0, "qsl_idx": 0}, r"entry 0 lacks field\(s\) \['data'\]"),
    ({"seq_id": 0, "qsl_idx": 0, "data": np.array([0, 0.1, 0.1, np.nan, 0.2, 0.9, 0], np.float32).tobytes().hex()},
     r"entry 0 \(qsl_idx 0\): detection 0 holds .*; expected finite numbers"),
])
def test_a_malformed_log_entry_names_the_file_and_entry(tmp_path, entry, expected):
    root = write_annotations(tmp_path)
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(json.dumps([entry]))
    with pytest.raises(AccuracyLogError, match=expected) as error:
        score(root, log)
    assert str(log) in str(error.value)


def test_an_empty_log_is_an_error(tmp_path):
    root = write_annotations(tmp_path)
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text("[]")
    with pytest.raises(AccuracyLogError, match="holds no entries"):
        score(root, log)


def test_an_annotation_file_changed_after_staging_is_refused(tmp_path):
    root = write_annotations(tmp_path)
    truth = OpenImagesFormat().ground_truth(root, DatasetRequest())
    write_annotations(tmp_path, images=list(reversed(IMAGES)))
    with pytest.raises(AccuracyLogError, match="image list changed since the samples were staged"):
        OpenImagesMapScorer(truth).score(write_log(tmp_path / "log.json", [(0, perfect(0))]))


def test_a_response_dtype_other_than_float32_is_refused(tmp_path):
    truth = OpenImagesFormat().ground_truth(write_annotations(tmp_path), DatasetRequest())
    with pytest.raises(AccuracyLogError, match="float32 detections; the registry asks for int32"):
        OpenImagesMapScorer(truth, dtype="int32")
