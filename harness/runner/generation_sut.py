"""Systems under test for text generation (LLMs).

The scenario logic (Offline batches, Server dynamic batching of arrivals,
inline SingleStream) is the same as for one-pass models (sut.py); what
differs is answering a batch: decode it with the generator, stream the first
tokens where the task wants time to first token, and complete every sample
with its own variable-length token array (and its token count).
"""
from __future__ import annotations

import sys
import threading
import traceback

import numpy as np

from .sut import InlineSut, OfflineSut, ServerSut

# the tracebacks printed of a run's failed requests; the rest are counted
PRINTED_REQUEST_ERRORS = 3


class _Generating:
    def __init__(self, *args, **kwargs):
        # Set before the worker threads start (the base class starts them):
        # a backend's request threads complete samples under it.
        self._answer_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _infer_and_complete(self, ids, indices: np.ndarray, slots: np.ndarray | None = None) -> None:
        if getattr(self.backend, "streams_each_prompt", False):
            self._submit_each(ids, indices, slots)
            return
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

    def _submit_each(self, ids, indices: np.ndarray, slots: np.ndarray | None) -> None:
        """A backend that sends each prompt on its own (an OpenAI endpoint, backends/openai_endpoint.py).

        The prompts are handed to the backend's bounded pool and this thread
        returns: a Server worker takes the next arrivals at once instead of
        waiting for a batch's slowest answer. Each sample's first token
        reaches LoadGen when it arrives (time to first token), and its
        completion when its own answer ends.
        """
        task = self.task
        if self.errors:  # after a failure, answer at once so the run ends quickly
            with self._answer_lock:
                self._done(len(ids))
            self.completer.fail(ids)
            return
        try:
            slots = self.store.slots(indices) if slots is None else slots
            prompts = task.prompts(self._gather(slots))  # copied by submit(): the gather buffer is reused
        except BaseException:  # noqa: BLE001 - must never escape into LoadGen
            with self._answer_lock:
                self._fail(ids)
            return
        streamed = task.stream_first_token and not task.first_token_with_last

        def on_first(row: int, token: int) -> None:
            self.completer.first_tokens([ids[row]], task.encode([token]))

        def on_done(row: int, tokens, error) -> None:
            try:
                if error is None:
                    array = task.encode(tokens)
                    if task.stream_first_token and task.first_token_with_last:
                        self.completer.first_tokens([ids[row]], task.encode([array[0] if len(array) else 0]))
                    self.completer.complete_ragged([ids[row]], [array], with_counts=task.report_n_tokens)
                else:
                    self._request_failed(ids[row], error)
            finally:
                with self._answer_lock:
                    self._local.index = getattr(self._local, "index", 0)  # a Server counter slot for this thread
                    self._done(1)

        try:
            self.backend.submit(prompts, task.decoding, on_first if streamed else None, on_done)
        except BaseException:  # noqa: BLE001 - e.g. a decoding the backend refuses
            with self._answer_lock:
                self._fail(ids)

    def _request_failed(self, qid, error: BaseException) -> None:
        """One sample's request failed: recorded as a SUT error (the run fails with it), answered empty."""
        message = "".join(traceback.format_exception(error))
        with self._answer_lock:
            self.errors.append(message)
            count = len(self.errors)
        if count <= PRINTED_REQUEST_ERRORS:
            print(f"SUT error (sample completed empty):\n{message}", file=sys.stderr, flush=True)
        self.completer.fail([qid])


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
