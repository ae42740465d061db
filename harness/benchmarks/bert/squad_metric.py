"""SQuAD v1.1 exact match and F1 from MLPerf BERT's accuracy log.

Two stages, as MLPerf's accuracy-squad.py runs them:

1. Span selection per question (BERT's run_squad post-processing): for each
   logged feature of the question take the 20 best start and the 20 best end
   positions; keep pairs whose start and end lie in the context window, whose
   start token has its "max context" in this window, with start <= end and at
   most 30 tokens; the pair with the highest start + end logit over all of the
   question's features is the answer (ties: the first found, in feature,
   start-rank, end-rank order). No valid pair answers "empty".
2. The official SQuAD v1.1 evaluation: normalise (lower case, drop
   punctuation, drop the articles a/an/the, collapse whitespace), exact match
   and token-overlap F1, the best over the ground truths, averaged over the
   questions and multiplied by 100.

Which log entries and questions count, as language/bert/accuracy-squad.py and
its evaluate_v1.1.py do it (``score_accuracy_log``'s default):

* every entry of the log becomes a result and the results go into a dict keyed
  by feature, so of two entries for one ``qsl_idx`` the LAST one is used;
* write_predictions visits every question of the dev file; one with no logged
  feature (or no valid span) gets the nonce prediction "empty", which is
  scored against its answers like any other text (0 unless an answer
  normalises to "empty");
* evaluate_v1.1.py divides by every question of the dev file (a question
  missing from the predictions would also score 0; here none is missing).

So a partial log scores low, exactly as MLPerf scores it. ``questions="logged"``
instead divides by the questions with at least one logged feature, for a
deliberately reduced run (``--mlperf-count``) that should be judged on what it
covered; on a complete log the two agree.
"""
from __future__ import annotations

import json
import re
import string
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .squad import SquadError, SquadExample, SquadFeatures

from harness.metrics.accuracy_log import responses

N_BEST_SIZE = 20
MAX_ANSWER_LENGTH = 30
NO_ANSWER = "empty"  # what the reference predicts when no span is valid
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


