"""The dlrm-v2 scorer on small hand-computed cases: AUC, accuracy, the official line, bad logs."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the AUC is sklearn's roc_auc_score, as accuracy-dlrm.py computes it")

from harness.accuracy.scoring import Scored  # noqa: E402
from harness.compliance.rules import ACC_PATTERN  # noqa: E402
from harness.metrics.accuracy_log import AccuracyLogError  # noqa: E402
from harness.registry.parts import resolve  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "dlrm"


def family(module: str):
    """A module of the family, imported as the registry imports it."""
    return sys.modules[resolve(f"{module}:__name__", FAMILY_DIR)]


scorer = family("scorer")
ClickTruth = family("truth").ClickTruth


def truth(*samples) -> object:
    """Ground truth of samples given as lists of labels (one per row)."""
    labels = np.concatenate([np.asarray(s, np.int8) for s in samples])
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in samples]))).astype(np.int64)
    return ClickTruth(Path("day_23_labels.npy"), labels, offsets)


def write_log(path: Path, answers: dict, dtype=np.float32) -> Path:
    """LoadGen's accuracy log: one entry per (qsl_idx, values), in the order given, uppercase hex."""
    items = answers.items() if isinstance(answers, dict) else answers
    entries = [{"seq_id": seq, "qsl_idx": index, "data": np.asarray(values, dtype).tobytes().hex().upper()}
               for seq, (index, values) in enumerate(items)]
    path.write_text(json.dumps(entries))
    return path


def score(tmp_path, ground, answers, dtype: str = "float32") -> Scored:
    log = write_log(tmp_path / "mlperf_log_accuracy.json", answers, np.dtype(dtype))
    return scorer.AucScorer(ground, dtype=dtype).score(log)


# ------------------------------------------------------------- hand-computed values
def test_auc_and_accuracy_of_a_small_log(tmp_path):
    # Positives score 0.9 and 0.4, negatives 0.2 and 0.7: of the 4 positive-negative pairs
    # 3 are ordered right (0.9>0.2, 0.9>0.7, 0.4>0.2), so AUC = 3/4. Rounded, the scores
    # are 1, 0 | 1, 0 against labels 1, 0 | 0, 1: 2 of 4 right.
    scored = score(tmp_path, truth([1, 0], [0, 1]), {0: [0.9, 0.2], 1: [0.7, 0.4]})
    assert scored.values == {"AUC": pytest.approx(75.0)}
    assert scored.lines == ("AUC=75.000%, accuracy=50.000%, good=2, total=4, queries=2",)
    assert (scored.answered, scored.dataset_total, scored.notes) == (2, 2, ())


def test_ties_count_half_and_a_perfect_ordering_is_100(tmp_path):
    # One positive, two negatives: one tie (0.5) and one ordered right (1) -> 1.5 / 2.
    assert score(tmp_path, truth([1, 0, 0]), {0: [0.6, 0.6, 0.1]}).values["AUC"] == pytest.approx(75.0)
    assert score(tmp_path, truth([0, 1], [1]), {0: [0.1, 0.8], 1: [0.7]}).values["AUC"] == pytest.approx(100.0)
    assert score(tmp_path, truth([1, 0]), {0: [0.1, 0.8]}).values["AUC"] == pytest.approx(0.0)


def test_accuracy_rounds_as_numpy_half_to_even(tmp_path):
    # float32(0.5).round() is 0.0 (half to even), 0.51 rounds to 1: labels 0 and 1 are both met.
    scored = score(tmp_path, truth([0, 1]), {0: [0.5, 0.51]})
    assert scored.lines[0] == "AUC=100.000%, accuracy=100.000%, good=2, total=2, queries=1"


def test_the_line_is_what_the_submission_checker_reads(tmp_path):
    scored = score(tmp_path, truth([1, 0, 1], [0, 0, 1, 1]), {0: [0.8, 0.3, 0.35], 1: [0.2, 0.4, 0.9, 0.1]})
    match = re.match(ACC_PATTERN["AUC"], scored.lines[0])
    assert match and float(match.group(1)) == round(scored.values["AUC"], 3)
    # positives 0.8, 0.35, 0.9, 0.1 against negatives 0.3, 0.2, 0.4: 0.8 > all 3, 0.35 > 2,
    # 0.9 > 3, 0.1 > none: 8 of 12 pairs
    assert scored.values["AUC"] == pytest.approx(100 * 8 / 12)


