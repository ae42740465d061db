"""The query sample library's memory: loaded samples staged contiguously.

LoadGen asks for a set of sample indices to be loaded before timing starts;
staging them once as one contiguous array makes every later batch a view or a
single gather, never a Python list of arrays.
"""
from __future__ import annotations

import numpy as np


class LayoutView:
    """The preprocessed (NCHW) cache, read in the layout a backend wants.

    Indexing returns arrays already transposed (NHWC for TensorFlow-style
    models); staging copies them once, before timing starts.
    """

    def __init__(self, source: np.ndarray, layout: str):
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"unknown layout {layout!r}; expected NCHW or NHWC")
        self.source, self.layout = source, layout
        sample = source.shape[1:]
        self.shape = (len(source),) + (sample if layout == "NCHW" else (sample[1], sample[2], sample[0]))
        self.dtype = source.dtype

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key) -> np.ndarray:
        part = self.source[key]
        if self.layout == "NHWC":
            part = part.transpose(0, 2, 3, 1) if part.ndim == 4 else part.transpose(1, 2, 0)
        # A fresh, writable array: a slice of the read-only memmap would be
        # refused by frameworks that import buffers through DLPack (TVM).
        return np.require(part, requirements=["C_CONTIGUOUS", "WRITEABLE", "OWNDATA"])


class SampleStore:
    def __init__(self, source: np.ndarray):
        self.source = source  # usually a read-only memmap of the preprocessed cache
        self.total = len(source)
        self.staged = source[:0].copy()
        self.slot_of = np.full(self.total, -1, dtype=np.int64)

    def load(self, indices) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        # Fancy indexing reads the memmap once into a fresh contiguous array.
        self.staged = np.ascontiguousarray(self.source[indices])
        self.slot_of[:] = -1
        self.slot_of[indices] = np.arange(len(indices))

    def unload(self, indices) -> None:
        self.slot_of[np.asarray(indices, dtype=np.int64)] = -1

    def slots(self, indices: np.ndarray) -> np.ndarray:
        slots = self.slot_of[indices]
        if (slots < 0).any():
            missing = indices[slots < 0][:5].tolist()
            raise LookupError(f"LoadGen issued sample indices {missing} that were not loaded")
        return slots


class VolumeStore(SampleStore):
    """Samples of their own shapes (input kind ``volumes``): staged as a list of arrays.

    ``source`` is harness.staging.Volumes (views of one memory map); loading
    copies each requested volume into memory once, before timing starts.
    """

    def __init__(self, source):
        self.source = source
        self.total = len(source)
        self.staged: list = []
        self.slot_of = np.full(self.total, -1, dtype=np.int64)

    def load(self, indices) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        self.staged = [np.array(self.source[int(i)]) for i in indices]
        self.slot_of[:] = -1
        self.slot_of[indices] = np.arange(len(indices))


class FirstVolumes:
    """The first ``count`` samples of staged volumes (--mlperf-count)."""

    def __init__(self, volumes, count: int | None):
        self.volumes, self.count = volumes, min(len(volumes), count) if count else len(volumes)
        self.dtype = volumes.dtype

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, key):
        if isinstance(key, slice):
            return [self.volumes[i] for i in range(*key.indices(self.count))]
        if not 0 <= int(key) < self.count:
            raise IndexError(f"volume {key} is outside the {self.count} staged")
        return self.volumes[int(key)]
