"""How long a LoadGen run should take, from its effective settings and the calibration.

The watchdog (launch.py) is set from this, so that a `valid` run, whose
minimum duration alone is 600 s, is never killed by a fixed limit no longer
than that. The figures follow how LoadGen sizes a run (loadgen.cc
GenerateQueries, mlperf-facts §3): Offline issues one query of
max(min_query_count, 1.1 x min_duration x target_qps) samples and takes as long
as the SUT needs for them; Server issues queries on a schedule at target_qps
until both minimums are met; SingleStream and MultiStream issue one query
after another until both minimums are met.
"""
from __future__ import annotations

# Offline's sample count: LoadGen's 10% slack over the minimum duration.
OFFLINE_SLACK = 1.1


def expected_run_seconds(scenario: str, mode: str, values: dict, calibration: dict, total_samples: int) -> float:
    """Seconds LoadGen should run. ``values``: effective settings in user.conf units (ms, counts)."""
    throughput = max(float(calibration.get("batch_throughput") or 0.0), 1e-9)
    offline = max(float(calibration.get("offline_throughput") or throughput), 1e-9)
    single = max(float(calibration.get("single_latency_ms") or 0.0), 0.0) / 1e3
    multi = max(float(calibration.get("multistream_latency_ms") or 0.0), 0.0) / 1e3
    samples_per_query = int(values.get("samples_per_query") or 8)
    if mode == "accuracy":  # every sample once
        if scenario == "Offline":
            return total_samples / offline
        if scenario == "Server":
            qps = float(values.get("target_qps") or throughput)
            return total_samples / min(throughput, qps) if qps > 0 else total_samples / throughput
        if scenario == "SingleStream":
            return total_samples * single
        return total_samples / samples_per_query * multi
    min_duration = float(values.get("min_duration") or 0) / 1e3
    min_queries = int(values.get("min_query_count") or 0)
    max_queries = int(values.get("max_query_count") or 0)
    max_duration = float(values.get("max_duration") or 0) / 1e3

    def capped(queries: float) -> float:
        return min(queries, max_queries) if max_queries else queries

    if scenario == "Offline":
        qps = float(values.get("target_qps") or offline)
        seconds = capped(max(min_queries, OFFLINE_SLACK * min_duration * qps)) / offline
    elif scenario == "Server":
        qps = max(float(values.get("target_qps") or throughput), 1e-9)
        seconds = max(min_duration, capped(max(min_queries, min_duration * qps)) / qps)
    elif scenario == "SingleStream":
        seconds = max(min_duration, capped(min_queries) * single)
    else:
        seconds = max(min_duration, capped(min_queries) * multi)
    return min(seconds, max_duration) if max_duration else seconds
