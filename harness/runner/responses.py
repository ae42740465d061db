"""Completing LoadGen samples in bulk, with pointers into one result array."""
from __future__ import annotations

import numpy as np


class Completer:
    def __init__(self, loadgen):
        self._lg = loadgen

    def complete(self, ids, values: np.ndarray) -> None:
        """Complete ``ids[i]`` with the bytes of ``values[i]``.

        LoadGen copies the bytes during QuerySamplesComplete, so pointing into
        ``values`` is safe as long as it lives for the duration of the call.
        """
        values = np.ascontiguousarray(values)
        stride = values.strides[0] if values.ndim else values.itemsize
        base = values.ctypes.data
        response = self._lg.QuerySampleResponse
        self._lg.QuerySamplesComplete([response(qid, base + i * stride, stride) for i, qid in enumerate(ids)])

    def complete_one(self, qid: int, values: np.ndarray) -> None:
        """One sample whose response is all of ``values`` (contiguous)."""
        self._lg.QuerySamplesComplete([self._lg.QuerySampleResponse(qid, values.ctypes.data, values.nbytes)])

    def fail(self, ids) -> None:
        """Complete with empty responses so LoadGen never waits forever."""
        response = self._lg.QuerySampleResponse
        self._lg.QuerySamplesComplete([response(qid, 0, 0) for qid in ids])
