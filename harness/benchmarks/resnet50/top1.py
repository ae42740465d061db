"""ImageNet top-1 as MLPerf's accuracy-imagenet script computes it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.metrics.accuracy_log import AccuracyLogError, first_responses


@dataclass(frozen=True)
class Top1:
    good: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.good / self.total if self.total else 0.0

    def official_line(self) -> str:
        """The first line of accuracy.txt, byte for byte as MLPerf prints it."""
        return "accuracy={:.3f}%, good={}, total={}".format(self.percent, self.good, self.total)


def top1(log_path: Path, labels, dtype: str = "float32") -> Top1:
    """``labels[i]`` is the label of query-sample index i (val_map.txt line i).

    As accuracy-imagenet.py: the first entry of a duplicated qsl_idx counts,
    and ``total`` is the number of distinct qsl_idx in the log.
    """
    responses = first_responses(log_path, dtype)
    good = 0
    for index, data in responses.items():
        if not 0 <= index < len(labels):
            raise AccuracyLogError(
                f"{log_path}: qsl_idx {index} is outside the dataset's {len(labels)} samples"
            )
        if len(data) == 0:
            raise AccuracyLogError(f"{log_path}: qsl_idx {index} has an empty response")
        if not np.isfinite(data[0]):  # int() would raise ValueError (NaN) or OverflowError (inf)
            raise AccuracyLogError(f"{log_path}: qsl_idx {index}: response {data[0]} is not a class index")
        if int(data[0]) == int(labels[index]):
            good += 1
    return Top1(good=good, total=len(responses))
