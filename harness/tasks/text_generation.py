"""Text generation with the MLPerf LLM contract (gptj, llama2-70b).

Prompts are token ids staged as one int64 [N, longest] array padded with
PAD (-1) on the right; a batch is a view or a gather like any other task.
The response per sample is the generated token ids only (int64 for gptj,
int32 for llama2), and, where MLPerf counts tokens, their number.
"""
from __future__ import annotations

import numpy as np

from .kinds import Task

PAD = -1


class TextGeneration(Task):
    # Prompts staged as padded token rows; generated tokens streamed back.
    input_kind = "tokens"
    response_kind = "tokens"

    def __init__(self, num_beams: int = 1, min_new_tokens: int = 1, max_new_tokens: int = 128,
                 response_dtype: str = "int64", report_n_tokens: bool = False, stream_first_token: bool = False,
                 first_token_with_last: bool = False):
        if num_beams < 1 or min_new_tokens < 0 or max_new_tokens < max(1, min_new_tokens):
            raise ValueError(
                f"decoding settings: need num_beams >= 1 and 1 <= min_new_tokens <= max_new_tokens, got "
                f"num_beams={num_beams}, min_new_tokens={min_new_tokens}, max_new_tokens={max_new_tokens}"
            )
        self.num_beams, self.min_new_tokens, self.max_new_tokens = int(num_beams), int(min_new_tokens), int(max_new_tokens)
        self.response_dtype = np.dtype(response_dtype)
        self.report_n_tokens = bool(report_n_tokens)
        # Server streams the first token to LoadGen as soon as it exists, so
        # that time to first token is measured, not inferred.
        self.stream_first_token = bool(stream_first_token)
        # A mutation only: hold the first token back until the sample is done.
        self.first_token_with_last = bool(first_token_with_last)

    # the generic task surface (calibration, warm-up) -------------------
    inputs: tuple[str, ...] = ("input_ids",)
    outputs: tuple[str, ...] = ("output_ids",)
    contract_outputs: tuple[str, ...] = ("output_ids",)
    # A decoder takes token lists of any length, not a fixed-shape tensor:
    # nothing for harness/runner/contract.py to check.
    model_contract = None

    @property
    def decoding(self) -> dict:
        return {"num_beams": self.num_beams, "min_new_tokens": self.min_new_tokens,
                "max_new_tokens": self.max_new_tokens}

    @staticmethod
    def prompts(batch: np.ndarray) -> list[np.ndarray]:
        """The rows of a staged batch without their padding."""
        out = []
        for row in batch:
            length = int(np.count_nonzero(row != PAD))
            out.append(row[:length])
        return out

    def encode(self, tokens) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(tokens), dtype=self.response_dtype)


def pad_prompts(prompts: list[np.ndarray]) -> np.ndarray:
    """Stage variable-length prompts as int64 [N, longest], right-padded with PAD."""
    longest = max((len(p) for p in prompts), default=1)
    staged = np.full((len(prompts), max(1, longest)), PAD, dtype=np.int64)
    for row, prompt in enumerate(prompts):
        staged[row, : len(prompt)] = prompt
    return staged
