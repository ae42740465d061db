"""F1 and exact match of a bert accuracy log, printed as MLPerf's accuracy-squad.py prints them."""
from __future__ import annotations

from pathlib import Path

from harness.accuracy.scoring import Scored


class SquadScorer:
    def __init__(self, truth, *, dtype: str = "float32", tokenizer_dir=None, subset: bool = False):
        self.examples, self.features = truth
        # accuracy-squad.py divides by every dev question; a --mlperf-count run
        # covers part of the set on purpose: only the questions it logged.
        self.questions = "logged" if subset else "dataset"

    def score(self, log_path: Path) -> Scored:
        from .squad_metric import score_accuracy_log

        result = score_accuracy_log(log_path, self.examples, self.features, questions=self.questions)
        return Scored(
            {"f1": result.f1, "exact_match": result.exact_match}, (result.official_line(),),
            result.features_logged, len(self.features.input_ids),
        )
