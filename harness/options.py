"""Run options shared by the pytest plugin, the benchmarks and library users."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunOptions:
    run_style: str = "test"
    count: int | None = None
    target_qps: float | None = None
    target_latency_ms: float | None = None
    max_batchsize: int | None = None
    threads: int = 0
    server_workers: int = 0
    user_conf: Path | None = None
    # the watchdog's fixed limit; None: set-up time plus what the run's settings need (launch.py)
    timeout_s: float | None = None
    memory_limit_mb: int | None = None
    # Inference on SUT servers (python -m harness serve): LoadGen and the QSL
    # stay in this process, each batch goes to the servers (backends/remote.py).
    sut_urls: tuple = ()
    # a server that has not answered a request in this long is given up on
    sut_timeout_s: float = 30.0
    # Language models against an OpenAI-compatible completions server
    # (backends/openai_endpoint.py): its URL, the model name it serves, and
    # how many requests may be open at once.
    endpoint: str | None = None
    endpoint_model: str | None = None
    endpoint_concurrency: int = 8
    # Deliberate breakage, for the mutation tests only.
    task_options: dict = field(default_factory=dict)
    channel_order: str = "RGB"
    # [key, value, origin] a mode adds over everything else (TEST06 turns token latencies on)
    extra_settings: tuple = ()

    def command_line_settings(self, scenario: str) -> list[list]:
        """[key, value, origin] for what the command line set (user.conf units)."""
        out = []
        if self.count:
            origin = "command line --mlperf-count"
            out += [["min_query_count", self.count, origin], ["max_query_count", self.count, origin]]
        if self.target_qps is not None and scenario in ("Offline", "Server"):
            out.append(["target_qps", self.target_qps, "command line --mlperf-target-qps"])
        if self.target_latency_ms is not None and scenario != "Offline":
            out.append(["target_latency", self.target_latency_ms, "command line --mlperf-target-latency"])
        out += [list(setting) for setting in self.extra_settings]
        return out
