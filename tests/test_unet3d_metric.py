"""3d-unet DICE as accuracy_kits.py computes it, and what bad input says.

Hand-computed DICE cases (perfect, known overlaps, empty predictions, the
script's per-label "kidney"), the official line and the checker's regex, the
scorer end to end on a tiny preprocessed folder, and errors that name the file,
the entry and what was expected: wrong NIfTI shape, dtype or spacing, a case
missing from the list or its pickle, a log entry whose bytes do not fit its
case, a duplicate or out-of-range qsl_idx, an unsafe pickle.
"""
from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

nibabel = pytest.importorskip("nibabel", reason="KiTS19's ground truth is NIfTI, read with nibabel")

from harness.benchmarks.unet3d import dice, layout, preprocess  # noqa: E402
from harness.benchmarks.unet3d.dataset import KiTS19Preprocessed  # noqa: E402
from harness.benchmarks.unet3d.kits_pickle import UnsafePickleError  # noqa: E402
from harness.benchmarks.unet3d.scorer import DiceScorer  # noqa: E402
from harness.datasets.base import DatasetFormatError, DatasetRequest  # noqa: E402
from harness.metrics.accuracy_log import AccuracyLogError  # noqa: E402

# The submission checker's DICE pattern (tools/submission, ACC_PATTERN["DICE"]).
CHECKER_DICE = re.compile(r"Accuracy\:\s*mean\s*=\s*([\d\.]+).*")
# KiTS19's axis order: voxel axis 0 (slices) 1.6 mm, axes 1 and 2 1.2 mm, as preprocess.py's reshaped affine.
PREPROCESSED_AFFINE = np.array([[0, 0, -1.2, 0], [0, -1.2, 0, 0], [-1.6, 0, 0, 0], [0, 0, 0, 1.0]])


# ------------------------------------------------------------------ DICE by hand
def test_a_perfect_prediction_scores_one_for_both_classes():
    target = np.array([[[0, 1, 1, 2]]], np.uint8)
    assert dice.case_dice(target.copy(), target) == (1.0, 1.0)


def test_known_overlaps_score_their_hand_computed_dice():
    target = np.array([1, 1, 1, 1, 2, 2, 0, 0], np.uint8)
    prediction = np.array([1, 1, 0, 0, 2, 0, 2, 0], np.uint8)
    kidney, tumour = dice.case_dice(prediction, target)
    # kidney: |P|=2, |T|=4, |P&T|=2 -> (4 + 1e-6) / (6 + 1e-6); tumour: |P|=2, |T|=2, |P&T|=1 -> 2/4
    assert kidney == pytest.approx((2 * 2 + 1e-6) / (6 + 1e-6), abs=1e-12)
    assert kidney == pytest.approx(2 / 3, abs=1e-6)
    assert tumour == pytest.approx((2 * 1 + 1e-6) / (4 + 1e-6), abs=1e-12)


def test_kidney_counts_label_one_only_not_the_kidney_and_tumour_region():
    # accuracy_kits.py one-hot encodes each label: a tumour voxel is not a kidney voxel.
    target = np.array([1, 1, 2, 2], np.uint8)
    prediction = np.array([2, 2, 2, 2], np.uint8)  # the whole kidney+tumour region, called tumour
    kidney, tumour = dice.case_dice(prediction, target)
    assert kidney == pytest.approx(1e-6 / (2 + 1e-6))  # no kidney voxel predicted: ~0, not 1
    assert tumour == pytest.approx((2 * 2 + 1e-6) / (4 + 2 + 1e-6))


def test_an_empty_prediction_scores_near_zero_and_an_absent_class_predicted_absent_scores_one():
    target = np.array([0, 1, 1, 1, 0], np.uint8)  # no tumour in this case
    kidney, tumour = dice.case_dice(np.zeros_like(target), target)
    assert kidney == pytest.approx(1e-6 / (3 + 1e-6))
    assert kidney < 1e-6
    assert tumour == 1.0  # (0 + 1e-6) / (0 + 1e-6): the smoothing terms of the script


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ in shape"):
        dice.case_dice(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 3), np.uint8))


def test_the_summary_is_the_mean_over_cases_and_prints_the_official_line():
    summary = dice.DiceSummary(("case_00000", "case_00001"), kidney=(1.0, 0.5), tumour=(0.5, 0.25))
    assert summary.composite == (0.75, 0.375)
    assert summary.mean == pytest.approx(0.5625)
    line = summary.official_line()
    assert line == "Accuracy: mean = 0.56250, kidney = 0.7500, tumor = 0.3750"
    assert float(CHECKER_DICE.match(line).group(1)) == pytest.approx(0.5625)


# ------------------------------------------------------------- a tiny dataset
CASES = {
    "case_00000": np.array([[[0, 1, 1], [1, 2, 2]], [[0, 0, 1], [1, 2, 0]]], np.uint8),  # 2x2x3
    "case_00001": np.array([[[0, 0], [1, 1], [2, 0]]], np.uint8),  # 1x3x2
}


