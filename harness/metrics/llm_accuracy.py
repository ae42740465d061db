"""Accuracy of generated text (ROUGE and lengths) as MLPerf's LLM scripts compute it.

What each benchmark prints and which checker names its figures carry is the
family's (harness/benchmarks/gptj/scorer.py, llama2/scorer.py); the steps are shared.

Both scripts (v4.1 round: ``language/gpt-j/evaluation.py`` and
``language/llama2-70b/evaluate-accuracy.py``) do the same steps:
1. read ``mlperf_log_accuracy.json``, keep the first entry of each
   ``qsl_idx`` in log order, decode ``data`` (upper-case hex) as int64 (gptj)
   or the ``--dtype`` given (int32 for llama2-70b);
2. ``tokenizer.batch_decode(ids, skip_special_tokens=True)``;
3. strip, one sentence per line (see :mod:`harness.metrics.rouge`), ROUGE F1
   per sample against the reference of the same ``qsl_idx``;
4. print a Python dict: ``round(mean * 100, 4)`` per ROUGE type, ``gen_len``
   (sum of the postprocessed predictions' character lengths) and ``gen_num``
   (their count); llama2-70b adds ``gen_tok_len`` (sum of token counts) and
   ``tokens_per_sample`` (``round(gen_tok_len / gen_num, 1)``).
In v4.1 the values are printed as numbers (``{'rouge1': 43.1201, ...}``, as in
the published accuracy.txt files); later rounds quote the ROUGE values. Under
numpy 2 the scripts' numpy scalars would print as ``np.float64(...)``, which
the submission checker's regexes cannot read, so :meth:`LlmScore.official_line`
prints plain Python numbers: the line v4.1 printed under numpy 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .accuracy_log import AccuracyLogError, read_accuracy_log
from .rouge import postprocess, rouge_means, splitter_note

TOKEN_DTYPES = {"int32": np.int32, "int64": np.int64}
# What every script's result dict starts with; a family may print more.
ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "gen_num")


class LlmAccuracyError(AccuracyLogError):
    """The accuracy log, the references or the tokenizer do not fit together."""


@dataclass(frozen=True)
class LlmScore:
    printed: tuple  # the keys of the script's result dict, in its order
    checker_metrics: dict  # the submission checker's metric name -> field
    rouge1: float  # percent, rounded to 4 places
    rouge2: float
    rougeL: float
    rougeLsum: float
    gen_len: int  # characters in the postprocessed predictions
    gen_num: int  # scored samples (distinct qsl_idx)
    gen_tok_len: int  # generated tokens
    tokens_per_sample: float  # round(gen_tok_len / gen_num, 1)
    note: str  # which sentence splitter fed rougeLsum

    def as_dict(self) -> dict[str, float | int]:
        """The official script's result dict: its keys, in its order, as plain Python numbers."""
        return {key: getattr(self, key) for key in self.printed}

    def official_line(self) -> str:
        """The dict line the official script prints, e.g. ``{'rouge1': 43.1201, ..., 'gen_num': 13368}``."""
        return str(self.as_dict())

    def official_output(self) -> str:
        """Everything the script prints for its result: a blank line, ``Results``, a blank line, the dict."""
        return f"\nResults\n\n{self.official_line()}\n"

    def checker_values(self) -> dict[str, float | int]:
        """The values under the submission checker's metric names (ROUGE1, ..., GEN_LEN or TOKENS_PER_SAMPLE)."""
        return {name: getattr(self, field) for name, field in self.checker_metrics.items()}


def read_token_log(log_path: str | Path, dtype: str) -> list[tuple[int, np.ndarray]]:
    """``[(qsl_idx, token ids), ...]`` in log order, the first entry of each qsl_idx only."""
    log_path = Path(log_path)
    if dtype not in TOKEN_DTYPES:
        raise LlmAccuracyError(f"unknown token dtype {dtype!r}; valid: {', '.join(TOKEN_DTYPES)}")
    np_dtype = np.dtype(TOKEN_DTYPES[dtype])
    try:
        entries = read_accuracy_log(log_path)
    except LlmAccuracyError:
        raise
    except AccuracyLogError as exc:
        raise LlmAccuracyError(str(exc)) from None
    seen: set[int] = set()
    decoded: list[tuple[int, np.ndarray]] = []
    for position, entry in enumerate(entries):
        index = entry["qsl_idx"]
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise LlmAccuracyError(
                f"{log_path}: entry {position}: qsl_idx {index!r} is not a non-negative integer"
            )
        if index in seen:
            continue
        seen.add(index)
        data = entry["data"]
        where = f"{log_path}: entry {position} (qsl_idx {index})"
        if not isinstance(data, str):
            raise LlmAccuracyError(f"{where}: data is {type(data).__name__}, expected a hex string")
        try:
            raw = bytes.fromhex(data)
        except ValueError as exc:
            raise LlmAccuracyError(f"{where}: data is not a hex string of whole bytes: {exc}") from None
        if len(raw) % np_dtype.itemsize:
            raise LlmAccuracyError(
                f"{where}: data holds {len(raw)} bytes, not a multiple of {np_dtype.itemsize} "
                f"({dtype} token ids); is the dtype right?"
            )
        decoded.append((index, np.frombuffer(raw, np_dtype)))
    return decoded


def score_generation(log_path: str | Path, targets: Sequence[str], tokenizer: Any, dtype: str, *,
                     printed: tuple = ROUGE_KEYS, checker_metrics: dict | None = None) -> LlmScore:
    """Score a token accuracy log against ``targets[qsl_idx]``, the reference texts."""
    log_path = Path(log_path)
    entries = read_token_log(log_path, dtype)
    if not entries:
        raise LlmAccuracyError(f"{log_path}: the accuracy log holds no responses to score")
    vocab = len(tokenizer)
    references = []
    for index, tokens in entries:
        if index >= len(targets):
            raise LlmAccuracyError(
                f"{log_path}: qsl_idx {index} is outside the dataset's {len(targets)} samples"
            )
        if not isinstance(targets[index], str):
            raise LlmAccuracyError(
                f"reference of sample {index} is {type(targets[index]).__name__}, expected text"
            )
        # Fast tokenizers silently drop ids they do not know and overflow on
        # negative ones: either would score garbage without a word.
        bad = np.flatnonzero((tokens < 0) | (tokens >= vocab))
        if bad.size:
            raise LlmAccuracyError(
                f"{log_path}: qsl_idx {index}: token {int(tokens[bad[0]])} at position {int(bad[0])} "
                f"is outside the tokenizer's {vocab} ids; wrong dtype or tokenizer?"
            )
        references.append(targets[index])
    texts = tokenizer.batch_decode([tokens.tolist() for _, tokens in entries], skip_special_tokens=True)
    preds = postprocess(texts)
    means = rouge_means(preds, postprocess(references))
    gen_num = len(preds)
    gen_tok_len = int(sum(len(tokens) for _, tokens in entries))
    return LlmScore(
        printed=tuple(printed),
        checker_metrics=dict(checker_metrics or {}),
        rouge1=means["rouge1"],
        rouge2=means["rouge2"],
        rougeL=means["rougeL"],
        rougeLsum=means["rougeLsum"],
        gen_len=int(sum(len(pred) for pred in preds)),
        gen_num=gen_num,
        gen_tok_len=gen_tok_len,
        tokens_per_sample=round(gen_tok_len / gen_num, 1),
        note=splitter_note(),
    )
