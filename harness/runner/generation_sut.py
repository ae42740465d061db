"""Systems under test for text generation (LLMs).

The scenario logic (Offline batches, Server dynamic batching of arrivals,
inline SingleStream) is the same as for one-pass models (sut.py); what
differs is answering a batch: decode it with the generator, stream the first
tokens where the task wants time to first token, and complete every sample
with its own variable-length token array (and its token count).
"""
from __future__ import annotations

import numpy as np

from .sut import InlineSut, OfflineSut, ServerSut


class _Generating:
    def _infer_and_complete(self, ids, indices: np.ndarray, slots: np.ndarray | None = None) -> None:
        if self.errors:  # after a failure, answer at once so the run ends quickly
            self._done(len(ids))
            self.completer.fail(ids)
            return
        task = self.task
        try:
            slots = self.store.slots(indices) if slots is None else slots
            prompts = task.prompts(self._gather(slots))
            streamed = task.stream_first_token and not task.first_token_with_last
            on_first = (lambda tokens: self.completer.first_tokens(ids, task.encode(tokens))) if streamed else None
            outputs = self.backend.generate(prompts, task.decoding, on_first)
            if task.stream_first_token and task.first_token_with_last:
                self.completer.first_tokens(ids, task.encode([o[0] if len(o) else 0 for o in outputs]))
            arrays = [task.encode(o) for o in outputs]
        except BaseException:  # noqa: BLE001 - must never escape into LoadGen
            self._fail(ids)
            return
        self._done(len(ids))  # the progress counter (sut.py)
        self.completer.complete_ragged(ids, arrays, with_counts=task.report_n_tokens)


class GenerationOfflineSut(_Generating, OfflineSut):
    pass


class GenerationServerSut(_Generating, ServerSut):
    pass


class GenerationInlineSut(_Generating, InlineSut):
    def issue_queries(self, samples) -> None:
        self.issued += len(samples)
        ids = [s.id for s in samples]
        indices = np.fromiter((s.index for s in samples), dtype=np.int64, count=len(ids))
        for start in range(0, len(ids), self.max_batchsize):
            stop = start + self.max_batchsize
            self._infer_and_complete(ids[start:stop], indices[start:stop])


GENERATION_SUTS = {
    "Offline": GenerationOfflineSut,
    "Server": GenerationServerSut,
    "SingleStream": GenerationInlineSut,
    "MultiStream": GenerationInlineSut,
}
