"""Tokens/s through the harness against the raw generate loop (``make bench-generation``).

For each LLM benchmark's proxy (PyTorch, CPU, fp32): the raw loop decodes
the staged prompts in dataset order, in batches of the registry's max batch
size, with MLPerf's decoding settings; the harness runs the same prompts as
one LoadGen Offline query. Both are timed in this one run, raw first and
again last (the mean of the two is the baseline), and the ratio is printed;
the last line of standard output is one JSON object.
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
from harness.options import RunOptions
from harness.provision import provision
from harness.registry import load_registry
from harness.registry.parts import make_task

from .overhead import harness_run

BENCHMARKS = ("gptj-99", "llama2-70b-99")


def raw_loop(prov, bench, samples: int) -> dict:
    """The backend's own loop: no LoadGen, no queues, the same batches."""
    task = make_task(bench.task, bench.home, **{**bench.task_options, "response_dtype": bench.response_dtype})
    generator = backend_class(bench.backend_spec("pytorch"))()
    # the same threads as the harness's child (the proxies pin one)
    threads = prov.backend_options.get("intra_op_threads") or os.cpu_count() or 1
    generator.load(BackendConfig(model_path=prov.model_path, threads=threads, options=dict(prov.backend_options)))
    prompts = task.prompts(np.load(prov.samples_path))
    prompts = (prompts * (samples // len(prompts) + 1))[:samples]
    generator.generate(prompts[:1], task.decoding)  # warm-up, as the harness's calibration does
    start = time.perf_counter()
    tokens = 0
    for first in range(0, len(prompts), bench.max_batchsize):
        tokens += sum(len(o) for o in generator.generate(prompts[first:first + bench.max_batchsize], task.decoding))
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(prompts) / seconds, "tokens_per_s": tokens / seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", choices=BENCHMARKS, help="benchmark (default: all LLMs)")
    parser.add_argument("--samples", type=int, default=64, help="prompts per measurement (default 64)")
    parser.add_argument("--cache", default=None)
    args = parser.parse_args(argv)
    cache = Path(args.cache) if args.cache else default_cache_dir()
    out = Path(tempfile.mkdtemp(prefix="mlperf-generation-"))
    rows = []
    for name in args.model or BENCHMARKS:
        bench = load_registry()[name]
        reason = backend_class(bench.backend_spec("pytorch")).probe("cpu")
        if reason:
            rows.append({"model": name, "skipped": reason})
            continue
        prov = provision(bench, "pytorch", "fp32", cache_dir=cache)
        before = raw_loop(prov, bench, args.samples)
        record = harness_run(prov, bench, "pytorch", "Offline", out, RunOptions(timeout_s=1800),
                             [f"min_query_count = {args.samples}"])
        after = raw_loop(prov, bench, args.samples)
        raw_samples = (before["samples_per_s"] + after["samples_per_s"]) / 2
        raw_tokens = (before["tokens_per_s"] + after["tokens_per_s"]) / 2
        harness_samples = record["result_samples_per_second"]
        harness_tokens = record.get("result_tokens_per_second")  # logged when LoadGen counts tokens (llama2)
        row = {
            "model": name, "batch_size": bench.max_batchsize, "samples": args.samples,
            "threads": prov.backend_options.get("intra_op_threads") or os.cpu_count(),
            "raw_samples_per_s": raw_samples, "raw_tokens_per_s": raw_tokens,
            "harness_samples_per_s": harness_samples, "harness_tokens_per_s": harness_tokens,
            "samples_ratio": harness_samples / raw_samples,
            "tokens_ratio": harness_tokens / raw_tokens if harness_tokens else None,
            "result_validity": record["result_validity"],
        }
        rows.append(row)
        tokens = f"  tokens/s raw {raw_tokens:,.0f} harness {harness_tokens:,.0f}" if harness_tokens else ""
        print(f"{name:16s} samples/s raw {raw_samples:,.2f} harness {harness_samples:,.2f} "
              f"ratio {row['samples_ratio']:.3f}{tokens}", file=sys.stderr, flush=True)
    print(json.dumps({"backend": "pytorch", "device": "cpu", "precision": "fp32", "benchmarks": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
