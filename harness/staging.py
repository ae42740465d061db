"""How staged samples lie on disk: what the dataset layer writes and the runner maps.

Two layouts, chosen by the task's input kind (harness.tasks.kinds):
- ``stacked`` and ``tokens``: one ``samples.npy``, ``[N, ...]`` in
  query-sample-index order, so a batch is a view or a single gather;
- ``volumes``: samples of different shapes (3-D volumes) as one flat
  ``samples.npy`` plus ``samples.index.npy`` (``[N, 1 + ndim]`` int64: offset
  into the flat array, then the shape), so each sample is a view of one
  memory map, never a pickle and never one file per sample.
This module imports nothing of the harness: both layers read it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

SAMPLES_FILE = "samples.npy"
INDEX_SUFFIX = ".index.npy"


class StagedFormatError(ValueError):
    """A staged samples file is not what its layout needs."""


def index_path(samples_path: Path) -> Path:
    samples_path = Path(samples_path)
    return samples_path.with_name(samples_path.name[: -len(".npy")] + INDEX_SUFFIX)


def save_volumes(samples_path: Path, volumes: Sequence[np.ndarray]) -> None:
    """Write ``volumes`` (same dtype and rank, any shapes) as a flat array and its index."""
    if not volumes:
        raise StagedFormatError(f"{samples_path}: no volumes to stage")
    dtype, ndim = volumes[0].dtype, volumes[0].ndim
    index = np.zeros((len(volumes), 1 + ndim), dtype=np.int64)
    offset = 0
    for row, volume in enumerate(volumes):
        if volume.dtype != dtype or volume.ndim != ndim:
            raise StagedFormatError(
                f"{samples_path}: volume {row} is {volume.dtype} rank {volume.ndim}; expected {dtype} rank {ndim}")
        index[row, 0] = offset
        index[row, 1:] = volume.shape
        offset += volume.size
    flat = np.lib.format.open_memmap(samples_path, mode="w+", dtype=dtype, shape=(offset,))
    for row, volume in enumerate(volumes):
        flat[index[row, 0]: index[row, 0] + volume.size] = volume.reshape(-1)
    flat.flush()
    del flat
    np.save(index_path(samples_path), index)


class Volumes:
    """Read side of ``save_volumes``: ``len()`` and ``volumes[i]`` (a read-only view)."""

    def __init__(self, samples_path: Path):
        samples_path = Path(samples_path)
        where = index_path(samples_path)
        if not where.is_file():
            raise StagedFormatError(f"{samples_path}: no {where.name} beside it (staged volumes need their index)")
        self.flat = np.load(samples_path, mmap_mode="r")
        self.index = np.load(where)
        if self.index.ndim != 2 or self.index.shape[1] < 2:
            raise StagedFormatError(f"{where}: expected [N, 1 + ndim] int64, got shape {self.index.shape}")
        end = self.index[:, 0] + np.prod(self.index[:, 1:], axis=1)
        if len(end) and int(end.max()) > self.flat.size:
            raise StagedFormatError(f"{where}: offsets reach {int(end.max())}, past the {self.flat.size} staged values")
        self.dtype = self.flat.dtype

    def __len__(self) -> int:
        return len(self.index)

    def shape(self, i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.index[i, 1:])

    def __getitem__(self, i: int) -> np.ndarray:
        row = self.index[int(i)]
        shape = tuple(int(d) for d in row[1:])
        start = int(row[0])
        return self.flat[start: start + int(np.prod(shape))].reshape(shape)
