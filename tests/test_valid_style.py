"""A `valid` run: calibrated targets that meet MLPerf's minimums, and a watchdog that waits for them.

The backend here has a known speed (it sleeps a fixed time per batch plus per
sample), so what calibration should measure, what the targets must be, and
how long the run takes are all known in advance. The settings are LoadGen's
own built-in mlperf.conf values, as a `valid` run uses them.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from harness import settings as conf
from harness.runner.launch import RUN_MARGIN, RUN_TAIL_S, SETUP_TIMEOUT_S, watchdog_deadline
from harness.runner.calibrate import LATENCY_HEADROOM, OFFLINE_HEADROOM, calibrate, targets
from harness.runner.expected import OFFLINE_SLACK, expected_run_seconds
from harness.runner.spec import WATCHDOG_FILE
from harness.benchmarks.resnet50.task import ImageClassification

PER_BATCH_S = 0.002
PER_SAMPLE_S = 0.0005
BATCH = 16


class KnownSpeedBackend:
    """predict() takes PER_BATCH_S + PER_SAMPLE_S x batch, whatever the input."""

    def __init__(self):
        self.batches: list[int] = []

    def predict(self, feed):
        (batch,) = feed.values()
        self.batches.append(len(batch))
        time.sleep(PER_BATCH_S + PER_SAMPLE_S * len(batch))
        return [np.zeros(len(batch), dtype=np.int64)]


def _seconds_for(n: int) -> float:
    return PER_BATCH_S + PER_SAMPLE_S * n


@pytest.fixture(scope="module")
def calibration():
    source = np.zeros((64, 3, 8, 8), dtype=np.float32)
    return calibrate(KnownSpeedBackend(), ImageClassification(), source, max_batchsize=BATCH)


def _builtin(scenario: str) -> dict:
    lg = pytest.importorskip("mlperf_loadgen", reason="the valid style is LoadGen's built-in mlperf.conf")
    settings = lg.TestSettings()
    settings.FromConfig("", "resnet50", scenario, 0)
    keys = ("min_duration", "max_duration", "min_query_count", "max_query_count", "target_qps",
            "target_latency", "samples_per_query")
    return {key: conf.builtin_value(settings, key, scenario) for key in keys}


def test_calibration_measures_the_backend_as_the_sut_runs_it(calibration):
    batch_rate = BATCH / _seconds_for(BATCH)
    # sleep only overshoots: the measurement may be a little slower, never faster
    assert 0.8 * batch_rate <= calibration["offline_throughput"] <= batch_rate
    assert 0.8 * batch_rate <= calibration["batch_throughput"] <= batch_rate
    assert _seconds_for(1) * 1e3 <= calibration["single_latency_ms"] <= 1.3 * _seconds_for(1) * 1e3


def test_a_fixed_max_batch_is_never_exceeded_while_calibrating():
    backend = KnownSpeedBackend()
    calibrate(backend, ImageClassification(), np.zeros((64, 3, 8, 8), dtype=np.float32), max_batchsize=4)
    assert max(backend.batches) <= 4


def test_offline_valid_targets_meet_the_minimum_duration_with_margin(calibration):
    values = {**_builtin("Offline"), **targets(calibration, "Offline", "performance", "valid")}
    actual_rate = BATCH / _seconds_for(BATCH)  # what the run will sustain
    assert values["target_qps"] >= OFFLINE_HEADROOM * calibration["offline_throughput"] * 0.999
    samples = max(values["min_query_count"], OFFLINE_SLACK * values["min_duration"] / 1e3 * values["target_qps"])
    run_s = samples / actual_rate
    assert run_s >= 1.2 * values["min_duration"] / 1e3  # 600 s met with 20 % to spare, at least
    expected = expected_run_seconds("Offline", "performance", values, calibration, total_samples=64)
    assert expected == pytest.approx(run_s, rel=0.25)


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream"])
def test_stream_valid_targets_generate_enough_queries_for_a_faster_run(calibration, scenario):
    values = {**_builtin(scenario), **targets(calibration, scenario, "performance", "valid")}
    key = "single_latency_ms" if scenario == "SingleStream" else "multistream_latency_ms"
    assert values["target_latency"] == pytest.approx(calibration[key] * LATENCY_HEADROOM, rel=1e-3)
    # LoadGen generates queries for twice the minimum duration at the expected latency
    generated = 2 * values["min_duration"] / values["target_latency"]
    # even a run 2x faster than calibrated needs fewer queries than that to last 600 s
    needed = values["min_duration"] / (calibration[key] / 2)
    assert generated >= needed * 1.2


@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream", "MultiStream"])
def test_the_watchdog_waits_for_the_minimum_duration_and_more(calibration, scenario, tmp_path):
    values = {**_builtin(scenario), **targets(calibration, scenario, "performance", "valid")}
    expected = expected_run_seconds(scenario, "performance", values, calibration, total_samples=64)
    assert expected >= values["min_duration"] / 1e3  # MLPerf's 600 s, never less
    set_up_s = 42.0
    (tmp_path / WATCHDOG_FILE).write_text(json.dumps({"expected_run_s": expected, "elapsed_s": set_up_s}))
    started = 1000.0
    deadline, how = watchdog_deadline(tmp_path, started, None)
    limit = deadline - started
    # the old fixed 600 s killed every valid Server and SingleStream run
    assert limit == pytest.approx(set_up_s + expected * RUN_MARGIN + RUN_TAIL_S)
    assert limit > 600 + set_up_s and "--mlperf-timeout" in how
    # the user's --mlperf-timeout replaces it
    assert watchdog_deadline(tmp_path, started, 30.0)[0] == started + 30.0


def test_before_the_child_reports_the_set_up_has_its_own_limit(tmp_path):
    deadline, how = watchdog_deadline(tmp_path, 0.0, None)
    assert deadline == SETUP_TIMEOUT_S and "set-up" in how


def test_accuracy_runs_are_sized_by_the_dataset(calibration):
    values = _builtin("SingleStream")
    expected = expected_run_seconds("SingleStream", "accuracy", values, calibration, total_samples=50_000)
    assert expected == pytest.approx(50_000 * calibration["single_latency_ms"] / 1e3)
