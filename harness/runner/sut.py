"""Systems under test, one per LoadGen scenario.

- Offline: the single query is cut into max-batch chunks, each chunk one
  gather into a reused buffer, one predict and one bulk completion, on one
  inference thread (the session's own pool uses the cores).
- Server: arriving samples queue up; each of the SUT's inference threads
  (``workers``) takes whatever has arrived, up to the max batch, as one batch:
  dynamic batching without waiting, so the batch grows with the arrival rate.
  Where batching does not pay (a memory-bound model answered one view at a
  time), several workers on one loaded model keep every core busy; see
  server_workers() for how many.
- SingleStream and MultiStream: inline in IssueQuery, the lowest latency.

The task answers a batch (``task.run``); its response kind says how the
answers are completed: ``fixed`` rows of one array in bulk, ``ragged`` one
array per sample (detections, masks). Token responses have their own SUTs
(generation_sut.py).

Every callback completes every sample it was given, even when the backend
raises: an exception escaping into LoadGen crashes the process at exit, and an
uncompleted sample hangs the run.

Each SUT counts the samples it was issued (``issued``) and completed
(``completed``) for the child's progress report (child.py reads them about
once a second from its own thread). ``issued`` has one writer (LoadGen's issue
thread), so a plain integer increment is enough; ``completed`` too, except in
Server with several workers, where each worker counts its own and the report
sums them: no lock, no I/O on the path a query takes.
"""
from __future__ import annotations

import queue
import sys
import threading
import traceback

import numpy as np

from .batching import plan_batches
from .responses import Completer
from .samples import SampleStore


class _Sut:
    def __init__(self, store: SampleStore, backend, task, max_batchsize: int, completer: Completer):
        self.store, self.backend, self.task = store, backend, task
        self.max_batchsize = max(1, int(max_batchsize))
        self.completer = completer
        self.errors: list[str] = []
        # Per thread: the gather buffer (Server's workers gather at once) and
        # a Server worker's counter index.
        self._local = threading.local()
        # Set from the calibration: answer scattered samples one view at a
        # time instead of gathering them (see calibrate.prefers_single_views).
        self.split_gathers = False
        # The task's response kind chooses the completion: ``fixed`` rows of
        # one result array in bulk, ``ragged`` one array per sample.
        self._ragged = getattr(task, "response_kind", "fixed") == "ragged"
        # Progress counters (see the module docstring): samples issued, completed.
        self.issued = 0
        self.completed = 0

    # LoadGen callbacks -------------------------------------------------
    def issue_queries(self, samples) -> None:
        raise NotImplementedError

    def flush_queries(self) -> None:
        pass

    def stop(self) -> None:
        pass

    # shared work --------------------------------------------------------
    @staticmethod
    def _consecutive(slots: np.ndarray) -> bool:
        return len(slots) == 1 or (int(slots[-1]) - int(slots[0]) == len(slots) - 1 and bool((np.diff(slots) == 1).all()))

    def _predict(self, batch, indices):
        return self.task.run(self.backend, batch, indices)

    def _respond(self, slots: np.ndarray, indices: np.ndarray):
        consecutive = self._consecutive(slots)  # once per batch: the hot path
        if self.split_gathers and not consecutive:
            staged = self.store.staged
            parts = [self._predict(staged[s : s + 1], indices[i : i + 1]) for i, s in enumerate(slots.tolist())]
            return [r for part in parts for r in part] if self._ragged else np.concatenate(parts)
        return self._predict(self._gather(slots, consecutive), indices)

    def _done(self, count: int) -> None:
        self.completed += count

    def _complete(self, ids, values) -> None:
        self._done(len(ids))
        if self._ragged:
            self.completer.complete_ragged(ids, values)
        else:
            self.completer.complete(ids, values)

    def _gather(self, slots: np.ndarray, consecutive: bool | None = None) -> np.ndarray:
        staged = self.store.staged
        n = len(slots)
        first = int(slots[0])
        if self._consecutive(slots) if consecutive is None else consecutive:
            return staged[first : first + n]  # consecutive slots: a view, no copy at all
        if isinstance(staged, list):  # samples of their own shapes (volumes): no stacking
            return [staged[s] for s in slots.tolist()]
        buffer = getattr(self._local, "buffer", None)
        if buffer is None or buffer.shape[1:] != staged.shape[1:] or len(buffer) < n:
            buffer = self._local.buffer = np.empty((max(n, self.max_batchsize),) + staged.shape[1:], dtype=staged.dtype)
        out = buffer[:n]
        np.take(staged, slots, axis=0, out=out)
        return out

    def _infer_and_complete(self, ids, indices: np.ndarray, slots: np.ndarray | None = None) -> None:
        if self.errors:  # after a failure, answer at once so the run ends quickly
            self._done(len(ids))
            self.completer.fail(ids)
            return
        try:
            values = self._respond(self.store.slots(indices) if slots is None else slots, indices)
        except BaseException:  # noqa: BLE001 - must never escape into LoadGen
            self._fail(ids)
            return
        self._complete(ids, values)

    def _fail(self, ids) -> None:
        """Record the exception being handled; answer the samples empty."""
        message = traceback.format_exc()
        self.errors.append(message)
        print(f"SUT error (samples completed empty):\n{message}", file=sys.stderr, flush=True)
        self._done(len(ids))
        self.completer.fail(ids)


