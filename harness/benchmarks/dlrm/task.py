"""Click-through-rate prediction with a DLRM, one LoadGen sample per user.

A sample is a user's rows (user-item pairs), staged by dataset.py as one
int32 array ``[rows, 13 + ids]``: the dense features' float32 bits, then
the multi-hot ids. The model is fed ``dense`` float32 ``[N, 13]`` and
``sparse`` int32 ``[N, ids]`` and answers ``probability`` float32 ``[N]``
(model.py). As MLPerf's reference, the rows of a batch of samples go to
the model together and the scores are split back by row offsets (main.py:
one predict per chunk of up to max-batchsize samples, ``idx_offsets``);
here in model calls of at most ``rows_per_call`` rows, which bounds the
memory of a large Offline batch and changes no score. The response of a sample is one float32 score per row, in row order
(the bytes accuracy-dlrm.py decodes with ``--day-23-file``: predictions
only, the labels come from the dataset).

Mutation option, only for tests that show the accuracy gate bites:
``reverse_rows=True`` answers each user's scores in reverse row order
(scores no longer line up with their rows' labels).
"""
from __future__ import annotations

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task

from .layout import DENSE_FEATURES

ROWS_PER_CALL = 8192


class ClickThroughRate(Task):
    input_kind = "volumes"
    response_kind = "ragged"
    inputs = ("dense", "sparse")
    outputs = ("probability",)
    contract_outputs = ("probability",)
    response_dtype = np.float32

    def __init__(self, rows_per_call: int = ROWS_PER_CALL, reverse_rows: bool = False):
        self.rows_per_call = int(rows_per_call)
        if self.rows_per_call < 1:
            raise ValueError(f"rows_per_call {rows_per_call}: expected at least 1 row per model call")
        self.reverse_rows = bool(reverse_rows)

    def model_contract(self) -> ModelContract:
        return ModelContract(
            inputs=(TensorContract("dense", ("float32",)), TensorContract("sparse", ("int32",))),
            outputs=(TensorContract("probability", ("float32",), ((),), "one click probability per row"),),
        )

    def probe_batch(self, source):
        """The first sample's rows, as ``feed`` takes them."""
        return np.asarray(source[0])

    def feed(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Packed rows ``[N, 13 + ids]`` int32 -> the model's two inputs (the dense bits read as float32)."""
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.dtype != np.int32 or rows.shape[1] <= DENSE_FEATURES:
            raise ValueError(f"staged rows are {rows.dtype} {list(rows.shape)}; expected int32 "
                             f"[rows, {DENSE_FEATURES} + multi-hot ids] (dataset.py packs them so)")
        return {"dense": np.ascontiguousarray(rows[:, :DENSE_FEATURES]).view(np.float32),
                "sparse": np.ascontiguousarray(rows[:, DENSE_FEATURES:])}

    def run(self, backend, batch, indices) -> list[np.ndarray]:
        """``batch``: the samples to answer (a list of packed arrays); one float32 array of scores each."""
        samples = [np.asarray(sample) for sample in batch]
        if len(samples) != len(np.asarray(indices).reshape(-1)):
            raise ValueError(f"a batch of {len(samples)} samples came with {len(np.asarray(indices).reshape(-1))} "
                             "query-sample indices")
        rows = samples[0] if len(samples) == 1 else np.concatenate(samples)
        scores = np.empty(len(rows), np.float32)
        for start in range(0, len(rows), self.rows_per_call):
            part = rows[start: start + self.rows_per_call]
            (probability,) = backend.predict(self.feed(part))
            probability = np.asarray(probability, dtype=np.float32).reshape(-1)
            if len(probability) != len(part):
                raise ValueError(f"the model answered {len(probability)} scores for {len(part)} rows; "
                                 "expected one probability per row")
            scores[start: start + len(part)] = probability
        return self.responses(np.split(scores, np.cumsum([len(s) for s in samples])[:-1]), indices)

    def responses(self, outputs: list[np.ndarray], indices) -> list[np.ndarray]:
        """``outputs``: one score array per sample -> the bytes to log, contiguous, one array each."""
        if self.reverse_rows:
            return [np.ascontiguousarray(scores[::-1]) for scores in outputs]
        return [np.ascontiguousarray(scores, dtype=np.float32) for scores in outputs]
