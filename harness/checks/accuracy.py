"""The accuracy gate: value >= reference x ratio, as MLPerf's checker compares,
and value <= reference x upper_ratio where MLPerf has an upper limit."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AccuracyVerdict:
    metric: str
    value: float
    reference: float
    ratio: float
    log_path: str
    upper_ratio: float | None = None

    @property
    def threshold(self) -> float:
        return self.reference * self.ratio

    @property
    def upper_threshold(self) -> float | None:
        return None if self.upper_ratio is None else self.reference * self.upper_ratio

    @property
    def passed(self) -> bool:
        upper = self.upper_threshold
        return self.value >= self.threshold and (upper is None or self.value <= upper)

    def message(self) -> str:
        upper = self.upper_threshold
        if upper is not None and self.value > upper:
            return (
                f"{self.metric} {self.value:.4f} > upper limit {upper:.4f} "
                f"(reference {self.reference:.4f} x {self.upper_ratio}); accuracy log: {self.log_path}"
            )
        relation = ">=" if self.value >= self.threshold else "<"
        return (
            f"{self.metric} {self.value:.4f} {relation} threshold {self.threshold:.4f} "
            f"(reference {self.reference:.4f} x {self.ratio}); accuracy log: {self.log_path}"
        )


def verdicts(specs, scored, references: dict, log_path: str) -> list[AccuracyVerdict]:
    """One verdict per gated metric. A dataset total (GEN_LEN) scored on part
    of the dataset is compared with the same share of its reference."""
    out = []
    for spec in specs:
        if spec.metric not in scored.values:
            raise KeyError(f"the accuracy script computed no {spec.metric!r} (it gave {sorted(scored.values)})")
        reference = references[spec.metric]
        if spec.dataset_total and scored.dataset_total:
            reference = reference * scored.answered / scored.dataset_total
        out.append(AccuracyVerdict(
            metric=spec.metric, value=float(scored.values[spec.metric]), reference=reference,
            ratio=spec.ratio, log_path=log_path, upper_ratio=spec.upper_ratio,
        ))
    return out