def _ids_and_indices(samples):
    ids = [s.id for s in samples]
    indices = np.fromiter((s.index for s in samples), dtype=np.int64, count=len(ids))
    return ids, indices


class InlineSut(_Sut):
    """SingleStream / MultiStream: answer inside IssueQuery."""

    def issue_queries(self, samples) -> None:
        self.issued += len(samples)
        if len(samples) == 1 and not self.errors:
            # SingleStream's hot path: no index arrays, the sample is a view.
            sample = samples[0]
            slot = int(self.store.slot_of[sample.index])
            if slot >= 0:
                try:
                    values = self._predict(self.store.staged[slot : slot + 1], (sample.index,))
                except BaseException:  # noqa: BLE001 - must never escape into LoadGen
                    self._fail([sample.id])
                else:
                    self._done(1)
                    self.completer.complete_one(sample.id, values[0] if self._ragged else values)
                return
        ids, indices = _ids_and_indices(samples)
        for start in range(0, len(ids), self.max_batchsize):
            stop = start + self.max_batchsize
            self._infer_and_complete(ids[start:stop], indices[start:stop])


class _ThreadedSut(_Sut):
    workers = 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, name=f"inference-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)  # one stop per worker
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        raise NotImplementedError


class OfflineSut(_ThreadedSut):
    def issue_queries(self, samples) -> None:
        self.issued += len(samples)
        self._queue.put(_ids_and_indices(samples))

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            ids, indices = item
            try:
                slots = self.store.slots(indices)
            except LookupError:
                slots = None  # let _infer_and_complete report it per batch
            if slots is None:
                for start in range(0, len(ids), self.max_batchsize):
                    stop = start + self.max_batchsize
                    self._infer_and_complete(ids[start:stop], indices[start:stop])
                continue
            for batch in plan_batches(slots, self.max_batchsize):
                self._infer_and_complete([ids[i] for i in batch.tolist()], indices[batch], slots[batch])


class ServerSut(_ThreadedSut):
    """Server: ``workers`` inference threads share one queue of arriving samples.

    Each worker takes whatever has arrived, up to ``batch_limit`` (the max
    batch, or less where one batch's run must fit the latency bound), and
    completes it in one call. Taking one sample at a time instead (so that no worker
    works through a backlog while another waits) was measured worse: 10.4k
    against 12.3-13.4k samples/s at saturation on the resnet50 proxy, 2 workers,
    the queue and completion calls per sample costing more than the balance
    gains.
    """

    def __init__(self, *args, workers: int = 1, **kwargs):
        self.workers = max(1, int(workers))
        # One completion counter per worker (the module docstring): summed on read.
        self._counts = [0] * self.workers
        self._next_slot = iter(range(self.workers))
        super().__init__(*args, **kwargs)
        # The most a worker takes at once; the child lowers it so that one
        # batch's run fits the latency bound (calibrate.server_batch_limit).
        self.batch_limit = self.max_batchsize

    @property
    def completed(self) -> int:
        return sum(self._counts)

    @completed.setter
    def completed(self, value: int) -> None:  # the base class's initial 0
        self._counts = [0] * self.workers
        self._counts[0] = value

    def _done(self, count: int) -> None:
        self._counts[self._local.index] += count

    def issue_queries(self, samples) -> None:
        self.issued += len(samples)
        put = self._queue.put
        for sample in samples:
            put((sample.id, sample.index))

    def _serve(self) -> None:
        self._local.index = next(self._next_slot)  # this worker's counter
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while (first := get()) is not None:
            pending = [first]
            stopping = False
            # Take what has already arrived, up to the max batch: the batch
            # grows with the load instead of waiting on a timer.
            while len(pending) < self.batch_limit:
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                pending.append(item)
            ids = [qid for qid, _ in pending]
            indices = np.fromiter((index for _, index in pending), dtype=np.int64, count=len(pending))
            self._infer_and_complete(ids, indices)
            if stopping:
                return


def server_workers(backend_cls, cores: int, requested: int = 0, per_sample: bool = False) -> int:
    """How many inference threads a Server SUT runs on ``backend_cls``.

    ``requested`` (--mlperf-server-workers) wins. Otherwise, where batching
    does not pay (``per_sample``: the calibration found one view at a time
    faster than gathered batches, calibrate.prefers_single_views) and the
    backend's predict() may be called from several threads at once
    (``concurrent_predict``), one worker per core, at most 4: one worker
    leaves a core idle whenever it is in Python between runs, and runs of
    one sample cannot use a thread pool well. Where batching pays, one
    worker drives the whole pool: its batches finish in about half the time,
    which the latency bound needs (on benchmarks/compute_proxy.py, 2 workers
    of 1 thread each saturated at 1.95k samples/s, one worker of 2 threads
    at 2.1k).
    A backend without concurrent calls (one interpreter, one infer request,
    one executor) always gets one worker.
    """
    if requested:
        return max(1, int(requested))
    if not (per_sample and getattr(backend_cls, "concurrent_predict", False)):
        return 1
    return max(1, min(cores, MAX_AUTO_WORKERS))


MAX_AUTO_WORKERS = 4


SUTS = {
    "Offline": OfflineSut,
    "Server": ServerSut,
    "SingleStream": InlineSut,
    "MultiStream": InlineSut,
}
