"""Scoring an accuracy log, one evaluation per dataset format.

An evaluation holds what its format needs to score (labels, SQuAD features,
reference texts and a tokenizer) and turns ``mlperf_log_accuracy.json`` into
the metric values the gate checks and the lines MLPerf's accuracy script
prints (accuracy.txt). The gate and ``python -m harness accuracy`` share it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Scored:
    values: dict  # metric name (as the registry names it) -> value
    lines: tuple[str, ...]  # accuracy.txt: the official line first
    answered: int  # samples (or questions) the log answered
    dataset_total: int  # samples of the whole dataset, for totals such as GEN_LEN
    notes: tuple[str, ...] = field(default=())


@dataclass
class Top1Evaluation:
    labels: object
    dtype: str = "float32"

    def score(self, log_path: Path) -> Scored:
        from ..metrics.top1 import top1

        result = top1(log_path, self.labels, dtype=self.dtype)
        return Scored({"top1": result.percent}, (result.official_line(),), result.total, len(self.labels))


@dataclass
class SquadEvaluation:
    examples: list
    features: object
    # "dataset": divide by every dev question, as accuracy-squad.py does; a
    # --mlperf-count run covers only part of the set on purpose: "logged".
    questions: str = "dataset"

    def score(self, log_path: Path) -> Scored:
        from ..metrics.squad import score_accuracy_log

        result = score_accuracy_log(log_path, self.examples, self.features, questions=self.questions)
        return Scored(
            {"f1": result.f1, "exact_match": result.exact_match}, (result.official_line(),),
            result.features_logged, len(self.features.input_ids),
        )


@dataclass
class GenerationEvaluation:
    """ROUGE and length metrics of generated text (gptj, llama2-70b)."""
    benchmark: str  # "gptj" | "llama2"
    targets: list
    tokenizer_dir: Path
    dtype: str

    def score(self, log_path: Path) -> Scored:
        from ..datasets.tokenizers import load_tokenizer
        from ..metrics import llm_accuracy

        tokenizer = load_tokenizer(self.tokenizer_dir)
        scorer = llm_accuracy.gptj_accuracy if self.benchmark == "gptj" else llm_accuracy.llama2_accuracy
        result = scorer(log_path, self.targets, tokenizer, dtype=self.dtype)
        values = {
            name: float(getattr(result, name))
            for name in ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "gen_num", "gen_tok_len", "tokens_per_sample")
            if getattr(result, name, None) is not None
        }
        notes = (result.note,) if getattr(result, "note", None) else ()
        return Scored(values, (result.official_line(),) + notes, int(result.gen_num), len(self.targets), notes)
