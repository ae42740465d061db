"""MLPerf's multihot-criteo folder, staged as one LoadGen sample per user.

The folder holds the three day-23 files (criteo_files.py) and, optionally,
its own ``dist_quantile.txt`` (the proxy's is a tenth of MLPerf's); without
one MLPerf's quantile applies. The evaluated rows (day 23's first half) are
grouped into samples as the reference groups them (aggregation.py), and
each sample is staged as one int32 array ``[rows, 13 + sum(multi-hot)]``:
the float32 dense features' bits, then the ids of the 26 features side by
side (the task splits them into the model's two inputs). The samples
are staged in the volumes layout (harness.staging): each its own row count.
The ground truth is the rows' labels, in the same grouping.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.artifacts.cache import ensure_artifact
from harness.datasets.base import DatasetFormatError, DatasetRequest, Prepared, stage_volumes

from . import aggregation, synthetic
from .criteo_files import DayFiles, open_day
from .layout import AGGREGATION_SEED, DAY_FILES, QUANTILE_FILE
from .truth import ClickTruth

# Bumped whenever the staged arrays could change for the same files.
STAGING_VERSION = "1"
STAGE_PREFIX = "criteo-multihot"
# Files up to this size are hashed whole for the staging key; MLPerf's real
# files (tens of GB) by size, modification time and their first and last MiB,
# so that each run does not read them end to end just to find its cache entry.
_HASHED_WHOLE = 256 << 20
_EDGE = 1 << 20


class _Users(Sequence):
    """The staged samples, built from the memory maps one at a time, when asked for."""

    def __init__(self, day: DayFiles, offsets: np.ndarray):
        self._day, self._offsets = day, offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index):
        return self._day.packed_rows(int(self._offsets[index]), int(self._offsets[index + 1]))


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256(f"{path.name}\n".encode())
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size <= _HASHED_WHOLE:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        else:
            h.update(f"{size}\n{path.stat().st_mtime_ns}\n".encode())
            h.update(fh.read(_EDGE))
            fh.seek(size - _EDGE)
            h.update(fh.read(_EDGE))
    return h.hexdigest()


class MultihotCriteoFormat:
    name = "multihot-criteo"
    real_hint = ("pointing at MLPerf's multihot-criteo folder (main.py's --dataset-path): "
                 f"{', '.join(DAY_FILES)}, optionally its own {QUANTILE_FILE}")

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        name = f"datasets/{bench.proxy.dataset}-v{synthetic.GENERATOR_VERSION}"
        return ensure_artifact(cache_dir, name, build=synthetic.render_dataset, offline=offline)

    @staticmethod
    def _quantile(directory: Path) -> tuple[Path, np.ndarray]:
        path = aggregation.quantile_for(directory)
        return path, aggregation.read_quantile(path)

    def check(self, directory: Path, count: int | None) -> None:
        """Headers only: the files, their dtypes, shapes and row counts, and the quantile file."""
        open_day(directory)
        self._quantile(directory)

    def content_files(self, directory: Path) -> list[Path]:
        """The three day-23 files, then the folder's own quantile file if it has one."""
        directory = Path(directory)
        own = directory / QUANTILE_FILE
        return [directory / name for name in DAY_FILES] + ([own] if own.is_file() else [])

    def _samples(self, directory: Path, count: int | None) -> tuple[DayFiles, np.ndarray, np.ndarray]:
        """The checked files, the sample offsets (the first ``count`` samples) and the quantile used."""
        day = open_day(directory)
        _, quantile = self._quantile(directory)
        offsets = aggregation.sample_offsets(day.evaluated, quantile, AGGREGATION_SEED)
        if count is not None:
            if count < 1:
                raise DatasetFormatError(f"{directory}: a count of {count} samples; expected at least 1")
            offsets = offsets[: count + 1]  # main.py --count-samples: the first samples
        return day, offsets, quantile

    def _truth(self, day: DayFiles, offsets: np.ndarray) -> ClickTruth:
        return ClickTruth(day.directory / DAY_FILES[2], day.labels_of(int(offsets[-1])), offsets)

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        if request.cache_dir is None:
            raise DatasetFormatError(f"{directory}: staging needs a cache folder (DatasetRequest.cache_dir is None)")
        day, offsets, quantile = self._samples(directory, request.count)
        truth = self._truth(day, offsets)  # the labels are checked before anything is staged
        params = {"format": self.name, "staging": STAGING_VERSION, "samples": len(offsets) - 1,
                  "seed": AGGREGATION_SEED, "quantile": quantile.tolist()}
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
        for path in day.paths:
            key.update(_fingerprint(path).encode())
        samples = stage_volumes(request.cache_dir, STAGE_PREFIX, key.hexdigest()[:16], lambda: _Users(day, offsets),
                                offline=request.offline)
        return Prepared(Path(directory), samples, truth, len(truth))

    def ground_truth(self, directory: Path, request: DatasetRequest) -> ClickTruth:
        """The labels of each sample's rows: the accuracy script needs no feature."""
        day, offsets, _ = self._samples(directory, request.count)
        return self._truth(day, offsets)
