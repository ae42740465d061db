"""Top-1 accuracy of a resnet50 accuracy log, printed as MLPerf's accuracy-imagenet.py prints it."""
from __future__ import annotations

from pathlib import Path

from harness.accuracy.scoring import Scored


class Top1Scorer:
    def __init__(self, truth, *, dtype: str = "float32", tokenizer_dir=None, subset: bool = False):
        self.labels, self.dtype = truth, dtype

    def score(self, log_path: Path) -> Scored:
        from .top1 import top1

        result = top1(log_path, self.labels, dtype=self.dtype)
        return Scored({"top1": result.percent}, (result.official_line(),), result.total, len(self.labels))