def write_tiny_dataset(root, cases=CASES, *, segmentation_override=None):
    """A preprocessed folder as MLPerf's preprocess.py writes it, for the given label volumes."""
    root.mkdir(parents=True, exist_ok=True)
    auxes = {}
    for case, labels in cases.items():
        image = (labels.astype(np.float32) - 1.0)[np.newaxis]
        aux = {"original_affine": PREPROCESSED_AFFINE, "reshaped_affine": PREPROCESSED_AFFINE,
               "zoom_factor": np.ones(3), "case": case, "image_shape": image.shape}
        preprocess.save_case(root, image, labels[np.newaxis], aux)
        auxes[case] = aux
    preprocess.save_preprocessed_info(root, list(cases), auxes)
    return root


def write_log(path, entries):
    path.write_text(json.dumps([{"seq_id": n, "qsl_idx": i, "data": data} for n, (i, data) in enumerate(entries)]))
    return path


def hexed(mask: np.ndarray) -> str:
    return np.ascontiguousarray(mask, dtype=np.uint8).tobytes().hex().upper()


@pytest.fixture
def tiny(tmp_path):
    root = write_tiny_dataset(tmp_path / "preprocessed_data")
    truth = KiTS19Preprocessed().ground_truth(root, DatasetRequest())
    return root, truth


def test_the_scorer_reads_a_loadgen_log_and_prints_the_official_line(tiny, tmp_path):
    root, truth = tiny
    wrong = CASES["case_00000"].copy()
    wrong[0, 1, 1] = 1  # one tumour voxel called kidney
    log = write_log(tmp_path / "mlperf_log_accuracy.json", [(1, hexed(CASES["case_00001"])), (0, hexed(wrong))])
    scored = DiceScorer(truth, dtype="uint8").score(log)
    kidney0 = (2 * 5 + 1e-6) / (6 + 5 + 1e-6)  # P: 6 kidney voxels, T: 5, all 5 found
    tumour0 = (2 * 2 + 1e-6) / (2 + 3 + 1e-6)  # P: 2, T: 3, overlap 2
    expected = np.mean([np.mean([kidney0, tumour0]), 1.0])
    assert scored.values == {"DICE": pytest.approx(expected)}
    assert scored.lines[0] == "Accuracy: mean = {:.5f}, kidney = {:.4f}, tumor = {:.4f}".format(
        expected, np.mean([kidney0, 1.0]), np.mean([tumour0, 1.0]))
    assert (scored.answered, scored.dataset_total) == (2, 2)


def test_a_log_entry_whose_bytes_do_not_fit_the_case_names_the_entry_and_the_size(tiny, tmp_path):
    root, truth = tiny
    short = CASES["case_00001"].reshape(-1)[:5]
    log = write_log(tmp_path / "log.json", [(0, hexed(CASES["case_00000"])), (1, hexed(short))])
    with pytest.raises(AccuracyLogError) as error:
        DiceScorer(truth).score(log)
    message = str(error.value)
    assert str(log) in message and "entry 1" in message and "case_00001" in message
    assert "5 uint8 values; expected 6" in message and "(1, 1, 3, 2)" in message


@pytest.mark.parametrize("entries, expected", [
    ([(0, "0"), (1, "00")], "entry 0 (qsl_idx 0, case_00000): data is not uint8 hex"),
    ([(0, None), (1, "00")], "entry 0 (qsl_idx 0, case_00000): data is not uint8 hex"),
    ([(2, "00")], "entry 0: qsl_idx 2 is outside the dataset's 2 cases"),
    ([("1", "00")], "entry 0: qsl_idx '1' is not an integer"),
    ([(1, "000000000000"), (1, "000000000000")], "entry 1 (qsl_idx 1, case_00001): logged again (first at entry 0)"),
    ([(1, "000000000003")], "entry 0 (qsl_idx 1, case_00001): mask value 3; expected class indices 0"),
    ([], "holds no entries"),
])
def test_bad_log_entries_are_errors_naming_the_entry(tiny, tmp_path, entries, expected):
    _, truth = tiny
    log = write_log(tmp_path / "log.json", entries)
    with pytest.raises(AccuracyLogError, match=re.escape(expected)):
        DiceScorer(truth, subset=True).score(log)


def test_a_log_missing_cases_fails_unless_it_is_a_subset_run(tiny, tmp_path):
    _, truth = tiny
    log = write_log(tmp_path / "log.json", [(0, hexed(CASES["case_00000"]))])
    with pytest.raises(AccuracyLogError, match=r"answers 1 of the 2 cases; missing qsl_idx 1"):
        DiceScorer(truth).score(log)
    scored = DiceScorer(truth, subset=True).score(log)
    assert scored.values["DICE"] == pytest.approx(1.0)
    assert (scored.answered, scored.dataset_total) == (1, 2)


# ------------------------------------------------------------- bad datasets
def _rewrite_segmentation(root, case, data, affine=PREPROCESSED_AFFINE):
    path = layout.segmentation_nifti(root, case)
    nibabel.save(nibabel.Nifti1Image(data, affine), path)
    return path


