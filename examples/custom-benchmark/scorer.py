"""Accuracy of an accuracy log: ``accuracy=96.000%, good=432, total=450``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.accuracy.scoring import Scored
from harness.metrics.accuracy_log import AccuracyLogError, first_responses


class AccuracyScorer:
    def __init__(self, truth, *, dtype: str = "int32", tokenizer_dir=None, subset: bool = False):
        self.labels = np.asarray(truth)

    def score(self, log_path: Path) -> Scored:
        responses = first_responses(log_path, dtype="int32")
        good = 0
        for index, values in responses.items():
            if index >= len(self.labels):
                raise AccuracyLogError(f"{log_path}: qsl_idx {index} is outside the {len(self.labels)} samples")
            good += int(len(values) == 1 and values[0] == self.labels[index])
        total = len(responses)
        percent = 100.0 * good / total if total else 0.0
        return Scored({"accuracy": percent}, (f"accuracy={percent:.3f}%, good={good}, total={total}",), total,
                      len(self.labels))
