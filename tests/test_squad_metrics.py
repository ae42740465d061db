"""SQuAD v1.1 metric and BERT span selection, on hand-computed cases."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from harness.benchmarks.bert.squad_metric import (
    SquadScore,
    evaluate,
    exact_match_score,
    f1_score,
    normalize_answer,
    predictions_from_logits,
    score_accuracy_log,
)
from harness.benchmarks.bert.squad import SquadError, SquadExample

# The submission checker's F1 pattern (tools/submission/submission_checker/constants.py).
CHECKER_F1 = re.compile(r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}")
LOW = -10.0  # the background logit of the hand-made cases


# ------------------------------------------------------------ official metric
@pytest.mark.parametrize("text, expected", [
    ("The  Denver Broncos!", "denver broncos"),
    ("an apple, a day", "apple day"),
    ("Theatre of the absurd", "theatre of absurd"),  # only whole-word articles go
    ("  12,000 (about)  ", "12000 about"),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_punctuation_and_articles():
    assert exact_match_score("The Denver Broncos.", "denver broncos")
    assert not exact_match_score("Denver", "denver broncos")


@pytest.mark.parametrize("prediction, truth, expected", [
    ("quick brown fox", "quick fox jumps", 2 / 3),  # 2 common: P = R = 2/3
    ("x y z", "y", 0.5),                            # P = 1/3, R = 1
    ("y y", "y", 2 / 3),                            # counts clip: 1 common, P = 1/2, R = 1
    ("the fox", "a fox", 1.0),                      # articles removed on both sides
    ("cat", "dog", 0.0),
])
def test_f1_token_overlap(prediction, truth, expected):
    assert f1_score(prediction, truth) == pytest.approx(expected, abs=1e-12)


def test_evaluate_takes_the_best_ground_truth_and_scores_unanswered_as_zero():
    examples = [
        SquadExample("a", "?", "", ("Denver Broncos", "the broncos")),
        SquadExample("b", "?", "", ("cat", "x y z")),
        SquadExample("c", "?", "", ("anything",)),
    ]
    predictions = {"a": "broncos", "b": "y"}  # a: EM via "the broncos"; b: F1 0.5 via "x y z"; c: none
    result = evaluate(examples, predictions)
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 0.5 + 0) / 3)


def test_official_line_matches_the_checker_regex():
    line = SquadScore(exact_match=81.25, f1=88.5, questions=16, features_logged=20).official_line()
    assert line == '{"exact_match": 81.25, "f1": 88.5}'
    assert CHECKER_F1.match(line).group(1) == "88.5"


# ------------------------------------------------------------- span selection
@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    pytest.importorskip("transformers", reason="the BERT tokenizer comes from transformers")
    from harness.benchmarks.bert.squad import load_tokenizer

    folder = tmp_path_factory.mktemp("vocab")
    words = [f"w{i}" for i in range(10)] + ["q"]
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def one_window(tokenizer):
    """'q' about 'w0 .. w5' in 12 positions: [CLS]=0 q=1 [SEP]=2 w0..w5=3..8 [SEP]=9 pad=10,11."""
    from harness.benchmarks.bert.squad import build_features

    example = SquadExample("x", "q", "w0 w1 w2 w3 w4 w5", ("w1",))
    return [example], build_features([example], tokenizer, max_seq_length=12)


def _logits(length: int, start: dict[int, float], end: dict[int, float]) -> np.ndarray:
    logits = np.full((length, 2), LOW, dtype=np.float32)
    for position, value in start.items():
        logits[position, 0] = value
    for position, value in end.items():
        logits[position, 1] = value
    return logits


def _answer(examples, features, logits_by_feature, **options) -> str:
    return predictions_from_logits(examples, features, logits_by_feature, **options)["x"]


# start: the query token (1) ranks first but is outside the context; end: [SEP] (2) ranks
# first but is outside, then w0 (3) ends before the start w1 (4); w2 (5) is the valid end.
BASE_START = {1: 10.0, 4: 5.0, 6: 3.0}
BASE_END = {2: 9.0, 3: 8.0, 5: 4.0}


def test_best_valid_span_skips_query_separator_and_reversed_spans(one_window):
    examples, features = one_window
    assert _answer(examples, features, {0: _logits(12, BASE_START, BASE_END)}) == "w1 w2"


def test_span_longer_than_max_answer_length_is_refused(one_window):
    examples, features = one_window
    # One-token spans only: (w0, w0) = -10 + 8 beats (w1, w1) = 5 - 10 and (w3, w3) = 3 - 10.
    answer = _answer(examples, features, {0: _logits(12, BASE_START, BASE_END)}, max_answer_length=1)
    assert answer == "w0"


def test_only_the_n_best_starts_and_ends_are_tried(one_window):
    examples, features = one_window
    # The 2 best starts are the query token and w1, the 2 best ends [SEP] and w0: nothing valid.
    answer = _answer(examples, features, {0: _logits(12, BASE_START, BASE_END)}, n_best_size=2)
    assert answer == "empty"


def test_padding_positions_are_outside_the_context(one_window):
    examples, features = one_window
    logits = _logits(12, {10: 50.0, 11: 50.0, 7: 1.0}, {10: 50.0, 11: 50.0, 8: 1.0})
    assert _answer(examples, features, {0: logits}) == "w4 w5"


def test_equal_scores_keep_the_first_span_found(one_window):
    examples, features = one_window
    # (w1, w4) and (w3, w4) both score 6; w1 ranks before w3 among equal start logits.
    logits = _logits(12, {4: 5.0, 6: 5.0}, {7: 1.0})
    assert _answer(examples, features, {0: logits}) == "w1 w2 w3 w4"


def test_max_context_decides_between_overlapping_windows(tokenizer):
    from harness.benchmarks.bert.squad import build_features

    # 10 tokens, windows (0,6) (3,6) (6,4); w4 has its max context in window 0, w5 in window 1.
    example = SquadExample("x", "q", " ".join(f"w{i}" for i in range(10)), ("w4",))
    features = build_features([example], tokenizer, max_seq_length=10, doc_stride=3)
    assert len(features) == 3
    logits = {
        0: _logits(10, {7: 15.0}, {7: 15.0}),  # "w4" in window 0: score 30
        1: _logits(10, {4: 20.0}, {5: 20.0}),  # "w4 w5" in window 1: score 40, but w4 lacks max context there
        2: _logits(10, {}, {}),
    }
    assert _answer([example], features, logits) == "w4"
    # Without window 0 in the log, the best remaining span is (w5, w5): -10 + 20.
    assert _answer([example], features, {1: logits[1], 2: logits[2]}) == "w5"
    # Only the start needs max context: w5..w8 in window 1 ends on w8 (max context in window 2).
    logits = {0: _logits(10, {}, {}), 1: _logits(10, {4: 20.0, 5: 3.0}, {8: 3.0}), 2: _logits(10, {}, {})}
    assert _answer([example], features, logits) == "w5 w6 w7 w8"


def test_equal_scores_in_two_windows_keep_the_first_window(tokenizer):
    from harness.benchmarks.bert.squad import build_features

    example = SquadExample("x", "q", " ".join(f"w{i}" for i in range(10)), ("w1",))
    features = build_features([example], tokenizer, max_seq_length=10, doc_stride=3)
    logits = {0: _logits(10, {4: 5.0}, {4: 5.0}),   # "w1" in window 0
              1: _logits(10, {6: 5.0}, {6: 5.0})}   # "w6" in window 1, the same score
    assert _answer([example], features, logits) == "w1"


# ------------------------------------------------------------- accuracy log
def _write_log(path, entries):
    rows = [{"seq_id": i, "qsl_idx": idx, "data": np.asarray(data, dtype=np.float32).tobytes().hex().upper()}
            for i, (idx, data) in enumerate(entries)]
    path.write_text(json.dumps(rows))
    return path


@pytest.fixture(scope="module")
def three_questions(tokenizer):
    from harness.benchmarks.bert.squad import build_features

    examples = [SquadExample(f"q{i}", "q", "w0 w1 w2 w3", (answer,)) for i, answer in enumerate(("w1", "w2 w3", "w0"))]
    return examples, build_features(examples, tokenizer, max_seq_length=12)


# Positions in three_questions' 12-token windows: [CLS]=0 q=1 [SEP]=2 w0..w3=3..6 [SEP]=7.
W0, W1, W2, W3 = 3, 4, 5, 6


def _span(first: int, last: int) -> np.ndarray:
    return _logits(12, {first: 5.0}, {last: 5.0})


def test_a_duplicated_qsl_idx_uses_its_last_entry_like_accuracy_squad(tmp_path, three_questions):
    examples, features = three_questions  # answers: q0 "w1", q1 "w2 w3", q2 "w0"
    log = _write_log(tmp_path / "mlperf_log_accuracy.json", [
        (0, _span(W2, W2)), (1, _span(W1, W1)), (2, _span(W0, W0)),
        (0, _span(W1, W1)),  # q0: the later entry, "w1", is the one scored (EM 1)
        (1, _span(W2, W2)),  # q1: "w2" against "w2 w3" (EM 0, F1 2/3)
    ])
    score = score_accuracy_log(log, examples, features)
    assert (score.questions, score.features_logged) == (3, 3)
    assert score.exact_match == pytest.approx(100 * 2 / 3)
    assert score.f1 == pytest.approx(100 * (1 + 2 / 3 + 1) / 3)
    assert CHECKER_F1.match(score.official_line())


def test_a_partial_log_divides_by_every_question_of_the_dev_set(tmp_path, three_questions):
    examples, features = three_questions
    log = _write_log(tmp_path / "mlperf_log_accuracy.json", [(0, _span(W1, W1)), (1, _span(W2, W3))])
    official = score_accuracy_log(log, examples, features)
    # q2 has no feature in the log: it is predicted "empty" and scores 0, but still counts.
    assert (official.questions, official.exact_match, official.f1) == (3, pytest.approx(200 / 3), pytest.approx(200 / 3))
    covered = score_accuracy_log(log, examples, features, questions="logged")
    assert (covered.questions, covered.exact_match, covered.f1) == (2, pytest.approx(100.0), pytest.approx(100.0))


def test_an_unlogged_question_is_scored_as_the_nonce_answer_empty(tmp_path, tokenizer):
    from harness.benchmarks.bert.squad import build_features

    # write_predictions answers "empty" for a question none of whose features is
    # logged, and evaluate_v1.1 scores that text: an answer "Empty." matches it.
    examples = [SquadExample("q0", "q", "w0 w1", ("w1",)), SquadExample("q1", "q", "w2 w3", ("Empty.",))]
    features = build_features(examples, tokenizer, max_seq_length=12)
    log = _write_log(tmp_path / "acc.json", [(0, _span(W1, W1))])
    score = score_accuracy_log(log, examples, features)
    assert (score.questions, score.exact_match, score.f1) == (2, pytest.approx(100.0), pytest.approx(100.0))


def test_an_unknown_question_rule_is_an_error(tmp_path, three_questions):
    examples, features = three_questions
    log = _write_log(tmp_path / "acc.json", [(0, _span(W1, W1))])
    with pytest.raises(SquadError, match="questions='all'; valid: dataset, logged"):
        score_accuracy_log(log, examples, features, questions="all")


def test_payload_of_the_wrong_size_names_file_and_qsl_idx(tmp_path, three_questions):
    examples, features = three_questions
    log = _write_log(tmp_path / "acc.json", [(0, _logits(12, {}, {})), (2, np.zeros(23, dtype=np.float32))])
    with pytest.raises(SquadError, match=r"acc\.json: qsl_idx 2: data holds 23 float32 values, expected 24"):
        score_accuracy_log(log, examples, features)


def test_qsl_idx_outside_the_features_is_an_error(tmp_path, three_questions):
    examples, features = three_questions
    log = _write_log(tmp_path / "acc.json", [(3, _logits(12, {}, {}))])
    with pytest.raises(SquadError, match=r"acc\.json: qsl_idx 3 is outside the dataset's 3 features"):
        score_accuracy_log(log, examples, features)
