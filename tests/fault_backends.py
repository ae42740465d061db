"""Backends that misbehave on purpose, for the runner's failure tests.

Loaded by spec ("fault_backends:RaisingBackend") inside the child process,
with this folder on PYTHONPATH.
"""
from __future__ import annotations

import time

from harness.backends.onnxruntime_backend import OnnxRuntimeBackend


class RaisingBackend(OnnxRuntimeBackend):
    """Loads and calibrates fine, then raises once LoadGen is issuing queries."""

    calls = 0

    def predict(self, feed):
        RaisingBackend.calls += 1
        # past calibration's ~51 predicts (and Server's warm-up of up to 32
        # batch sizes); SingleStream's test style then issues 256 queries
        if RaisingBackend.calls > 100:
            raise RuntimeError("injected backend failure")
        return super().predict(feed)


class HangingBackend(OnnxRuntimeBackend):
    """Never answers once LoadGen is issuing queries."""

    calls = 0

    def predict(self, feed):
        HangingBackend.calls += 1
        if HangingBackend.calls > 100:  # past calibration, as RaisingBackend
            time.sleep(3600)
        return super().predict(feed)


class AbortingBackend(OnnxRuntimeBackend):
    """Crashes the whole process (as a segfault in native code would)."""

    calls = 0

    def predict(self, feed):
        AbortingBackend.calls += 1
        if AbortingBackend.calls > 100:  # past calibration, as RaisingBackend
            import os

            os.abort()
        return super().predict(feed)


class UnsupportedCpuBackend(OnnxRuntimeBackend):
    """Finds at load time that this machine cannot run the precision asked for."""

    def load(self, config):
        from harness.backends import DeviceUnavailable

        raise DeviceUnavailable(f"this CPU cannot run {config.precision} (injected)")


class MemoryHungryBackend(OnnxRuntimeBackend):
    """Loads a 'model' far larger than the child's memory limit allows."""

    def load(self, config):
        import numpy as np

        super().load(config)
        self._weights = np.ones(64 << 30, dtype=np.uint8)  # 64 GiB: beyond any test's limit


class SlowBackend(OnnxRuntimeBackend):
    """Answers, slowly, once LoadGen is issuing queries: a run that lasts until it is ended."""

    calls = 0

    def predict(self, feed):
        SlowBackend.calls += 1
        if SlowBackend.calls > 100:  # past calibration, as RaisingBackend
            time.sleep(0.05)
        return super().predict(feed)
