"""Harness overhead, measured side by side in one run (``make bench-overhead``).

Figures (design.md, "Performance"):
- offline_ratio: Offline samples/s through LoadGen + harness ÷ the backend's
  own raw loop over the same preprocessed samples, already contiguous in
  memory, in slices of the same batch size, with the same threads (no copy,
  no Python between runs but the loop). offline_ratio_vs_gather compares with
  a raw loop that serves the query's random samples by gathering each batch
  into a reused buffer, the plain way to serve them.
- server_valid_fraction: the highest Server target QPS that LoadGen still
  reports VALID ÷ the harness's own Offline samples/s.
- singlestream_p90_added_ms: harness SingleStream p90 − raw single-sample p90.
- null_*: the same with a backend that computes nothing: the harness ceiling.
The last line of standard output is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.artifacts.cache import default_cache_dir
from harness.backends import BackendConfig, backend_class
from harness.case_run import PERFORMANCE_METRICS, _task_options, execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.provision import provision
from harness.registry import load_registry
from harness.registry.parts import make_task
from harness.runner.samples import LayoutView
from harness.staging import Volumes


def raw_loops(prov, bench, backend_name: str, batch: int, threads: int, samples: int, seed: int = 0,
              precision: str = "fp32", views_only: bool = False) -> dict:
    """The backend's own loops over the samples the harness stages, as its child stages them.

    ``views_only``: only the figure ``make bench-backends`` compares with
    (``raw_views_samples_per_s``); the gather loop and single-sample
    latencies are skipped (they double a slow model's run).
    """
    # The task and the backend class exactly as the child makes them (case_run.build_spec):
    # the registry's task options under the proxy's, the registry's implementation of the backend.
    task = make_task(bench.task, bench.home, **_task_options(bench, prov, RunOptions()))
    cls = backend_class(bench.backend_spec(backend_name))
    backend = cls()
    # The thread count the harness's child uses for this model (a tiny proxy's one thread).
    threads = prov.backend_options.get("intra_op_threads") or threads
    backend.load(BackendConfig(model_path=prov.model_path, precision=precision, threads=threads, inputs=task.inputs,
                               outputs=task.outputs, contract_outputs=task.contract_outputs,
                               options=dict(prov.backend_options)))
    rng = np.random.default_rng(seed)
    if task.input_kind == "volumes":
        return _raw_volume_loop(task, backend, Volumes(prov.samples_path), samples, rng, batch, views_only)
    # staged exactly as the harness stages it: the backend's own layout
    source = LayoutView(np.load(prov.samples_path, mmap_mode="r"), cls.layout)
    staged = source[:len(source)]
    batch = min(batch, len(staged))  # fewer staged samples than a batch: the views are the whole array
    # Like an Offline query: samples drawn with replacement, served in index order.
    indices = np.sort(rng.integers(0, len(staged), samples))
    buffer = np.empty((batch,) + staged.shape[1:], dtype=staged.dtype)
    positions = np.arange(batch, dtype=np.int64)

    def predict(array):
        return task.run(backend, array, positions[: len(array)])

    for start in range(0, min(len(staged), 4 * batch), batch):  # warm-up
        predict(staged[start:start + batch])

    gather_rate = None
    if not views_only:
        start_time = time.perf_counter()
        for start in range(0, samples - batch + 1, batch):
            np.take(staged, indices[start:start + batch], axis=0, out=buffer)
            predict(buffer)
        gather_rate = (samples // batch * batch) / (time.perf_counter() - start_time)

    done, start_time = 0, time.perf_counter()
    while done < samples:
        for start in range(0, len(staged) - batch + 1, batch):
            predict(staged[start:start + batch])
            done += batch
    views_rate = done / (time.perf_counter() - start_time)
    if views_only:
        return {"raw_views_samples_per_s": views_rate}

    latencies = []
    for index in indices[:512]:
        t0 = time.perf_counter()
        predict(staged[index:index + 1])
        latencies.append(time.perf_counter() - t0)
    p90_ms = float(np.sort(latencies)[int(len(latencies) * 0.9)] * 1e3)
    return {"raw_gather_samples_per_s": gather_rate, "raw_views_samples_per_s": views_rate, "raw_single_p90_ms": p90_ms}


def _raw_volume_loop(task, backend, volumes, samples: int, rng, batch: int = 1, views_only: bool = False) -> dict:
    """Samples of their own shapes, as the SUT answers them: one task.run per batch, no LoadGen.

    A batch is a list of up to ``batch`` staged samples (what the Offline
    SUT hands the task: volumes are never stacked); a batch-1 model (3-D
    volumes, waveforms) runs one sample per task.run, a batching one
    (dlrm-v2's users) as many as the max batch, its rows concatenated by the task.
    """
    staged = [np.array(volumes[i]) for i in range(len(volumes))]
    # Warm-up: every sample once. Each volume shape plans its own window grid, and
    # a framework allocates per shape: the first pass over a shape is not the rate.
    for index in range(len(staged)):
        task.run(backend, staged[index:index + 1], np.full(1, index, dtype=np.int64))
    # Like an Offline query: samples drawn with replacement, served in index order.
    indices = np.sort(rng.integers(0, len(staged), samples))
    batch = max(1, batch)
    for start in range(0, min(samples, 2 * batch) if batch > 1 else 0, batch):  # warm-up at the batch's sizes
        chunk = indices[start:start + batch]
        task.run(backend, [staged[i] for i in chunk.tolist()], chunk)
    latencies = []
    start_time = time.perf_counter()
    for start in range(0, samples, batch):
        chunk = indices[start:start + batch]
        t0 = time.perf_counter()
        task.run(backend, [staged[i] for i in chunk.tolist()], chunk)
        latencies.append(time.perf_counter() - t0)
    rate = samples / (time.perf_counter() - start_time)
    if views_only:
        return {"raw_views_samples_per_s": rate}
    if batch > 1:  # single-sample latencies, as the stacked loop measures them
        latencies = []
        for index in indices[:512].tolist():
            t0 = time.perf_counter()
            task.run(backend, staged[index:index + 1], np.full(1, index, dtype=np.int64))
            latencies.append(time.perf_counter() - t0)
    p90_ms = float(np.sort(latencies)[int(len(latencies) * 0.9)] * 1e3)
    return {"raw_gather_samples_per_s": rate, "raw_views_samples_per_s": rate, "raw_single_p90_ms": p90_ms}


def harness_run(prov, bench, backend: str, scenario: str, out: Path, options: RunOptions, conf_lines=()):
    conf = None
    if conf_lines:
        conf = out / f"{scenario}-{time.time_ns()}.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("".join(f"{bench.conf_model}.{scenario}.{line}\n" for line in conf_lines))
    case = Case(bench.name, backend, "cpu", "fp32", scenario, "performance")
    run_options = RunOptions(**{**options.__dict__, "user_conf": conf})
    result = execute_case(case, bench, prov, run_options, out / f"{backend}-{scenario}-{time.time_ns()}")
    return result.performance


def offline_rate(prov, bench, backend, out, options, samples) -> float:
    record = harness_run(prov, bench, backend, "Offline", out, options, [f"min_query_count = {samples}"])
    return record[PERFORMANCE_METRICS["Offline"][0]]


def server_valid(prov, bench, backend, out, options, qps: float) -> bool:
    queries = max(1024, int(qps * 1.5))  # about 1.5 s of arrivals: enough for early stopping
    record = harness_run(prov, bench, backend, "Server", out, options,
                         [f"target_qps = {qps:.3f}", f"min_query_count = {queries}"])
    print(f"  Server {backend} at {qps:.0f} QPS: {record['result_validity']}", file=sys.stderr)
    return record["result_validity"] == "VALID"


def highest_valid_server_qps(prov, bench, backend, out, options, ceiling: float, trials: int = 8) -> float:
    """Halve from the Offline ceiling until VALID, then bisect; each trial is a full LoadGen run."""
    high, low = ceiling, 0.0
    while trials > 0 and high > 1.0:
        trials -= 1
        if server_valid(prov, bench, backend, out, options, high / 2):
            low = high / 2
            break
        high /= 2
    for _ in range(trials):
        qps = (low + high) / 2
        if server_valid(prov, bench, backend, out, options, qps):
            low = qps
        else:
            high = qps
    return low


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--batch", type=int, default=None, help="max batch size (default: the registry's)")
    parser.add_argument("--threads", type=int, default=0,
                        help="backend threads (default: the harness's per-scenario default; raw loops use every core)")
    parser.add_argument("--samples", type=int, default=None,
                        help="Offline samples per measurement (default: MLPerf's minimum Offline query, 24576 for resnet50)")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--server-trials", type=int, default=8)
    args = parser.parse_args(argv)

    bench = load_registry()[args.model]
    batch = args.batch or bench.max_batchsize
    args.samples = args.samples or bench.offline_min_samples_per_query
    cache = Path(args.cache) if args.cache else default_cache_dir()
    prov = provision(bench, args.backend, "fp32", cache_dir=cache)
    options = RunOptions(max_batchsize=batch, threads=args.threads, timeout_s=600)
    out = Path(tempfile.mkdtemp(prefix="mlperf-overhead-"))

    raw = raw_loops(prov, bench, args.backend, batch, args.threads or os.cpu_count(), args.samples)
    print(f"raw loop: {raw}", file=sys.stderr)
    harness_offline = offline_rate(prov, bench, args.backend, out, options, args.samples)
    ss = harness_run(prov, bench, args.backend, "SingleStream", out, options, ["min_query_count = 1024"])
    ss_p90_ms = ss["result_90.00_percentile_latency_ns"] / 1e6
    server = highest_valid_server_qps(prov, bench, args.backend, out, options, harness_offline, args.server_trials)
    null_offline = offline_rate(prov, bench, "null", out, options, args.samples)
    null_server = highest_valid_server_qps(prov, bench, "null", out, options, null_offline, args.server_trials)

    figures = {
        "model": args.model, "backend": args.backend, "batch_size": batch, "threads": args.threads,
        "samples": args.samples,
        "harness_offline_samples_per_s": harness_offline,
        **raw,
        "offline_ratio": harness_offline / raw["raw_views_samples_per_s"],
        "offline_ratio_vs_gather": harness_offline / raw["raw_gather_samples_per_s"],
        "server_valid_qps": server,
        "server_valid_fraction": server / harness_offline,
        "harness_singlestream_p90_ms": ss_p90_ms,
        "singlestream_p90_added_ms": ss_p90_ms - raw["raw_single_p90_ms"],
        "null_offline_samples_per_s": null_offline,
        "null_server_valid_qps": null_server,
        "log_root": str(out),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
