"""Harness overhead, measured side by side in one run (``make bench-overhead``).

Figures (design.md, "Performance"):
- offline_ratio: Offline samples/s through LoadGen + harness ÷ the backend's
  own raw loop over the same preprocessed samples, already contiguous in
  memory, in slices of the same batch size, with the same threads (no copy,
  no Python between runs but the loop). offline_ratio_vs_gather compares with
  a raw loop that serves the query's random samples by gathering each batch
  into a reused buffer, the plain way to serve them.
- server_valid_qps: the highest Server target QPS that LoadGen reports VALID
  through the harness, found by bisection (server_search.py) with runs of
  --probe-seconds (20 s by default) under MLPerf's early stopping, the level
  confirmed by repeat runs; server_valid_fraction: that ÷ the harness's own
  Offline samples/s.
- reference_style_server_valid_qps: the same search, the same settings, on a
  reference-style SUT (reference_sut.py: batch-1 queries, 2 Python worker
  threads on one default session); server_vs_reference_style: the ratio.
- compute_bound_*: the same two searches and the Offline figure on a
  compute-bound model of the same contract (compute_proxy.py), where
  batching matters.
- singlestream_p90_added_ms: harness SingleStream p90 − raw single-sample p90.
- null_*: the same with a backend that computes nothing: the harness ceiling.
The last line of standard output is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
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
from harness.logs.runs import run_record
from harness.staging import Volumes

from .compute_proxy import build as build_compute_proxy
from .server_search import Probe, SearchResult, find_highest_valid, search_in_turns

PROJECT = Path(__file__).resolve().parent.parent


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


# LoadGen's early stopping at p99 needs 459 queries when none is over the
# bound (calibrate.GENERATIVE_SERVER_QUERIES): a gptj proxy at 10 QPS issues
# only 200 in 20 s, so every probe asks for at least this many.
PROBE_MIN_QUERIES = 480


def server_lines(qps: float, seconds: float) -> list[str]:
    """One Server probe's settings, the same for every SUT: the target, the
    duration, and a query minimum low enough that the duration and LoadGen's
    early stopping decide (MLPerf's 270,336 would be half a minute at 10k QPS)."""
    return [f"target_qps = {qps:.3f}", f"min_duration = {int(seconds * 1000)}",
            f"min_query_count = {PROBE_MIN_QUERIES}"]


def _probe(record: dict, qps: float, label: str) -> Probe:
    p99 = record.get("result_99.00_percentile_latency_ns")
    outcome = Probe(qps=qps, valid=record.get("result_validity") == "VALID",
                    p99_ms=None if p99 is None else p99 / 1e6)
    print(f"  Server {label} at {qps:.0f} QPS: {record.get('result_validity')}"
          f" (p99 {outcome.p99_ms if outcome.p99_ms is None else round(outcome.p99_ms, 2)} ms)",
          file=sys.stderr, flush=True)
    return outcome


def suite_server_probe(prov, bench, backend, out, options, seconds: float):
    def probe(qps: float) -> Probe:
        record = harness_run(prov, bench, backend, "Server", out, options, server_lines(qps, seconds))
        return _probe(record, qps, f"harness {backend}")
    return probe


def reference_server_probe(prov, bench, out: Path, seconds: float, threads: int = 2, backend: str = "onnxruntime"):
    """Server runs of the reference-style SUT (reference_sut.py) in a child process each."""
    def probe(qps: float) -> Probe:
        folder = out / f"reference-{backend}-Server-{time.time_ns()}"
        folder.mkdir(parents=True)
        conf = folder / "user.conf"
        conf.write_text("".join(f"{bench.conf_model}.Server.{line}\n" for line in server_lines(qps, seconds)))
        command = [sys.executable, "-m", "benchmarks.reference_sut", "--backend", backend,
                   "--model", str(prov.model_path), "--samples", str(prov.samples_path),
                   "--conf-model", bench.conf_model, "--scenario", "Server", "--user-conf", str(conf),
                   "--out", str(folder), "--threads", str(threads),
                   "--performance-sample-count", str(bench.performance_sample_count)]
        done = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=seconds * 4 + 120)
        if done.returncode != 0:
            raise RuntimeError(f"reference-style SUT failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
        return _probe(run_record(folder), qps, f"reference-style {backend}")
    return probe


def search_settings(ceiling: float, args) -> dict:
    """find_highest_valid's arguments from main()'s options: between a fraction of ``ceiling`` and just above it."""
    return {"low": ceiling * args.start_fraction, "high": ceiling * 1.05, "tolerance": args.tolerance,
            "max_probes": args.server_trials, "confirm": args.confirm}


def search(probe, ceiling: float, args) -> SearchResult:
    """One SUT's search, alone (the null backend, --server-only)."""
    found = find_highest_valid(probe, **search_settings(ceiling, args))
    print(f"  -> {found.level:.0f} QPS (confirmed: {found.confirmed}; {len(found.probes)} runs)", file=sys.stderr)
    return found


def _figures(found: SearchResult) -> dict:
    low, high = found.spread()
    return {"level": found.level, "confirmed": found.confirmed, "runs": len(found.probes),
            "lowest_invalid": None if high == float("inf") else high,
            "probes": [[round(p.qps, 1), p.valid, p.p99_ms and round(p.p99_ms, 2)] for p in found.probes]}


def server_comparison(prov, bench, backend, out, options, offline: float, args, label: str) -> dict:
    """Suite against reference-style Server on one model: the same search and settings, probes in turn."""
    print(f"Server, {label}: harness and reference-style SUT ({args.reference_threads} threads), in turn",
          file=sys.stderr)
    kwargs = search_settings(offline, args)
    found = search_in_turns({
        "suite": (suite_server_probe(prov, bench, backend, out, options, args.probe_seconds), kwargs),
        "reference_style": (reference_server_probe(prov, bench, out, args.probe_seconds, args.reference_threads),
                            kwargs),
    })
    for name, result in found.items():
        print(f"  -> {name}: {result.level:.0f} QPS (confirmed: {result.confirmed}; {len(result.probes)} runs)",
              file=sys.stderr)
    suite, reference = found["suite"], found["reference_style"]
    return {"suite": _figures(suite), "reference_style": _figures(reference),
            "ratio": suite.level / reference.level if reference.level else None}


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
    parser.add_argument("--probe-seconds", type=float, default=20.0,
                        help="minimum duration of every Server run of the searches (default 20)")
    parser.add_argument("--server-trials", type=int, default=10,
                        help="most Server runs per search, confirmations included (default 10)")
    parser.add_argument("--confirm", type=int, default=2, help="repeat runs the found level must pass (default 2)")
    parser.add_argument("--tolerance", type=float, default=0.03,
                        help="relative width at which the bisection stops (default 0.03)")
    parser.add_argument("--start-fraction", type=float, default=0.5,
                        help="the search's first level, as a fraction of the Offline figure (default 0.5)")
    parser.add_argument("--reference-threads", type=int, default=2, help="the reference-style SUT's --threads")
    parser.add_argument("--no-compute-bound", action="store_true", help="skip the compute-bound model")
    parser.add_argument("--no-null", action="store_true", help="skip the null backend's figures")
    parser.add_argument("--server-only", action="store_true",
                        help="only the harness's Offline figure and its Server search (the language models: "
                             "no raw loop, no reference-style side, no compute-bound model, no null backend)")
    args = parser.parse_args(argv)
    for flag in ("probe_seconds", "server_trials", "confirm", "tolerance", "start_fraction", "reference_threads"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")

    bench = load_registry()[args.model]
    batch = args.batch or bench.max_batchsize
    args.samples = args.samples or bench.offline_min_samples_per_query
    cache = Path(args.cache) if args.cache else default_cache_dir()
    prov = provision(bench, args.backend, "fp32", cache_dir=cache)
    options = RunOptions(max_batchsize=batch, threads=args.threads, timeout_s=600)
    out = Path(tempfile.mkdtemp(prefix="mlperf-overhead-"))

    if args.server_only:
        harness_offline = offline_rate(prov, bench, args.backend, out, options, args.samples)
        print(f"Server, {args.model}: harness", file=sys.stderr)
        found = search(suite_server_probe(prov, bench, args.backend, out, options, args.probe_seconds),
                       harness_offline, args)
        print(json.dumps({
            "model": args.model, "backend": args.backend, "batch_size": batch, "samples": args.samples,
            "harness_offline_samples_per_s": harness_offline, "server_valid_qps": found.level,
            "server_valid_fraction": found.level / harness_offline, "server_probe_seconds": args.probe_seconds,
            "server_search": {"suite": _figures(found)}, "log_root": str(out),
        }))
        return 0
    raw = raw_loops(prov, bench, args.backend, batch, args.threads or os.cpu_count(), args.samples)
    print(f"raw loop: {raw}", file=sys.stderr)
    harness_offline = offline_rate(prov, bench, args.backend, out, options, args.samples)
    ss = harness_run(prov, bench, args.backend, "SingleStream", out, options, ["min_query_count = 1024"])
    ss_p90_ms = ss["result_90.00_percentile_latency_ns"] / 1e6
    server = server_comparison(prov, bench, args.backend, out, options, harness_offline, args, args.model)
    # The searches take many minutes on a machine whose speed drifts: Offline
    # again after them, and the Server fraction against the mean of both.
    offline_after = offline_rate(prov, bench, args.backend, out, options, args.samples)
    offline_mean = (harness_offline + offline_after) / 2

    figures = {
        "model": args.model, "backend": args.backend, "batch_size": batch, "threads": args.threads,
        "samples": args.samples,
        "harness_offline_samples_per_s": harness_offline,
        **raw,
        "offline_ratio": harness_offline / raw["raw_views_samples_per_s"],
        "offline_ratio_vs_gather": harness_offline / raw["raw_gather_samples_per_s"],
        "harness_offline_after_server_samples_per_s": offline_after,
        "server_valid_qps": server["suite"]["level"],
        "server_valid_fraction": server["suite"]["level"] / offline_mean,
        "reference_style_server_valid_qps": server["reference_style"]["level"],
        "server_vs_reference_style": server["ratio"],
        "server_probe_seconds": args.probe_seconds,
        "server_search": server,
        "harness_singlestream_p90_ms": ss_p90_ms,
        "singlestream_p90_added_ms": ss_p90_ms - raw["raw_single_p90_ms"],
    }
    if not args.no_compute_bound:
        compute = replace(prov, model_path=build_compute_proxy(cache / "benchmarks" / "compute_bound_proxy.onnx"))
        compute_offline = offline_rate(compute, bench, args.backend, out, options, args.samples // 4)
        compute_server = server_comparison(compute, bench, args.backend, out, options, compute_offline, args,
                                           "compute-bound model")
        compute_after = offline_rate(compute, bench, args.backend, out, options, args.samples // 4)
        figures.update({
            "compute_bound_offline_samples_per_s": compute_offline,
            "compute_bound_offline_after_server_samples_per_s": compute_after,
            "compute_bound_server_valid_qps": compute_server["suite"]["level"],
            "compute_bound_server_valid_fraction": compute_server["suite"]["level"] / ((compute_offline + compute_after) / 2),
            "compute_bound_reference_style_server_valid_qps": compute_server["reference_style"]["level"],
            "compute_bound_server_vs_reference_style": compute_server["ratio"],
            "compute_bound_server_search": compute_server,
        })
    if not args.no_null:
        null_offline = offline_rate(prov, bench, "null", out, options, args.samples)
        null_args = argparse.Namespace(**{**vars(args), "confirm": 1, "server_trials": 6})
        null_server = search(suite_server_probe(prov, bench, "null", out, options, args.probe_seconds / 4),
                             null_offline, null_args)
        # The path with no model at all (LoadGen, the callback, the completion):
        # what singlestream_p90_added_ms cannot go under.
        null_ss = harness_run(prov, bench, "null", "SingleStream", out, options, ["min_query_count = 1024"])
        figures.update({"null_offline_samples_per_s": null_offline, "null_server_valid_qps": null_server.level,
                        "null_singlestream_p90_ms": null_ss["result_90.00_percentile_latency_ns"] / 1e6})
    figures["log_root"] = str(out)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
