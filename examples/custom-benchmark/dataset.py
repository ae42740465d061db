"""This benchmark's own dataset format: one CSV file, ``label,p0,...,p63`` per sample.

What every dataset format does: check the layout before any long work, say
what the content is, stage the samples as one float32 [N, 64] array in the
cache (built once, verified on every use) and return the ground truth.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError, DatasetRequest, Prepared, digest, find_file, stage

PIXELS = 64


class DigitsCsvFormat:
    name = "digits-csv"
    real_hint = "pointing at a folder with digits.csv (header label,p0,...,p63)"

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        return bench.proxy_dir / bench.proxy.dataset  # committed beside the entry

    def file(self, directory: Path) -> Path:
        return find_file(directory, ("digits.csv", "*.csv"), "digits CSV")

    def read(self, directory: Path) -> tuple[np.ndarray, np.ndarray]:
        path = self.file(directory)
        lines = path.read_text().splitlines()
        header = ["label"] + [f"p{i}" for i in range(PIXELS)]
        if not lines or lines[0].split(",") != header:
            raise DatasetFormatError(f"{path}: line 1 must be the header label,p0,...,p{PIXELS - 1}")
        rows = []
        for number, line in enumerate(lines[1:], start=2):
            fields = line.split(",")
            if len(fields) != PIXELS + 1:
                raise DatasetFormatError(f"{path}:{number}: {len(fields)} fields; expected {PIXELS + 1}")
            try:
                rows.append([int(v) for v in fields])
            except ValueError:
                raise DatasetFormatError(f"{path}:{number}: expected whole numbers") from None
        if not rows:
            raise DatasetFormatError(f"{path}: no samples after the header")
        table = np.asarray(rows, dtype=np.int64)
        labels, pixels = table[:, 0], table[:, 1:].astype(np.float32)
        if labels.min() < 0 or labels.max() > 9:
            raise DatasetFormatError(f"{path}: labels must be 0..9")
        return pixels, labels

    def check(self, directory: Path, count: int | None) -> None:
        self.read(directory)

    def content_files(self, directory: Path) -> list[Path]:
        return [self.file(directory)]

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        pixels, labels = self.read(directory)
        if request.count:
            pixels, labels = pixels[: request.count], labels[: request.count]
        key = digest({"format": "digits-csv-v1", "count": len(labels)}, self.file(directory))
        samples = stage(request.cache_dir, "digits-csv", key, lambda: pixels, offline=request.offline)
        return Prepared(Path(directory), samples, labels, len(labels))

    def ground_truth(self, directory: Path, request: DatasetRequest):
        return self.read(directory)[1]
