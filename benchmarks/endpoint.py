"""The llama2 proxy behind an OpenAI-compatible endpoint, measured side by side (``make bench-endpoint``).

The same llama2 proxy cases (Offline and Server, performance, the `test` run
style's settings) three ways, in turns so that the machine's drift falls on
all of them alike: in-process (the PyTorch backend in the harness's child),
through `--mlperf-endpoint` to `python -m harness serve` speaking the
completions protocol, and through `--mlperf-endpoint` to vLLM's CPU build
(``.venv-vllm``; left out, saying why, where it is not built).

For each run: LoadGen's completed tokens/s, time to first token and time per
output token (what the suite records in results.json), the client's own
per-request figures, and for vLLM what the engine reports of the same run on
its /metrics (requests, generated tokens, mean TTFT and inter-token latency):
the harness's figures against the engine's own. Server runs at a fixed
``--server-qps`` on every side, so that the latencies compare.
The last line of standard output is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import contextlib
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
from harness.record import CaseRecord
from harness.registry import load_registry
from tools import vllm_serve

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))
LLAMA2 = "llama2-70b-99"
# a rate the 2-core machine sustains on every side (tests/test_endpoint_vllm.py)
DEFAULT_SERVER_QPS = 8.0


def _figures(case, result, options) -> dict:
    """The run's figures as results.json records them (ms, tokens/s), and the client's where an endpoint ran it."""
    record = CaseRecord.for_case(case, options, result.log_dir)
    record.result(result, options)
    block = record.to_json()["performance"]

    def ms(key: str):
        value = block.get(key)
        return round(value / 1e6, 3) if isinstance(value, (int, float)) else None

    figures = {"validity": block.get("result_validity"),
               "tokens_per_second": block.get("tokens_per_second"),
               "ttft_p50_ms": ms("ttft_p50_ns"), "ttft_p99_ms": ms("ttft_p99_ns"),
               "tpot_mean_ms": ms("tpot_mean_ns"), "tpot_p99_ms": ms("tpot_p99_ns")}
    client = (result.child.result or {}).get("backend_info", {}).get("client_metrics")
    if client:
        figures["client"] = client
    return figures


def _spread(values: list[float]) -> dict | None:
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.endpoint", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--server-qps", type=float, default=DEFAULT_SERVER_QPS)
    parser.add_argument("--concurrency", type=int, default=8, help="--mlperf-endpoint-concurrency")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected 1 or more")
    if not args.server_qps > 0:
        parser.error(f"--server-qps {args.server_qps}: expected a number above 0")
    import sut_servers  # tests/sut_servers.py: start and stop `harness serve` processes

    bench = load_registry()[LLAMA2]
    prov = provision(bench, "pytorch", "fp32", cache_dir=args.cache or default_cache_dir())
    cases = {scenario: Case(LLAMA2, "pytorch", "cpu", "fp32", scenario, "performance")
             for scenario in ("Offline", "Server")}
    vllm_missing = vllm_serve.not_installed()
    runs: dict[str, dict[str, list[dict]]] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-endpoint-")))
        served = stack.enter_context(sut_servers.servers(1, LLAMA2, "pytorch"))
        endpoints: dict[str, tuple[str | None, str | None]] = {"in_process": (None, None),
                                                                "harness_serve": (served[0][1], None)}
        if vllm_missing is None:
            # eager: torch.compile adds about a minute to the start for a model this small
            url = stack.enter_context(vllm_serve.serving(prov.model_path, port=0, enforce_eager=True,
                                                         max_num_seqs=args.concurrency))
            endpoints["vllm"] = (url, vllm_serve.SERVED_NAME)
        for repeat in range(args.repeats):
            for way, (url, model) in endpoints.items():
                for scenario, case in cases.items():
                    options = RunOptions(endpoint=url, endpoint_model=model, endpoint_concurrency=args.concurrency,
                                         target_qps=args.server_qps if scenario == "Server" else None, timeout_s=900)
                    before = vllm_serve.engine_metrics(url) if way == "vllm" else None
                    result = execute_case(case, bench, prov, options, tmp / f"{way}-{scenario}-{repeat}")
                    figures = _figures(case, result, options)
                    if before is not None:
                        figures["engine"] = vllm_serve.engine_figures(before, vllm_serve.engine_metrics(url))
                    runs.setdefault(way, {}).setdefault(scenario, []).append(figures)
                    print(f"{way:13s} {scenario:7s} run {repeat + 1}: {figures['tokens_per_second']} tokens/s, "
                          f"TTFT p50 {figures['ttft_p50_ms']} ms, TPOT mean {figures['tpot_mean_ms']} ms "
                          f"({figures['validity']})" + (f"; engine {figures['engine']}" if "engine" in figures else ""),
                          flush=True)
    summary = {way: {scenario: {key: _spread([run.get(key) for run in scenario_runs])
                                for key in ("tokens_per_second", "ttft_p50_ms", "ttft_p99_ms", "tpot_mean_ms")}
                     for scenario, scenario_runs in by_scenario.items()}
               for way, by_scenario in runs.items()}
    if "vllm" in runs:
        server = runs["vllm"]["Server"]
        summary["vllm_engine_vs_loadgen"] = {
            "engine_ttft_mean_ms": _spread([r["engine"]["ttft_mean_ms"] for r in server]),
            "client_ttft_p50_ms": _spread([r.get("client", {}).get("ttft_ms", {}).get("p50") for r in server]),
            "engine_inter_token_mean_ms": _spread([r["engine"]["inter_token_mean_ms"] for r in server]),
            "loadgen_tpot_mean_ms": _spread([r["tpot_mean_ms"] for r in server]),
            "engine_generation_tokens": [r["engine"]["generation_tokens"] for r in server],
            "client_completion_tokens": [r.get("client", {}).get("completion_tokens") for r in server]}
    offline = {way: summary[way]["Offline"]["tokens_per_second"] for way in runs}
    if offline["in_process"]:
        summary["offline_tokens_per_second_vs_in_process"] = {
            way: round(spread["median"] / offline["in_process"]["median"], 3) for way, spread in offline.items()
            if spread}
    print(json.dumps({"server_qps": args.server_qps, "concurrency": args.concurrency, "repeats": args.repeats,
                      "vllm_left_out": vllm_missing, "summary": summary, "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
