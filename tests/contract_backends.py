"""A backend that records every batch size it is fed, for the fixed-batch tests.

Loaded by spec ("contract_backends:BatchRecordingBackend") inside the child
process, with this folder on PYTHONPATH (the fault_backends_on_path fixture).
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.backends.onnxruntime_backend import OnnxRuntimeBackend

BATCH_SIZES_FILE = "batch_sizes.json"


class BatchRecordingBackend(OnnxRuntimeBackend):
    """ONNX Runtime (signature included), writing the batch sizes seen so far
    to batch_sizes.json in the case folder (the child's working directory)."""

    def load(self, config):
        super().load(config)
        self._seen: set[int] = set()
        Path(BATCH_SIZES_FILE).write_text("[]")

    def predict(self, feed):
        size = len(next(iter(feed.values())))
        if size not in self._seen:  # written on news only: the hot path stays a set lookup
            self._seen.add(size)
            Path(BATCH_SIZES_FILE).write_text(json.dumps(sorted(self._seen)))
        return super().predict(feed)