def test_a_segmentation_of_the_wrong_shape_names_the_file_and_the_expected_shape(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    path = _rewrite_segmentation(root, "case_00001", np.zeros((1, 3, 3), np.uint8))
    with pytest.raises(DatasetFormatError) as error:
        KiTS19Preprocessed().check(root, None)
    assert str(path) in str(error.value)
    assert "segmentation is 1x3x3; expected 1x3x2" in str(error.value)


def test_a_segmentation_stored_as_floats_names_the_file_and_the_expected_dtype(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    path = _rewrite_segmentation(root, "case_00000", CASES["case_00000"].astype(np.float32))
    with pytest.raises(DatasetFormatError, match=re.escape(f"{path}: stores float32 voxels; expected integer labels")):
        KiTS19Preprocessed().ground_truth(root, DatasetRequest())


def test_a_segmentation_on_the_raw_spacing_names_the_file_and_the_preprocessed_spacing(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    raw_affine = np.array([[0, 0, -0.78, 0], [0, -0.78, 0, 0], [-5.0, 0, 0, 0], [0, 0, 0, 1.0]])
    path = _rewrite_segmentation(root, "case_00000", CASES["case_00000"], raw_affine)
    with pytest.raises(DatasetFormatError) as error:
        KiTS19Preprocessed().check(root, None)
    assert str(path) in str(error.value)
    assert "voxel spacing 5x0.78x0.78 mm; expected the preprocessed spacing 1.6x1.2x1.2 mm" in str(error.value)


def test_a_label_outside_the_three_classes_is_an_error_when_scored(tiny, tmp_path):
    root, truth = tiny
    bad = CASES["case_00001"].copy()
    bad[0, 0, 0] = 5
    path = _rewrite_segmentation(root, "case_00001", bad)
    log = write_log(tmp_path / "log.json", [(0, hexed(CASES["case_00000"])), (1, hexed(CASES["case_00001"]))])
    with pytest.raises(DatasetFormatError, match=re.escape(f"{path}: holds the label value 5; expected only 0")):
        DiceScorer(truth).score(log)


def _rewrite_list(root, mutate):
    path = root / layout.PREPROCESSED_LIST
    content = pickle.loads(path.read_bytes())
    mutate(content)
    path.write_bytes(pickle.dumps(content))
    return path


def test_a_listed_case_without_its_aux_entry_names_the_list_file_and_the_case(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    path = _rewrite_list(root, lambda content: content["cases"].pop("case_00001"))
    with pytest.raises(DatasetFormatError, match=re.escape(
            f"{path}: file_list[1] lists case_00001, but 'cases' has no aux dict for it")):
        KiTS19Preprocessed().check(root, None)


def test_a_listed_case_without_its_pickle_names_the_missing_file(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    (root / "case_00000.pkl").unlink()
    with pytest.raises(DatasetFormatError, match=re.escape(f"{root / 'case_00000.pkl'}: missing;")):
        KiTS19Preprocessed().check(root, None)
    # the accuracy command reads only the ground truth, as accuracy_kits.py does
    assert len(KiTS19Preprocessed().ground_truth(root, DatasetRequest())) == 2


def test_a_case_list_without_file_list_or_with_a_bad_image_shape_says_what_was_expected(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    path = _rewrite_list(root, lambda content: content["cases"]["case_00000"].update(image_shape=(2, 3)))
    with pytest.raises(DatasetFormatError, match=re.escape(
            f"{path}: cases['case_00000']['image_shape'] is (2, 3); expected (1, D, H, W)")):
        KiTS19Preprocessed().check(root, None)
    _rewrite_list(root, lambda content: content.pop("file_list"))
    with pytest.raises(DatasetFormatError, match=re.escape("holds ['cases']; expected the dict {'file_list'")):
        KiTS19Preprocessed().check(root, None)


def test_the_count_cannot_exceed_the_listed_cases(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    with pytest.raises(DatasetFormatError, match=r"count=3 but the file lists only 2 cases"):
        KiTS19Preprocessed().check(root, 3)


def test_a_pickle_naming_a_foreign_global_is_refused_before_it_runs(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("the pickle ran code",))

    (root / layout.PREPROCESSED_LIST).write_bytes(pickle.dumps(Payload()))
    with pytest.raises(UnsafePickleError, match="refused without running it"):
        KiTS19Preprocessed().check(root, None)
    assert not marker.exists()


def test_an_image_pickle_of_the_wrong_shape_names_the_file_when_staged(tmp_path):
    root = write_tiny_dataset(tmp_path / "p")
    path = root / "case_00001.pkl"
    path.write_bytes(pickle.dumps([np.zeros((1, 3, 3, 2), np.float32), CASES["case_00001"][None]]))
    with pytest.raises(DatasetFormatError, match=re.escape(f"{path}: the image is 1x3x3x2; expected 1x1x3x2")):
        KiTS19Preprocessed().prepare(root, DatasetRequest(cache_dir=tmp_path / "cache"))
