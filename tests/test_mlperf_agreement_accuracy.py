"""The suite's accuracy numbers agree with MLPerf's accuracy scripts on partial and duplicated logs.

The rules, from mlcommons/inference:
- language/bert/accuracy-squad.py turns every log entry into a result and keys
  them by feature in a dict (a later entry of a qsl_idx overwrites an earlier
  one); write_predictions answers every dev question, "empty" where none of its
  features is logged; evaluate_v1.1.py divides by every question of the file.
- vision/classification_and_detection/tools/accuracy-imagenet.py, gpt-j's
  evaluation.py and llama2-70b's evaluate-accuracy.py skip a qsl_idx already
  seen (the first entry counts) and divide by the distinct qsl_idx.
The expected values below are computed in the test from the raw log and the
raw dev file, following those rules; only span selection and the per-answer
EM/F1 (tested on their own in test_squad_metrics.py) come from the suite.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.metrics.accuracy_log import AccuracyLogError, first_responses, responses
from harness.benchmarks.resnet50.top1 import top1

PROXY = Path(__file__).resolve().parents[1] / "harness" / "proxies" / "bert"
HIGH = 8.0  # an oracle logit, far above the background


def _row(qsl_idx: int, data: np.ndarray, seq_id: int) -> dict:
    return {"seq_id": seq_id, "qsl_idx": qsl_idx, "data": np.ascontiguousarray(data).tobytes().hex().upper()}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows))
    return path


# ------------------------------------------------------------ the shared reader

def test_the_reader_keeps_first_or_last_entry_as_asked(tmp_path):
    log = _write(tmp_path / "acc.json", [_row(0, np.float32([1]), 0), _row(1, np.float32([2]), 1),
                                         _row(0, np.float32([3]), 2)])
    assert {k: float(v[0]) for k, v in responses(log, "float32", keep="first").items()} == {0: 1.0, 1: 2.0}
    assert {k: float(v[0]) for k, v in responses(log, "float32", keep="last").items()} == {0: 3.0, 1: 2.0}
    assert {k: float(v[0]) for k, v in first_responses(log, "float32").items()} == {0: 1.0, 1: 2.0}
    with pytest.raises(AccuracyLogError, match="keep='middle'"):
        responses(log, "float32", keep="middle")


def test_top1_keeps_the_first_entry_and_divides_by_distinct_samples_like_accuracy_imagenet(tmp_path):
    labels = [3, 1, 4, 1, 5]
    entries = [(0, 3), (1, 7), (2, 4), (1, 1), (0, 9), (4, 5)]  # qsl 1: first wrong then right; qsl 0: right then wrong
    log = _write(tmp_path / "acc.json", [_row(i, np.float32([v]), n) for n, (i, v) in enumerate(entries)])
    seen, good = set(), 0
    for index, value in entries:  # accuracy-imagenet.py's loop
        if index in seen:
            continue
        seen.add(index)
        good += int(value == labels[index])
    score = top1(log, labels)
    assert (score.good, score.total) == (good, len(seen)) == (3, 4)
    assert score.official_line() == f"accuracy={100.0 * good / len(seen):.3f}%, good={good}, total={len(seen)}"


# ------------------------------------------------------------ BERT on the proxy dev set

@pytest.fixture(scope="module")
def dev():
    pytest.importorskip("transformers", reason="the BERT tokenizer comes from transformers")
    from harness.benchmarks.bert import squad

    examples = squad.read_squad(PROXY / "dev-v1.1.json")
    return examples, squad.build_features(examples, squad.load_tokenizer(PROXY))


def _oracle_logits(examples, features) -> dict[int, np.ndarray]:
    """Per feature, logits that point at the first ground truth where the window holds it."""
    out = {}
    for row in range(len(features.input_ids)):
        example = examples[int(features.example_index[row])]
        logits = np.full((features.seq_length, 2), -HIGH, dtype=np.float32)
        begin = example.context.find(example.answers[0])
        finish = begin + len(example.answers[0])
        starts, ends = features.token_start[row], features.token_end[row]
        inside = [t for t in range(features.seq_length) if starts[t] >= 0 and starts[t] < finish and ends[t] > begin]
        if begin >= 0 and inside:
            logits[inside[0], 0] = logits[inside[-1], 1] = HIGH
        out[row] = logits
    return out


def _official_squad(log: Path, examples, features) -> dict:
    """EM/F1 following accuracy-squad.py + evaluate_v1.1.py, from the raw log and the raw dev file."""
    from harness.benchmarks.bert.squad_metric import exact_match_score, f1_score, predictions_from_logits

    by_feature = {}
    for entry in json.loads(log.read_text()):  # a dict built in log order: later entries overwrite
        by_feature[entry["qsl_idx"]] = np.frombuffer(bytes.fromhex(entry["data"]), np.float32).reshape(-1, 2)
    predictions = predictions_from_logits(examples, features, by_feature)
    exact = f1 = total = 0
    for article in json.loads((PROXY / "dev-v1.1.json").read_text())["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                prediction = predictions.get(qa["id"], "empty")  # write_predictions' nonce answer
                truths = [answer["text"] for answer in qa["answers"]]
                exact += max(exact_match_score(prediction, t) for t in truths)
                f1 += max(f1_score(prediction, t) for t in truths)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total, "total": total}


def test_bert_on_a_partial_log_divides_by_the_whole_dev_set(tmp_path, dev):
    from harness.benchmarks.bert.squad_metric import score_accuracy_log

    examples, features = dev
    oracle = _oracle_logits(examples, features)
    half = len(oracle) // 2
    log = _write(tmp_path / "mlperf_log_accuracy.json", [_row(i, oracle[i], i) for i in range(half)])
    expected = _official_squad(log, examples, features)
    score = score_accuracy_log(log, examples, features)
    assert (score.questions, score.features_logged) == (expected["total"], half) == (len(examples), half)
    assert score.exact_match == pytest.approx(expected["exact_match"], abs=1e-9)
    assert score.f1 == pytest.approx(expected["f1"], abs=1e-9)
    # The oracle answers well what it covers, so the whole-set division is what keeps the score near half.
    covered = score_accuracy_log(log, examples, features, questions="logged")
    assert covered.f1 > 90.0 and score.f1 < 0.6 * covered.f1


def test_bert_on_a_log_with_duplicates_uses_the_last_copy(tmp_path, dev):
    from harness.benchmarks.bert.squad_metric import score_accuracy_log

    examples, features = dev
    oracle = _oracle_logits(examples, features)
    wrong = {i: np.roll(logits, 3, axis=0) for i, logits in oracle.items()}  # every span three tokens later
    rows = [_row(i, oracle[i], i) for i in oracle]
    rows += [_row(i, wrong[i], len(rows) + n) for n, i in enumerate(sorted(oracle)[::2])]  # every other feature again
    log = _write(tmp_path / "mlperf_log_accuracy.json", rows)
    expected = _official_squad(log, examples, features)
    score = score_accuracy_log(log, examples, features)
    assert score.features_logged == len(oracle)
    assert score.exact_match == pytest.approx(expected["exact_match"], abs=1e-9)
    assert score.f1 == pytest.approx(expected["f1"], abs=1e-9)
    first_wins = score_accuracy_log(_write(tmp_path / "oracle.json", rows[:len(oracle)]), examples, features)
    assert first_wins.f1 - score.f1 > 10.0  # the later, shifted copies are the ones scored
