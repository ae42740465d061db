"""Run one tiny LoadGen test against an instant SUT and write its logs.

Usage: python tests/loadgen_tiny_run.py OUTDIR SCENARIO MODE

SCENARIO is Offline, SingleStream, MultiStream or Server; MODE is
PerformanceOnly or AccuracyOnly.

Always run this in its own process with its own OUTDIR and working directory:
LoadGen has one process-wide logger, applies any ``audit.config`` found in the
working directory, and aborts when two tests run in threads.
"""

from __future__ import annotations

import array
import sys

import mlperf_loadgen as lg

TOTAL_SAMPLES = 1024
PERFORMANCE_SAMPLES = 256

# Reduced settings that still give VALID on an instant SUT: the early-stopping
# minimums are 64 queries (SingleStream p90) and 662 (MultiStream p99).
REDUCED = {
    "Offline": {"min_duration_ms": 0, "min_query_count": 500, "offline_expected_qps": 1000},
    "SingleStream": {"min_duration_ms": 0, "min_query_count": 100, "max_query_count": 100,
                     "single_stream_expected_latency_ns": 100_000},
    "MultiStream": {"min_duration_ms": 0, "min_query_count": 700, "max_query_count": 700,
                    "multi_stream_expected_latency_ns": 100_000},
    # Server early stopping needs ~460 queries even when none is late; a loose
    # 1 s bound keeps a stall on a busy CI machine from making one late; no
    # max_query_count, because LoadGen logs reaching it in Server as an error.
    "Server": {"min_duration_ms": 0, "min_query_count": 600,
               "server_target_qps": 3000, "server_target_latency_ns": 1_000_000_000},
}


# One float32 per response, as a classifier's class index would be. Module
# level, so the memory LoadGen copies from lives as long as the process.
PAYLOAD = array.array("f", [1.0])


def main(argv: list[str]) -> int:
    outdir, scenario, mode = argv
    ptr, count = PAYLOAD.buffer_info()
    nbytes = count * PAYLOAD.itemsize

    def issue_queries(samples):
        # Complete every query at once: an SUT that never completes one hangs LoadGen.
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, ptr, nbytes) for s in samples])

    def flush_queries():
        pass

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = getattr(lg.TestMode, mode)
    for name, value in REDUCED[scenario].items():
        setattr(settings, name, value)

    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = outdir
    log_settings.log_output.copy_summary_to_stdout = False

    sut = lg.ConstructSUT(issue_queries, flush_queries)
    qsl = lg.ConstructQSL(TOTAL_SAMPLES, PERFORMANCE_SAMPLES, lambda idx: None, lambda idx: None)
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
