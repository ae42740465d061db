"""ROUGE and tokens per sample of a llama2-70b accuracy log, as MLPerf's evaluate-accuracy.py prints them."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from harness.accuracy.scoring import GenerationScorer
from harness.metrics.llm_accuracy import ROUGE_KEYS, LlmScore, score_generation

# llama2-70b's script adds the generated tokens and their mean per sample.
PRINTED = ROUGE_KEYS + ("gen_tok_len", "tokens_per_sample")
CHECKER_METRICS = {"ROUGE1": "rouge1", "ROUGE2": "rouge2", "ROUGEL": "rougeL", "TOKENS_PER_SAMPLE": "tokens_per_sample"}


class Llama2Scorer(GenerationScorer):
    printed = PRINTED
    checker_metrics = CHECKER_METRICS


def llama2_accuracy(log_path: str | Path, targets: Sequence[str], tokenizer: Any, dtype: str = "int32") -> LlmScore:
    """Score a llama2-70b accuracy log; ``targets[i]`` is column ``output`` of row i."""
    return score_generation(log_path, targets, tokenizer, dtype, printed=PRINTED, checker_metrics=CHECKER_METRICS)
