"""Inference behind a network, measured side by side in one run (``make bench-network``).

The same resnet50 proxy case (Offline, performance, the `test` run style's
settings) three ways, in turns so that the machine's drift falls on all of
them alike: in-process (the harness's own child loads the model), through
one `python -m harness serve` on 127.0.0.1, and through two. Each way runs
``--repeats`` times; the figures are medians with their spread (min-max).

What to expect on one small machine: the servers share its cores with LoadGen
and with each other, and each resnet50 sample is 602 KB of float32 on the
wire, so loopback HTTP costs what a NIC would; two servers on the same cores
add no compute. On separate machines each server brings its own.
The last line of standard output is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from harness.artifacts.cache import default_cache_dir
from harness.case_run import execute_case
from harness.matrix import Case
from harness.options import RunOptions
from harness.provision import provision
from harness.registry import load_registry

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.network", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected 1 or more")
    import sut_servers  # tests/sut_servers.py: start and stop `harness serve` processes

    bench = load_registry()["resnet50"]
    prov = provision(bench, args.backend, "fp32", cache_dir=args.cache or default_cache_dir())
    case = Case("resnet50", args.backend, "cpu", "fp32", "Offline", "performance")
    figures: dict[str, list[float]] = {"in_process": [], "one_server": [], "two_servers": []}
    with tempfile.TemporaryDirectory(prefix="bench-network-") as tmp, \
            sut_servers.servers(2, backend=args.backend) as started:
        urls = [url for _, url in started]
        ways = {"in_process": (), "one_server": tuple(urls[:1]), "two_servers": tuple(urls)}
        for repeat in range(args.repeats):
            for way, servers in ways.items():
                result = execute_case(case, bench, prov, RunOptions(sut_urls=servers, timeout_s=600),
                                      Path(tmp) / f"{way}-{repeat}")
                value = result.performance["result_samples_per_second"]
                figures[way].append(value)
                print(f"{way:12s} run {repeat + 1}: {value:9.1f} samples/s ({result.performance['result_validity']})",
                      flush=True)
    summary = {"benchmark": "resnet50 proxy", "backend": args.backend, "scenario": "Offline", "repeats": args.repeats}
    for way, values in figures.items():
        summary[f"{way}_samples_per_s"] = round(statistics.median(values), 1)
        summary[f"{way}_spread"] = [round(min(values), 1), round(max(values), 1)]
    base = summary["in_process_samples_per_s"]
    summary["one_server_vs_in_process"] = round(summary["one_server_samples_per_s"] / base, 3)
    summary["two_servers_vs_in_process"] = round(summary["two_servers_samples_per_s"] / base, 3)
    summary["two_servers_vs_one"] = round(summary["two_servers_samples_per_s"] / summary["one_server_samples_per_s"], 3)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
