"""Rows of day 23 grouped into LoadGen samples, as MLPerf's dlrm-v2 reference groups them.

A sample is one user: a run of consecutive rows (user-item pairs) whose
length is drawn from a distribution given by its quantile
(``tools/dist_quantile.txt``, one line of comma-separated row counts). As
``MultihotCriteo.__init__`` (python/multihot_criteo.py) does with
``np.random.seed(123)`` from main.py: starting at row 0, draw
``randint(0, len(quantile))``, take that many rows, clip at the end of the
evaluation rows, until they are used up. The last sample may be shorter.

MLPerf's quantile (20 entries, 100-700 rows, mean 270) turns the 89,137,319
evaluation rows into 330,067 samples, the checker's dataset size; its first
samples are the ones ``tools/dist_trace_verification.txt`` lists (tested).
The legacy generator draws the same sequence in bulk as one call at a time,
so the draws are made in chunks.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError

from .layout import AGGREGATION_SEED, QUANTILE_FILE

MLPERF_QUANTILE = Path(__file__).resolve().parent / QUANTILE_FILE
_CHUNK = 1 << 16


def read_quantile(path: Path) -> np.ndarray:
    """The row counts of a dist_quantile.txt (its first line, as main.py reads it), checked."""
    path = Path(path)
    try:
        line = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: cannot read this quantile file ({exc})") from None
    fields = [field.strip() for field in line.split(",")]
    try:
        counts = np.array([int(field) for field in fields], dtype=np.int64)
    except ValueError:
        raise DatasetFormatError(f"{path}: first line {line[:80]!r} is not comma-separated row counts "
                                 "(expected e.g. '100, 100, 200, ...', one line)") from None
    if counts.size == 0 or (counts < 1).any():
        raise DatasetFormatError(f"{path}: row counts must be positive integers, got {line[:80]!r}")
    if (np.diff(counts) < 0).any():
        raise DatasetFormatError(f"{path}: a quantile is non-decreasing; got {line[:80]!r}")
    return counts


def quantile_for(directory: Path) -> Path:
    """The dataset folder's own quantile file, else MLPerf's."""
    own = Path(directory) / QUANTILE_FILE
    return own if own.is_file() else MLPERF_QUANTILE


def sample_offsets(rows: int, quantile: np.ndarray, seed: int = AGGREGATION_SEED) -> np.ndarray:
    """``[samples + 1]`` int64 row offsets: sample i is rows ``offsets[i]:offsets[i + 1]``."""
    if rows < 1:
        raise ValueError(f"no rows to aggregate ({rows})")
    quantile = np.asarray(quantile, dtype=np.int64)
    rng = np.random.RandomState(seed)
    ends: list[np.ndarray] = []
    reached = 0
    while reached < rows:
        sizes = quantile[rng.randint(0, len(quantile), size=_CHUNK)]
        chunk_ends = reached + np.cumsum(sizes)
        ends.append(chunk_ends)
        reached = int(chunk_ends[-1])
    ends_all = np.concatenate(ends)
    last = int(np.searchsorted(ends_all, rows))  # the first sample that reaches the end
    offsets = np.concatenate(([0], ends_all[: last + 1]))
    offsets[-1] = rows  # the last one is clipped
    return offsets


def trace_lines(offsets: np.ndarray) -> list[str]:
    """``dlrm_trace_of_aggregated_samples.txt`` as main.py writes it: ``start, end, count`` per sample."""
    return [f"{s}, {e}, {e - s}" for s, e in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
