"""A backend that computes nothing: it measures the harness's own ceiling."""
from __future__ import annotations

import numpy as np

from .base import BackendConfig


class NullBackend:
    name = "null"
    layout = "NCHW"
    concurrent_predict = True

    @classmethod
    def probe(cls, device: str) -> str | None:
        return None

    def load(self, config: BackendConfig) -> None:
        self._config = config
        self._outputs = config.outputs or ("output",)

    def predict(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        batch = len(next(iter(feed.values())))
        return [np.zeros(batch, dtype=np.int64) for _ in self._outputs]

    def info(self) -> dict:
        return {"backend": self.name, "device": self._config.device, "precision": self._config.precision}
