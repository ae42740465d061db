"""Harness overhead per backend, side by side in one run (``make bench-backends``).

For every backend the registry offers for the model (fp32, CPU) whose
framework is installed: Offline samples/s through LoadGen + harness against
the backend's own raw loop over the same staged samples (contiguous batches,
same batch size and threads). Prints a table, then one JSON line.
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--samples", type=int, default=None, help="Offline samples (default: MLPerf's minimum query)")
    parser.add_argument("--cache", default=None)
    args = parser.parse_args(argv)
    bench = load_registry()[args.model]
    samples = args.samples or bench.offline_min_samples_per_query
    cache = Path(args.cache) if args.cache else default_cache_dir()
    out = Path(tempfile.mkdtemp(prefix="mlperf-backends-"))
    rows = []
    for name, support in sorted(bench.backends.items()):
        if "cpu" not in support.devices or "fp32" not in support.precisions:
            continue
        reason = backend_class(name).probe("cpu")
        if reason:
            rows.append({"backend": name, "skipped": reason})
            continue
        prov = provision(bench, name, "fp32", cache_dir=cache)
        raw = raw_loops(prov, bench, name, bench.max_batchsize, os.cpu_count(), samples)
        harness = offline_rate(prov, bench, name, out, RunOptions(timeout_s=900), samples)
        rows.append({"backend": name, "raw_samples_per_s": raw["raw_views_samples_per_s"],
                     "harness_samples_per_s": harness,
                     "offline_ratio": harness / raw["raw_views_samples_per_s"]})
        print(f"{name:12s} raw {rows[-1]['raw_samples_per_s']:>10,.0f}/s  harness {harness:>10,.0f}/s  "
              f"ratio {rows[-1]['offline_ratio']:.3f}", file=sys.stderr, flush=True)
    print(json.dumps({"model": args.model, "samples": samples, "batch_size": bench.max_batchsize,
                      "threads": os.cpu_count(), "backends": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
