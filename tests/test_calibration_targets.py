"""Test-style Server targets follow the benchmark's latency bound."""
from __future__ import annotations

from harness.runner.calibrate import (
    GENERATIVE_SERVER_FRACTION, GENERATIVE_SERVER_QUERIES, RELAXED_SERVER_QUERIES, SERVER_TEST_MAX_QPS, SERVER_TEST_QUERIES, targets,
)

MEASURED = {"batch_throughput": 400.0, "single_latency_ms": 2.0, "multistream_latency_ms": 5.0}


def test_a_15_ms_bound_runs_low_and_long():
    got = targets({**MEASURED, "server_latency_ms": 15.0}, "Server", "performance")
    assert got["target_qps"] <= 400.0 * 0.15 and got["min_query_count"] >= SERVER_TEST_QUERIES[0]


def test_a_130_ms_bound_takes_more_load_over_fewer_queries():
    got = targets({**MEASURED, "server_latency_ms": 130.0}, "Server", "performance")
    assert got == {"target_qps": 160.0, "min_query_count": RELAXED_SERVER_QUERIES}
    fast = targets({**MEASURED, "batch_throughput": 10_000.0, "server_latency_ms": 130.0}, "Server", "performance")
    assert fast["target_qps"] == SERVER_TEST_MAX_QPS


def test_generation_runs_near_its_throughput_over_the_early_stopping_minimum():
    got = targets({**MEASURED, "batch_throughput": 20.0, "kind": "tokens", "server_latency_ms": 20_000.0},
                  "Server", "performance")
    assert got == {"target_qps": round(20.0 * GENERATIVE_SERVER_FRACTION, 3), "min_query_count": GENERATIVE_SERVER_QUERIES}
    assert GENERATIVE_SERVER_FRACTION < 1.0  # below the measured throughput: the queue stays bounded
    assert GENERATIVE_SERVER_QUERIES >= 459  # LoadGen's early stopping at p99 with none late


def test_accuracy_and_other_styles_only_set_the_rate():
    assert targets({**MEASURED, "server_latency_ms": 130.0}, "Server", "accuracy") == {"target_qps": 400.0}
    assert set(targets({**MEASURED, "server_latency_ms": 130.0}, "Server", "performance", "fast")) == {"target_qps"}
