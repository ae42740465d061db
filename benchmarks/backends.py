"""Harness overhead per backend, side by side in one run (``make bench-backends``).

For every model given and every backend the registry offers for it (fp32,
CPU) whose framework is installed: Offline samples/s through LoadGen +
harness against the backend's own raw loop over the same staged samples
(contiguous batches, same batch size and threads; volumes one task.run
each). Prints a table, then one JSON line with a row per model and backend.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from harness.artifacts.cache import default_cache_dir
from harness.backends import backend_class
from harness.provision import provision
from harness.registry import load_registry

from .overhead import RunOptions, offline_rate, raw_loops


# Batch-1 models (detection, whole volumes) take milliseconds per sample:
# MLPerf's Offline minimum (24,576 for retinanet) would take minutes each.
BATCH1_SAMPLES = 512


def default_samples(bench) -> int:
    if bench.max_batchsize > 1:
        return bench.offline_min_samples_per_query
    return min(bench.offline_min_samples_per_query, BATCH1_SAMPLES)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50,retinanet,3d-unet-99", help="comma-separated benchmark names")
    parser.add_argument("--samples", type=int, default=None,
                        help="Offline samples (default: MLPerf's minimum query; batch-1 models at most 512)")
    parser.add_argument("--cache", default=None)
    args = parser.parse_args(argv)
    registry = load_registry()
    cache = Path(args.cache) if args.cache else default_cache_dir()
    out = Path(tempfile.mkdtemp(prefix="mlperf-backends-"))
    rows = []
    for model in args.model.split(","):
        bench = registry[model]
        samples = args.samples or default_samples(bench)
        for name, support in sorted(bench.backends.items()):
            if "cpu" not in support.devices or "fp32" not in support.precisions:
                continue
            reason = backend_class(bench.backend_spec(name)).probe("cpu")
            if reason:
                rows.append({"model": model, "backend": name, "skipped": reason})
                continue
            prov = provision(bench, name, "fp32", cache_dir=cache)
            raw = raw_loops(prov, bench, name, bench.max_batchsize, os.cpu_count(), samples)
            harness = offline_rate(prov, bench, name, out, RunOptions(timeout_s=900), samples)
            rows.append({"model": model, "backend": name, "samples": samples, "batch_size": bench.max_batchsize,
                         "raw_samples_per_s": raw["raw_views_samples_per_s"], "harness_samples_per_s": harness,
                         "offline_ratio": harness / raw["raw_views_samples_per_s"]})
            print(f"{model:12s} {name:12s} raw {rows[-1]['raw_samples_per_s']:>10,.1f}/s  "
                  f"harness {harness:>10,.1f}/s  ratio {rows[-1]['offline_ratio']:.3f}", file=sys.stderr, flush=True)
    print(json.dumps({"models": args.model.split(","), "threads": os.cpu_count(), "backends": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
