"""ROUGE and GEN_LEN of a gptj accuracy log, printed as MLPerf's language/gpt-j/evaluation.py prints them."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from harness.accuracy.scoring import GenerationScorer
from harness.metrics.llm_accuracy import ROUGE_KEYS, LlmScore, score_generation

# The submission checker's names for gptj's accuracy targets.
CHECKER_METRICS = {"ROUGE1": "rouge1", "ROUGE2": "rouge2", "ROUGEL": "rougeL", "GEN_LEN": "gen_len"}


class GptjScorer(GenerationScorer):
    printed = ROUGE_KEYS
    checker_metrics = CHECKER_METRICS


def gptj_accuracy(log_path: str | Path, targets: Sequence[str], tokenizer: Any, dtype: str = "int64") -> LlmScore:
    """Score a gptj accuracy log; ``targets[i]`` is the reference summary of cnn_eval.json record i."""
    return score_generation(log_path, targets, tokenizer, dtype, printed=ROUGE_KEYS, checker_metrics=CHECKER_METRICS)
