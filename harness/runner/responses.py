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

    def complete_ragged(self, ids, arrays: list[np.ndarray], with_counts: bool = False) -> None:
        """One response per sample, each its own contiguous array (generated tokens).

        ``with_counts`` passes each array's length as LoadGen's n_tokens, which
        LLM token metrics (tokens/s, TPOT) need.
        """
        response = self._lg.QuerySampleResponse
        arrays = [np.ascontiguousarray(a) for a in arrays]  # alive until LoadGen has copied them
        if with_counts:
            items = [response(qid, a.ctypes.data, a.nbytes, len(a)) for qid, a in zip(ids, arrays)]
        else:
            items = [response(qid, a.ctypes.data, a.nbytes) for qid, a in zip(ids, arrays)]
        self._lg.QuerySamplesComplete(items)

    def first_tokens(self, ids, tokens: np.ndarray) -> None:
        """Report each sample's first generated token (LLM Server: time to first token)."""
        tokens = np.ascontiguousarray(tokens)
        stride = tokens.itemsize
        base = tokens.ctypes.data
        response = self._lg.QuerySampleResponse
        self._lg.FirstTokenComplete([response(qid, base + i * stride, stride) for i, qid in enumerate(ids)])
