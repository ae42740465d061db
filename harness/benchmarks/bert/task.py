"""Extractive question answering with the MLPerf BERT contract.

The real model takes ``input_ids``, ``input_mask`` and ``segment_ids`` (int64
[N,384]) and returns start and end logits; LoadGen's response per sample (one
doc-stride window of a question) is float32 [384,2]: start and end side by side.
The harness stages the three inputs as one int64 [N,3,384] array, so a batch
is one view or one gather, never three.
"""
from __future__ import annotations

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task


class QuestionAnswering(Task):
    input_kind = "stacked"
    response_kind = "fixed"
    input_names = ("input_ids", "input_mask", "segment_ids")
    output_names = ("output_start_logits", "output_end_logits")
    response_dtype = np.float32

    def __init__(self, span_shift: int = 0):
        # Moves every predicted position by span_shift tokens: only a mutation
        # test sets it, to show an off-by-one span fails the gate.
        self.span_shift = int(span_shift)

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.input_names

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.output_names

    @property
    def contract_outputs(self) -> tuple[str, ...]:
        return self.output_names

    def model_contract(self) -> ModelContract:
        """Three int64 [N, seq] inputs (seq from the staged features); float logits out."""
        return ModelContract(
            inputs=tuple(TensorContract(name, ("int64",)) for name in self.input_names),
            outputs=tuple(TensorContract(name, ("float32", "float16")) for name in self.output_names),
        )

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        # [n,3,384] -> three [n,384] views; frameworks that need contiguous
        # inputs copy 3 KB per sample, far below one inference.
        return {name: batch[:, position] for position, name in enumerate(self.input_names)}

    def responses(self, outputs: list[np.ndarray], indices=None) -> np.ndarray:
        start, end = (np.asarray(o, dtype=self.response_dtype) for o in outputs[:2])
        logits = np.stack((start, end), axis=-1)  # [n,384,2], contiguous
        if self.span_shift:
            logits = np.ascontiguousarray(np.roll(logits, self.span_shift, axis=1))
        return logits
