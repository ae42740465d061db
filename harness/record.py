"""One case's record in results.json: one typed record, built in this one place.

The record layout is a contract other tools read (design.md, contract 4):
the fields below, in this order, then whatever a plugin hook added
(``extra``, merged last, never replacing a field). The pytest plugin fills a
record in three steps as the case goes (the case, what was provisioned, the
run's result); nothing else writes one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from .case_run import PERFORMANCE_METRICS, TOKEN_METRICS, CaseResult, Provisioned
from .matrix import Case
from .options import RunOptions


@dataclass
class CaseRecord:
    model: str
    backend: str
    device: str
    precision: str
    scenario: str
    mode: str
    id: str
    log_dir: str
    run_style: str
    outcome: str | None = None  # passed | failed | skipped | error, set from the test report
    dataset: str | None = None
    model_file: str | None = None
    accuracy: dict | None = None
    performance: dict | None = None
    settings: dict = field(default_factory=dict)
    started: float | None = None
    duration_s: float | None = None
    message: str | None = None
    # Which pytest-xdist worker ran it ("main" without xdist): shows the grouping.
    worker: str = "main"
    model_source: str | None = None
    reference_source: str | None = None
    reference_reason: str | None = None
    tokenizer: str | None = None
    # distribution -> version of every framework the run's child process imported
    frameworks: dict = field(default_factory=dict)
    # fields added by pytest_mlperf_case_record hooks
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_case(cls, case: Case, options: RunOptions, log_dir: Path) -> "CaseRecord":
        return cls(model=case.model, backend=case.backend, device=case.device, precision=case.precision,
                   scenario=case.scenario, mode=case.mode, id=case.id, log_dir=str(Path(log_dir).resolve()),
                   run_style=options.run_style, worker=os.environ.get("PYTEST_XDIST_WORKER", "main"))

    def provisioned(self, prov: Provisioned) -> None:
        self.dataset = str(Path(prov.dataset_dir).resolve())
        self.model_file = str(Path(prov.model_path).resolve())
        self.model_source = prov.model_source
        self.reference_source = prov.reference_source
        self.reference_reason = prov.reference_reason
        if prov.tokenizer_dir is not None:
            self.tokenizer = str(Path(prov.tokenizer_dir).resolve())

    def result(self, result: CaseResult, options: RunOptions) -> None:
        self.started = result.started
        self.duration_s = round(result.duration_s, 3)
        child = result.child.result or {}
        self.frameworks = dict(child.get("frameworks") or {})
        self.settings = {
            "loadgen": result.effective,
            "user_conf": child.get("user_conf", {}),
            "backend": child.get("backend_info", {}),
            "calibration": child.get("calibration", {}),
            "max_batchsize": child.get("max_batchsize"),
            "threads": (child.get("backend_info") or {}).get("intra_op_threads", options.threads),
        }
        if child.get("sut_servers"):  # inference ran on these servers (--mlperf-sut-url, --mlperf-endpoint)
            self.settings["sut_servers"] = child["sut_servers"]
        if result.accuracy is not None:
            self.accuracy = _accuracy(result)
        if result.performance is not None:
            self.performance = _performance(result)
        if result.failures:
            self.message = "\n".join(result.failures)

    def to_json(self) -> dict:
        """The results.json record: the fields in order, then the hooks' additions."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for key, value in self.extra.items():
            record.setdefault(key, value)  # a hook adds fields; it never rewrites the contract's
        return record


def _accuracy(result: CaseResult) -> dict:
    verdict = result.accuracy
    block = {"metric": verdict.metric, "value": verdict.value, "reference": verdict.reference,
             "threshold": verdict.threshold}
    if result.accuracy_also:
        # the further metrics MLPerf's checker requires (ROUGE-2/L, GEN_LEN, tokens per sample)
        block["also"] = [
            {"metric": v.metric, "value": v.value, "reference": v.reference, "threshold": v.threshold,
             **({"upper_threshold": v.upper_threshold} if v.upper_ratio is not None else {})}
            for v in result.accuracy_also
        ]
    return block


def _performance(result: CaseResult) -> dict:
    key, unit = PERFORMANCE_METRICS[result.case.scenario]
    block = {"result_validity": result.performance.get("result_validity"), "metric": key,
             "value": result.performance.get(key), "unit": unit}
    tokens_key = TOKEN_METRICS.get(result.case.scenario)
    if tokens_key and result.performance.get(tokens_key) is not None:
        block["tokens_metric"] = tokens_key
        block["tokens_per_second"] = result.performance.get(tokens_key)
    # LLM token latencies, where LoadGen logged them (use_token_latencies: Server)
    for field, key in TOKEN_LATENCY_FIELDS.items():
        if result.performance.get(key) is not None:
            block[field] = result.performance[key]
    return block


# results.json field -> LoadGen's detail-log key (time to first token, time per output token)
TOKEN_LATENCY_FIELDS = {
    "ttft_mean_ns": "result_first_token_mean_latency_ns",
    "ttft_p50_ns": "result_first_token_50.00_percentile_latency_ns",
    "ttft_p99_ns": "result_first_token_99.00_percentile_latency_ns",
    "tpot_mean_ns": "result_time_to_output_token_mean",
    "tpot_p50_ns": "result_time_per_output_token_50.00_percentile_ns",
    "tpot_p99_ns": "result_time_per_output_token_99.00_percentile_ns",
}

