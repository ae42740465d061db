"""DICE as MLPerf's ``accuracy_kits.py`` computes and prints it.

Per case, for the kidney class (label 1) and the tumour class (label 2),
each compared as its own one-hot channel, background dropped:
``(2 * |P & T| + 1e-6) / (|P| + |T| + 1e-6)``. So "kidney" is the voxels
labelled 1 only, not kidney and tumour together; an empty prediction of an
empty class scores 1.0. A case's composite is the mean of its two. The
summary is the mean over cases of each column (a NaN would count as 0; the
smoothing terms make one impossible), and the script prints

    Accuracy: mean = {composite:.5f}, kidney = {kidney:.4f}, tumor = {tumor:.4f}

which the submission checker's DICE regex reads (``Accuracy:\\s*mean\\s*=``).
Counting voxels gives the reference's float64 one-hot sums exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import layout

SMOOTH_NR = 1e-6
SMOOTH_DR = 1e-6


def case_dice(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """``(kidney, tumour)`` DICE of one case; both arrays hold labels 0..2 and have one shape."""
    prediction, target = np.asarray(prediction), np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {target.shape} differ in shape")
    scores = []
    for label in (layout.KIDNEY, layout.TUMOUR):
        p, t = prediction == label, target == label
        intersection = float(np.count_nonzero(p & t))
        total = float(np.count_nonzero(p)) + float(np.count_nonzero(t))
        scores.append((2.0 * intersection + SMOOTH_NR) / (total + SMOOTH_DR))
    return scores[0], scores[1]


@dataclass(frozen=True)
class DiceSummary:
    cases: tuple[str, ...]
    kidney: tuple[float, ...]  # per case, in ``cases`` order
    tumour: tuple[float, ...]

    @property
    def composite(self) -> tuple[float, ...]:
        return tuple(float(np.mean([k, t])) for k, t in zip(self.kidney, self.tumour))

    @staticmethod
    def _mean(values) -> float:
        values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)  # "consider NaN as a crash hence zero"
        return float(values.mean()) if len(values) else 0.0

    @property
    def mean(self) -> float:
        """The checker's DICE value: the mean composite."""
        return self._mean(self.composite)

    @property
    def mean_kidney(self) -> float:
        return self._mean(self.kidney)

    @property
    def mean_tumour(self) -> float:
        return self._mean(self.tumour)

    def official_line(self) -> str:
        """accuracy.txt's first line, byte for byte as accuracy_kits.py prints it."""
        return "Accuracy: mean = {:.5f}, kidney = {:.4f}, tumor = {:.4f}".format(
            self.mean, self.mean_kidney, self.mean_tumour)
