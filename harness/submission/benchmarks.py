"""Per-benchmark rules of MLPerf's submission checker that do not change between rounds.

Source: ``tools/submission/submission_checker/constants.py`` of mlcommons/inference
(``MODEL_CONFIG[v]["accuracy-target" | "accuracy-upper-limit" | "performance-sample-count"
| "dataset-size" | "latency-constraint" | "min-queries"]``, ``OFFLINE_MIN_SPQ_SINCE_V4``,
``LLM_LATENCY_LIMITS``, ``RESULT_FIELD_BENCHMARK_OVERWRITE``, ``ACC_PATTERN``). For the
benchmarks below these values are identical in every round v5.0..v6.0 that lists the
benchmark; what does change per round (which benchmarks exist, required scenarios,
seeds, compliance tests, layout, the images SDXL must ship) lives in ``versions.py``.
rnnt is the exception: it is in no round from v5.0 on, and its values come from the
single-file ``submission_checker.py`` of v3.1 (the same in v4.x's ``MODEL_CONFIG["v4.0"]``);
where v3.1 differs for every benchmark (the Offline minimum of samples per query, the
Server metric), ``versions.V3_1`` says so.

Only the benchmarks this suite can run (and dlrm-v2, which shares their rules) are
tabled. A benchmark a round lists but this table lacks is reported as "no rules",
never checked against guessed values.

Targets are written as the checker writes them (reference x ratio) so that a reader
can compare them with the checker line by line; the checker compares ``>=``, and
upper limits with ``>``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# The checker's regexes for accuracy.txt, applied with re.match to every line.
ACC_PATTERN = {
    "acc": r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*",
    "AUC": r"^AUC=([\d\.]+).*",
    "mAP": r".*(?:mAP=|'Total':)\s*([\d.]+)",
    "F1": r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}",
    "DICE": r"Accuracy\:\s*mean\s*=\s*([\d\.]+).*",
    "ROUGE1": r".*'rouge1':\s+'?([\d.]+)'?.*",
    "ROUGE2": r".*'rouge2':\s+'?([\d.]+)'?.*",
    "ROUGEL": r".*'rougeL':\s+'?([\d.]+)'?.*",
    "GEN_LEN": r".*'gen_len':\s([\d.]+).*",
    "TOKENS_PER_SAMPLE": r".*'tokens_per_sample':\s([\d.]+).*",
    # accuracy_coco.py prints "Accuracy Results: {'FID_SCORE': ..., 'CLIP_SCORE': ...}"
    "CLIP_SCORE": r".*'CLIP_SCORE':\s+'?([\d.]+).*",
    "FID_SCORE": r".*'FID_SCORE':\s+'?([\d.]+).*",
    # rnnt's accuracy_eval.py line; the v3.1 checker keys this pattern "WER", later ones "ACCURACY"
    "ACCURACY": r"Word Error Rate\:.*, accuracy=([0-9\.]+)%",
}

# RESULT_FIELD_NEW: the detail-log key that is the scenario's metric.
RESULT_FIELD = {
    "Offline": "result_samples_per_second",
    "SingleStream": "early_stopping_latency_ss",
    "MultiStream": "early_stopping_latency_ms",
    "Server": "result_completed_samples_per_sec",
}
TEST_DURATION_MS = 600000  # TEST_DURATION_MS: effective_min_duration_ms must reach it
EARLY_STOPPING_SCENARIOS = ("Server", "SingleStream", "MultiStream")  # Config.uses_early_stopping

_MS = 1000 * 1000  # ns per ms, as the checker's MS_TO_NS


@dataclass(frozen=True)
class BenchmarkRules:
    name: str  # the checker's name, also the results folder name
    targets: tuple[tuple[str, float], ...]  # (ACC_PATTERN key, minimum)
    performance_sample_count: int
    dataset_size: int
    min_queries: dict  # scenario -> minimum effective_min_query_count (non-early-stopping scenarios)
    offline_min_samples_per_query: int
    upper_limits: tuple[tuple[str, float], ...] = ()
    latency_constraint_ns: dict = field(default_factory=dict)  # scenario -> bound on effective_target_latency_ns
    # LLMs: token latencies must be on; per-scenario p99 TTFT / TPOT bounds in ns
    llm_latency_limits: dict | None = None
    # scenario -> detail key replacing RESULT_FIELD (LLMs report tokens/s)
    result_fields: dict = field(default_factory=dict)
    accuracy_sample_count: int | None = None  # when it differs from the dataset size
    # TEST01 fallback: allowed |1 - baseline/compliance| x 100 per metric (accuracy-delta-perc);
    # a metric not listed gets 1, or 0.1 for a 99.9 variant (Config.get_delta_perc)
    test01_delta_perc: dict = field(default_factory=dict)

    @property
    def is_llm(self) -> bool:
        return self.llm_latency_limits is not None

    def result_field(self, scenario: str, round_fields: dict | None = None) -> str | None:
        """The metric's detail key: the benchmark's own (LLM tokens/s), else the round's
        (``round_fields``: v3.1 reads Server from another key), else RESULT_FIELD."""
        return self.result_fields.get(scenario) or (round_fields or {}).get(scenario) or RESULT_FIELD.get(scenario)

    def test01_delta(self, metric: str) -> float:
        return self.test01_delta_perc.get(metric, 0.1 if "99.9" in self.name else 1.0)

    @property
    def expected_accuracy_samples(self) -> int:
        return self.dataset_size if self.accuracy_sample_count is None else self.accuracy_sample_count


_VISION_QUERIES = {"SingleStream": 1024, "MultiStream": 270336, "Server": 270336, "Offline": 1}
_EDGE_QUERIES = {"SingleStream": 1024, "Offline": 1}
_LLM_QUERIES = {"SingleStream": 1024, "Server": 270336, "Offline": 1}
_LLAMA2_LIMITS = {"Server": {"ttft": 2000 * _MS, "tpot": 200 * _MS},
                  "Interactive": {"ttft": 450 * _MS, "tpot": 40 * _MS}}
_TOKENS = {"Offline": "result_tokens_per_second", "Server": "result_completed_tokens_per_second"}
_INFERRED_TOKENS = {"Offline": "result_inferred_tokens_per_second",
                    "Server": "result_inferred_completed_tokens_per_second"}


def _bert(ratio: float, name: str) -> BenchmarkRules:
    return BenchmarkRules(name, (("F1", 90.874 * ratio),), 10833, 10833, _EDGE_QUERIES, 10833)


def _dlrm(ratio: float, name: str) -> BenchmarkRules:
    return BenchmarkRules(name, (("AUC", 80.31 * ratio),), 204800, 330067,
                          {"Server": 270336, "Offline": 1}, 24576, latency_constraint_ns={"Server": 60000000})


def _unet(ratio: float, name: str) -> BenchmarkRules:
    return BenchmarkRules(name, (("DICE", 0.86170 * ratio),), 43, 43, _EDGE_QUERIES, 43)


def _gptj(ratio: float, name: str) -> BenchmarkRules:
    # The v5.0 checker's OFFLINE_MIN_SPQ_SINCE_V4 no longer lists gptj; 13368 (the
    # whole dataset) is the value it had while gptj was a benchmark.
    return BenchmarkRules(
        name,
        (("ROUGE1", 42.9865 * ratio), ("ROUGE2", 20.1235 * ratio), ("ROUGEL", 29.9881 * ratio),
         ("GEN_LEN", 4016878 * 0.9)),
        13368, 13368, _LLM_QUERIES, 13368, latency_constraint_ns={"Server": 20000000000},
        result_fields=_INFERRED_TOKENS,
    )


def _llama2(ratio: float, name: str) -> BenchmarkRules:
    return BenchmarkRules(
        name,
        (("ROUGE1", 44.4312 * ratio), ("ROUGE2", 22.0352 * ratio), ("ROUGEL", 28.6162 * ratio),
         ("TOKENS_PER_SAMPLE", 294.45 * 0.9)),
        24576, 24576, _LLM_QUERIES, 24576, upper_limits=(("TOKENS_PER_SAMPLE", 294.45 * 1.1),),
        latency_constraint_ns={"Server": 20000000000}, llm_latency_limits=_LLAMA2_LIMITS, result_fields=_TOKENS,
    )


def _sdxl() -> BenchmarkRules:
    # A band, not a floor: FID's lower value is its target (>=) and its upper one the
    # limit (>), as CLIP's; the checker gives both as literals, not reference x ratio.
    return BenchmarkRules(
        "stable-diffusion-xl", (("CLIP_SCORE", 31.68631873), ("FID_SCORE", 23.01085758)), 5000, 5000,
        {"SingleStream": 1024, "Server": 270336, "Offline": 1}, 5000,
        upper_limits=(("CLIP_SCORE", 31.81331801), ("FID_SCORE", 23.95007626)),
        latency_constraint_ns={"Server": 20000000000}, test01_delta_perc={"CLIP_SCORE": 1.0, "FID_SCORE": 2.0},
    )


def _rnnt() -> BenchmarkRules:
    # 2513 samples/query is OFFLINE_MIN_SPQ_SINCE_V4's; the v3.1 checker itself asks
    # 24576 of every Offline run (versions.V3_1.offline_min_samples_per_query).
    return BenchmarkRules("rnnt", (("ACCURACY", (100 - 7.452) * 0.99),), 2513, 2513,
                          {"SingleStream": 1024, "Server": 270336, "Offline": 1}, 2513,
                          latency_constraint_ns={"Server": 1000000000})


BENCHMARKS: dict[str, BenchmarkRules] = {
    rules.name: rules
    for rules in (
        BenchmarkRules("resnet", (("acc", 76.46 * 0.99),), 1024, 50000, _VISION_QUERIES, 24576,
                       latency_constraint_ns={"Server": 15000000}),
        BenchmarkRules("retinanet", (("mAP", 37.55 * 0.99),), 64, 24781, _VISION_QUERIES, 24576,
                       latency_constraint_ns={"Server": 100000000}),
        _bert(0.99, "bert-99"), _bert(0.999, "bert-99.9"),
        _dlrm(0.99, "dlrm-v2-99"), _dlrm(0.999, "dlrm-v2-99.9"),
        _unet(0.99, "3d-unet-99"), _unet(0.999, "3d-unet-99.9"),
        _gptj(0.99, "gptj-99"), _gptj(0.999, "gptj-99.9"),
        _llama2(0.99, "llama2-70b-99"), _llama2(0.999, "llama2-70b-99.9"),
        _sdxl(), _rnnt(),
    )
}
