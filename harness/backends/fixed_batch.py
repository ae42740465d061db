"""A backend whose model takes exactly B samples per run, for any batch the harness forms.

The SUT forms batches of at most B (the effective max batch size is B), but
a query's last batch, a Server batch of what has arrived, calibration's
single-sample runs and the warm-up are shorter. Each of those is padded here
to B by repeating its last sample, and the padding's outputs are dropped, so
every caller sees a backend that answers any batch of up to B samples while
the model never runs on another size.
"""
from __future__ import annotations

import threading

import numpy as np

from .base import BackendError


class FixedBatchBackend:
    def __init__(self, inner, batch: int):
        if batch < 2:
            raise ValueError(f"a fixed batch to pad to must be at least 2, got {batch}")
        self._inner, self.batch = inner, int(batch)
        self.name, self.layout = inner.name, inner.layout
        # One padded batch per input, reused; per thread, since Server's
        # workers may call predict() at once (server_workers in sut.py).
        self._local = threading.local()

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        n = len(next(iter(feed.values())))
        if n == self.batch:
            return self._inner.predict(feed)
        if n > self.batch:
            raise BackendError(f"a batch of {n} samples for a model whose batch is fixed to {self.batch}")
        padded = {}
        buffers = self._local.__dict__.setdefault("buffers", {})
        for name, array in feed.items():
            buffer = buffers.get(name)
            if buffer is None or buffer.shape[1:] != array.shape[1:] or buffer.dtype != array.dtype:
                buffer = buffers[name] = np.empty((self.batch,) + array.shape[1:], dtype=array.dtype)
            buffer[:n] = array
            buffer[n:] = array[n - 1]  # real data, not zeros: no model sees an input it never would
            padded[name] = buffer
        outputs = self._inner.predict(padded)
        return [o[:n] if np.ndim(o) and len(o) == self.batch else o for o in outputs]

    def info(self) -> dict:
        return {**self._inner.info(), "fixed_batch": self.batch, "short_batches": "padded to the fixed batch"}

    def signature(self):
        return self._inner.signature()

    def __getattr__(self, attribute):
        # Anything else a backend offers (stop(), framework-specific details).
        return getattr(self._inner, attribute)
