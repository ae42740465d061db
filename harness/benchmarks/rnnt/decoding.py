"""Greedy decoding of the proxy's CTC logits into label ids.

MLPerf's rnnt decodes its RNN-T greedily (``ScriptGreedyDecoder``: at each
encoder frame, emit the best label until the best is the blank, at most 30
per frame). The proxy is a CTC model (benchmark.toml says so), whose greedy
decoding is the best path: the best class per frame, runs of one class
merged, then the blanks removed. The blank is what keeps a doubled letter
doubled ("l", blank, "l" is "ll"; "l", "l" is "l"), so the order matters.

``remove_blanks_first=True`` reverses it, as a decoder that drops the blank
before merging would: only for the mutation test that shows the accuracy
gate notices.
"""
from __future__ import annotations

import numpy as np

from .text import BLANK


def best_path(logits: np.ndarray, blank: int = BLANK, *, remove_blanks_first: bool = False) -> np.ndarray:
    """int64 label ids of one utterance's logits ``[frames, classes]``."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] <= blank:
        raise ValueError(f"expected logits [frames, classes] with the blank {blank} among the classes, "
                         f"got shape {logits.shape}")
    best = np.argmax(logits, axis=1).astype(np.int64)
    if remove_blanks_first:
        best = best[best != blank]
    if len(best):
        best = best[np.concatenate(([True], best[1:] != best[:-1]))]
    return np.ascontiguousarray(best[best != blank])
