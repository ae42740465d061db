"""The accuracy gate: value >= reference x ratio, as MLPerf's checker compares."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AccuracyVerdict:
    metric: str
    value: float
    reference: float
    ratio: float
    log_path: str

    @property
    def threshold(self) -> float:
        return self.reference * self.ratio

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold

    def message(self) -> str:
        relation = ">=" if self.passed else "<"
        return (
            f"{self.metric} {self.value:.4f} {relation} threshold {self.threshold:.4f} "
            f"(reference {self.reference:.4f} x {self.ratio}); accuracy log: {self.log_path}"
        )
