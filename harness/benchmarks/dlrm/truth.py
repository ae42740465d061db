"""The ground truth of a dlrm-v2 run: each sample's rows and their click labels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ClickTruth:
    labels_file: Path  # where the labels were read (named in errors)
    labels: np.ndarray  # int8 [rows]: the evaluated rows of the samples, in row order
    offsets: np.ndarray  # int64 [samples + 1]: sample i is labels[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def rows(self, index: int) -> int:
        return int(self.offsets[index + 1] - self.offsets[index])

    def of(self, index: int) -> np.ndarray:
        """The labels of sample ``index`` (its user-item pairs, in order)."""
        return self.labels[self.offsets[index]: self.offsets[index + 1]]
