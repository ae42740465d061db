"""CNN-DailyMail as the MLPerf gptj benchmark reads it (``cnn_eval.json``).

On-disk format (MLPerf's ``download_cnndm.py``): one JSON array, one object per
article, ``{"instruction": str, "input": article, "output": reference summary}``;
the real file uses the instruction ``"Summarize the following news article:"``.
Query-sample index ``i`` is element ``i`` of the array: the accuracy log names
samples by that index, so the order is never changed here.

The prompt is the Alpaca "prompt_input" template of MLPerf's gpt-j
``dataset.py``, tokenized as that file does: right-side truncation to 1919
tokens, so that a prompt plus the 128 new tokens stays within GPT-J's 2048
positions (1919 + 128 = 2047). A model with fewer positions than the truncated
prompt needs is reported per record, never silently cut further.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from harness.datasets.base import DatasetFormatError

FIELDS = ("instruction", "input", "output")
INSTRUCTION = "Summarize the following news article:"
PROMPT_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
# MLPerf's gpt-j dataset.py: tokenizer(..., truncation=True, max_length=1919).
MAX_INPUT_TOKENS = 1919
# Decoding settings and the response dtype live in the registry (gptj-99.toml).


class CnnDailyMailError(DatasetFormatError):
    """``cnn_eval.json`` is missing, malformed, or a prompt cannot fit the model."""


@dataclass(frozen=True)
class CnnExample:
    instruction: str
    input: str
    output: str


def read_cnn_eval(path: str | Path) -> list[CnnExample]:
    """Read every record of ``cnn_eval.json``, checking each field's presence and type."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CnnDailyMailError(f"{path}: no such file (expected MLPerf's cnn_eval.json)") from None
    except UnicodeDecodeError as exc:
        raise CnnDailyMailError(f"{path}: not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CnnDailyMailError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(records, list):
        raise CnnDailyMailError(
            f"{path}: expected a JSON array of {{instruction, input, output}} objects, "
            f"got a JSON {type(records).__name__}"
        )
    if not records:
        raise CnnDailyMailError(f"{path}: the array holds no records")
    examples = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise CnnDailyMailError(
                f"{path}: record {index} is a JSON {type(record).__name__}, expected an object "
                f"with fields {', '.join(FIELDS)}"
            )
        for field in FIELDS:
            if field not in record:
                raise CnnDailyMailError(f"{path}: record {index} lacks field {field!r} (expected a string)")
            if not isinstance(record[field], str):
                raise CnnDailyMailError(
                    f"{path}: record {index} field {field!r} is a JSON {type(record[field]).__name__}, "
                    "expected a string"
                )
        examples.append(CnnExample(record["instruction"], record["input"], record["output"]))
    return examples


def write_cnn_eval(path: str | Path, examples: Iterable[CnnExample]) -> None:
    """Write ``examples`` as ``cnn_eval.json``, laid out as MLPerf writes it (indent 4, UTF-8)."""
    records = [{"instruction": e.instruction, "input": e.input, "output": e.output} for e in examples]
    text = json.dumps(records, indent=4, ensure_ascii=False)
    Path(path).write_text(text, encoding="utf-8")


def build_prompt(example: CnnExample) -> str:
    """The Alpaca prompt MLPerf's gpt-j QSL feeds the model."""
    # str.format inserts the values verbatim: braces inside an article are safe.
    return PROMPT_TEMPLATE.format(instruction=example.instruction, input=example.input)


def tokenize_prompts(
    examples: Sequence[CnnExample],
    tokenizer: Any,
    max_positions: int,
    max_new_tokens: int,
    path: str | Path,
    *,
    max_input_tokens: int = MAX_INPUT_TOKENS,
) -> list[np.ndarray]:
    """Token ids of each prompt (1-D int64), truncated on the right as MLPerf does.

    Raises :class:`CnnDailyMailError` naming the record when even the truncated
    prompt plus ``max_new_tokens`` exceeds ``max_positions``: generation would
    run past the model's position table.
    """
    if max_input_tokens < 1:
        raise CnnDailyMailError(f"max_input_tokens must be >= 1, got {max_input_tokens}")
    if max_new_tokens < 1 or max_positions < 1:
        raise CnnDailyMailError(
            f"max_positions and max_new_tokens must be >= 1, got {max_positions} and {max_new_tokens}"
        )
    prompts = []
    for index, example in enumerate(examples):
        ids = tokenizer(build_prompt(example), truncation=True, max_length=max_input_tokens)["input_ids"]
        tokens = np.asarray(ids, dtype=np.int64).reshape(-1)
        if tokens.size == 0:
            raise CnnDailyMailError(f"{path}: record {index}: the prompt tokenizes to no tokens")
        if tokens.size + max_new_tokens > max_positions:
            raise CnnDailyMailError(
                f"{path}: record {index}: prompt of {tokens.size} tokens (after truncation to "
                f"{max_input_tokens}) + {max_new_tokens} new tokens = {tokens.size + max_new_tokens} "
                f"exceeds the model's {max_positions} positions; shorten field 'input' or use a "
                "model with more positions"
            )
        prompts.append(tokens)
    return prompts


def targets(examples: Sequence[CnnExample]) -> list[str]:
    """Reference summaries in query-sample order (field ``output``)."""
    return [example.output for example in examples]