# ----------------------------------------------------------- official metric
def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (in that order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    predicted = normalize_answer(prediction).split()
    truth = normalize_answer(ground_truth).split()
    same = sum((Counter(predicted) & Counter(truth)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(truth)
    return 2 * precision * recall / (precision + recall)


def evaluate(examples: list[SquadExample], predictions: dict[str, str]) -> dict:
    """``{"exact_match", "f1"}`` in percent over ``examples``; a question without a prediction scores 0."""
    if not examples:
        raise SquadError("evaluate: no questions to score")
    exact = f1 = 0.0
    for example in examples:
        if example.qas_id not in predictions:
            continue
        prediction = predictions[example.qas_id]
        exact += max(float(exact_match_score(prediction, truth)) for truth in example.answers)
        f1 += max(f1_score(prediction, truth) for truth in example.answers)
    return {"exact_match": 100.0 * exact / len(examples), "f1": 100.0 * f1 / len(examples)}


# ------------------------------------------------------------ span selection
def _best_indexes(logits: np.ndarray, n_best_size: int) -> np.ndarray:
    # A stable sort on the negated logits: equal logits keep position order, as
    # the reference's sorted(..., reverse=True) does.
    return np.argsort(-logits, kind="stable")[:n_best_size]


def _best_span(features: SquadFeatures, row: int, logits: np.ndarray, n_best_size: int,
               max_answer_length: int) -> tuple[float, int, int] | None:
    """(score, start, end) of the best valid span of one feature, or None."""
    start_logits = logits[:, 0].astype(np.float64)
    end_logits = logits[:, 1].astype(np.float64)
    in_context = features.token_start[row] >= 0
    max_context = features.max_context[row]
    best = None
    for start in _best_indexes(start_logits, n_best_size):
        if not (in_context[start] and max_context[start]):
            continue
        for end in _best_indexes(end_logits, n_best_size):
            if not in_context[end] or end < start or end - start + 1 > max_answer_length:
                continue
            score = start_logits[start] + end_logits[end]
            if best is None or score > best[0]:
                best = (score, int(start), int(end))
    return best


def predictions_from_logits(examples: list[SquadExample], features: SquadFeatures,
                            logits_by_feature: dict[int, np.ndarray], n_best_size: int = N_BEST_SIZE,
                            max_answer_length: int = MAX_ANSWER_LENGTH) -> dict[str, str]:
    """qas_id -> answer text, for every question with at least one feature in ``logits_by_feature``.

    ``logits_by_feature[i]`` is feature i's response, float32 [seq, 2] (start, end).
    """
    rows_by_example: dict[int, list[int]] = defaultdict(list)
    for row in sorted(logits_by_feature):
        if not 0 <= row < len(features):
            raise SquadError(f"feature index {row} is outside the {len(features)} features")
        rows_by_example[int(features.example_index[row])].append(row)
    predictions: dict[str, str] = {}
    for example_index in sorted(rows_by_example):
        example = examples[example_index]
        best = None  # (score, row, start, end); strict '>' keeps the first of equals
        for row in rows_by_example[example_index]:
            logits = np.asarray(logits_by_feature[row])
            if logits.shape != (features.seq_length, 2):
                raise SquadError(f"feature {row}: logits are {list(logits.shape)}, expected [{features.seq_length}, 2]")
            span = _best_span(features, row, logits, n_best_size, max_answer_length)
            if span is not None and (best is None or span[0] > best[0]):
                best = (span[0], row, span[1], span[2])
        if best is None:
            predictions[example.qas_id] = NO_ANSWER
            continue
        _, row, start, end = best
        predictions[example.qas_id] = example.context[features.token_start[row, start]:features.token_end[row, end]]
    return predictions


# --------------------------------------------------------------- the log
QUESTION_RULES = ("dataset", "logged")


@dataclass(frozen=True)
class SquadScore:
    exact_match: float
    f1: float
    questions: int        # questions divided by: the whole dev set, or those with a logged feature
    features_logged: int  # distinct qsl_idx in the log

    def official_line(self) -> str:
        """accuracy-squad.py's output line, the one the submission checker's F1 regex reads."""
        return json.dumps({"exact_match": self.exact_match, "f1": self.f1})


def score_accuracy_log(log_path: str | Path, examples: list[SquadExample], features: SquadFeatures, *,
                       questions: str = "dataset") -> SquadScore:
    """EM/F1 of a LoadGen ``mlperf_log_accuracy.json`` whose qsl_idx are feature indices.

    ``questions="dataset"`` (default) scores as accuracy-squad.py does: over
    every question of ``examples``; ``"logged"`` over those with a logged
    feature (module doc). Either way the last entry of a qsl_idx is used.
    """
    log_path = Path(log_path)
    if questions not in QUESTION_RULES:
        raise SquadError(f"score_accuracy_log: questions={questions!r}; valid: {', '.join(QUESTION_RULES)}")
    logged = responses(log_path, "float32", keep="last")  # accuracy-squad.py: later entries overwrite
    expected = features.seq_length * 2
    logits: dict[int, np.ndarray] = {}
    for index in sorted(logged):
        data = logged[index]
        if not 0 <= index < len(features):
            raise SquadError(f"{log_path}: qsl_idx {index} is outside the dataset's {len(features)} features")
        if data.size != expected:
            raise SquadError(f"{log_path}: qsl_idx {index}: data holds {data.size} float32 values, expected "
                             f"{expected} ([{features.seq_length}, 2] start/end logits)")
        logits[index] = data.reshape(features.seq_length, 2)
    if not logits:
        raise SquadError(f"{log_path}: the accuracy log holds no responses")
    predictions = predictions_from_logits(examples, features, logits)
    if questions == "dataset":
        for example in examples:  # write_predictions' nonce for a question none of whose features is logged
            predictions.setdefault(example.qas_id, NO_ANSWER)
        scored = examples
    else:
        scored = [examples[i] for i in sorted({int(features.example_index[i]) for i in logits})]
    result = evaluate(scored, predictions)
    return SquadScore(exact_match=result["exact_match"], f1=result["f1"], questions=len(scored),
                      features_logged=len(logits))