def test_a_sample_logged_twice_counts_once_the_first_time(tmp_path):
    ground = truth([1, 0], [1])
    scored = score(tmp_path, ground, [(0, [0.9, 0.1]), (1, [0.3]), (0, [0.0, 1.0])])
    assert scored.lines[0] == "AUC=100.000%, accuracy=66.667%, good=2, total=3, queries=2"


def test_the_reference_sut_s_prediction_label_pairs_are_read_too(tmp_path):
    ground = truth([1, 0], [0, 1])
    pairs = {0: [0.9, 1, 0.2, 0], 1: [0.7, 0, 0.4, 1]}  # main.py's [prediction, label] per row
    assert score(tmp_path, ground, pairs).lines == score(tmp_path, ground, {0: [0.9, 0.2], 1: [0.7, 0.4]}).lines
    with pytest.raises(AccuracyLogError, match=r"entry 1 \(qsl_idx 1\): row 1 logs label 0\.0, the dataset's"):
        score(tmp_path, ground, {0: [0.9, 1, 0.2, 0], 1: [0.7, 0, 0.4, 0]})


def test_a_log_answering_part_of_the_set_is_scored_with_the_script_s_warning(tmp_path):
    scored = score(tmp_path, truth([1, 0], [0, 1], [1]), {1: [0.2, 0.9]})
    assert scored.lines[0] == "AUC=100.000%, accuracy=100.000%, good=2, total=2, queries=1"
    assert (scored.answered, scored.dataset_total) == (1, 3)
    assert scored.notes == ("Warning: number of samples in trace file (3) does not match number of samples (1) "
                            "in loadgen accuracy log!",)
    assert scored.lines[1:] == scored.notes


# ------------------------------------------------------------- bad logs
@pytest.mark.parametrize("answers, message", [
    ({0: [0.9]}, r"entry 0 \(qsl_idx 0\): 1 float32 values; expected 2 \(one prediction per row of the sample\) "
                 r"or 4 \(\[prediction, label\] pairs\)"),
    ({2: [0.5, 0.5]}, r"entry 0: qsl_idx 2 is outside the dataset's 2 samples"),
    ({0: [np.nan, 0.5], 1: [0.1]}, r"a prediction is not a finite number"),
    ({}, r"holds no entries"),
])
def test_a_malformed_log_is_an_error_naming_the_entry(tmp_path, answers, message):
    with pytest.raises(AccuracyLogError, match=message):
        score(tmp_path, truth([1, 0], [0]), answers)


def test_rows_of_one_class_only_have_no_auc(tmp_path):
    with pytest.raises(AccuracyLogError, match=r"no AUC over its 2 rows: every label is 1"):
        score(tmp_path, truth([1, 1], [0]), {0: [0.4, 0.6]})


def test_data_that_is_not_hex_and_a_dtype_the_script_does_not_decode(tmp_path):
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0, "data": "XYZ"}]))
    with pytest.raises(AccuracyLogError, match=r"entry 0 \(qsl_idx 0\): data is not float32 hex"):
        scorer.AucScorer(truth([1, 0])).score(log)
    with pytest.raises(AccuracyLogError, match=r"dtype 'uint8': accuracy-dlrm.py decodes float32, int32, int64"):
        scorer.AucScorer(truth([1, 0]), dtype="uint8")
    with pytest.raises(TypeError, match="needs a ClickTruth"):
        scorer.AucScorer([1, 0])


def test_integer_predictions_decode_with_their_dtype(tmp_path):
    # --dtype int32: hard 0/1 predictions; AUC of labels 1, 0, 1 against predictions 1, 0, 0 is
    # (1 + 0.5) / 2 (one positive above the negative, one tied with it).
    scored = score(tmp_path, truth([1, 0, 1]), {0: [1, 0, 0]}, dtype="int32")
    assert scored.lines[0] == "AUC=75.000%, accuracy=66.667%, good=2, total=3, queries=1"
