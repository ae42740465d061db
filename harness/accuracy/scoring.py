"""What a family's scorer returns, and the scorer shape every family follows.

A scorer is made from the ground truth its dataset format returned
(``Scorer(truth, dtype=..., tokenizer_dir=..., subset=...)``) and turns
``mlperf_log_accuracy.json`` into the metric values the gate checks and the
lines MLPerf's accuracy script prints (accuracy.txt). The gate and
``python -m harness accuracy`` share it. Each family's scorer lives in its
folder (harness/benchmarks/<family>/scorer.py).
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


class GenerationScorer:
    """ROUGE and length metrics of generated text; a family says what its script prints."""
    printed: tuple = ()  # the script's result-dict keys, in its order
    checker_metrics: dict = {}  # the submission checker's names -> fields
    values = ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "gen_num", "gen_tok_len", "tokens_per_sample")

    def __init__(self, truth, *, dtype: str, tokenizer_dir: Path | None = None, subset: bool = False):
        if tokenizer_dir is None:
            raise ValueError("scoring generated tokens needs the model's tokenizer folder "
                             "(--tokenizer / --mlperf-tokenizer-path)")
        self.targets, self.tokenizer_dir, self.dtype = list(truth), Path(tokenizer_dir), dtype

    def score(self, log_path: Path) -> Scored:
        from ..datasets.tokenizers import load_tokenizer
        from ..metrics.llm_accuracy import score_generation

        result = score_generation(log_path, self.targets, load_tokenizer(self.tokenizer_dir), self.dtype,
                                  printed=self.printed, checker_metrics=self.checker_metrics)
        values = {name: float(getattr(result, name)) for name in self.values}
        notes = (result.note,) if result.note else ()
        return Scored(values, (result.official_line(),) + notes, int(result.gen_num), len(self.targets), notes)
