"""A reference-style system under test: the baseline ``make bench-overhead`` compares with.

It serves LoadGen the way the MLPerf reference harness's Python SUT is
documented to (vision/classification_and_detection/python/main.py, its
QueueRunner with ``--threads N``), written here from that description:

- IssueQuery (on LoadGen's issue thread) builds each query's input with a
  fresh copy of its samples (``np.array`` of the loaded arrays) and puts one
  item per query on a bounded queue (``maxsize = 4 * threads``);
- N Python worker threads take one item each, run it through one shared
  session created with default options (ONNX Runtime's ``SessionOptions()``:
  its own thread count and spinning), post-process every result into a
  float32 byte array and complete the query's samples in one call.

In Server a query is one sample, so every run is batch 1. One LoadGen run per
process (LoadGen's logger is process-wide):

    python -m benchmarks.reference_sut --model M.onnx --samples S.npy \
        --conf-model resnet50 --scenario Server --user-conf user.conf --out DIR
"""
from __future__ import annotations

import argparse
import array
import queue
import sys
import threading
from pathlib import Path

import numpy as np

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")


def default_session(model_path: str):
    """One ONNX Runtime session with default options, as the reference creates it."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model_path, onnxruntime.SessionOptions(),
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})


def null_predict(batch: np.ndarray):
    """Computes nothing: the reference-style harness's own ceiling."""
    return [np.zeros(len(batch), dtype=np.int64)]


class ReferenceStyleSut:
    def __init__(self, predict, samples: np.ndarray, threads: int = 2, max_batchsize: int = 32):
        if threads < 1:
            raise ValueError(f"--threads must be at least 1, got {threads}")
        self.predict, self.samples, self.max_batchsize = predict, samples, max_batchsize
        self.loaded: dict[int, np.ndarray] = {}
        self.tasks: queue.Queue = queue.Queue(maxsize=threads * 4)
        self.errors: list[str] = []
        self.workers = [threading.Thread(target=self._handle_tasks, daemon=True) for _ in range(threads)]
        for worker in self.workers:
            worker.start()

    # the query sample library ------------------------------------------
    def load(self, indices) -> None:
        for index in indices:
            self.loaded[int(index)] = np.array(self.samples[int(index)])

    def unload(self, indices) -> None:
        for index in indices:
            self.loaded.pop(int(index), None)

    # LoadGen's callbacks ---------------------------------------------
    def issue_queries(self, query_samples) -> None:
        ids = [q.id for q in query_samples]
        indices = [q.index for q in query_samples]
        # Offline's one large query is cut into max-batch items; Server's
        # one-sample queries stay one item each.
        for start in range(0, len(ids), self.max_batchsize):
            chunk = indices[start:start + self.max_batchsize]
            data = np.array([self.loaded[i] for i in chunk])  # a fresh copy, as get_samples makes
            self.tasks.put((ids[start:start + self.max_batchsize], data))

    def flush_queries(self) -> None:
        pass

    def stop(self) -> None:
        for _ in self.workers:
            self.tasks.put(None)
        for worker in self.workers:
            worker.join()

    def _handle_tasks(self) -> None:
        import mlperf_loadgen as lg

        while (item := self.tasks.get()) is not None:
            ids, data = item
            try:
                results = self.predict(data)
                processed = [[results[0][i]] for i in range(len(ids))]
            except Exception as exc:  # noqa: BLE001 - counted and reported; LoadGen must get its answers
                self.errors.append(repr(exc))
                processed = [[0] for _ in ids]
            keep, responses = [], []
            for i, qid in enumerate(ids):
                values = array.array("B", np.array(processed[i], np.float32).tobytes())
                keep.append(values)  # alive until LoadGen has copied the bytes
                address, length = values.buffer_info()
                responses.append(lg.QuerySampleResponse(qid, address, length))
            lg.QuerySamplesComplete(responses)


def run(args) -> int:
    import mlperf_loadgen as lg

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = np.load(args.samples, mmap_mode="r")
    predict = null_predict if args.backend == "null" else default_session(args.model)
    sut = ReferenceStyleSut(predict, samples, args.threads, args.max_batchsize)

    settings = lg.TestSettings()
    settings.FromConfig(str(args.user_conf), args.conf_model, args.scenario, 1)
    settings.scenario = getattr(lg.TestScenario, args.scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False  # the reference's default (no --debug)

    count = min(args.performance_sample_count, len(samples))
    qsl = lg.ConstructQSL(len(samples), count, sut.load, sut.unload)
    lg_sut = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
    try:
        lg.StartTestWithLogSettings(lg_sut, qsl, settings, log_settings)
    finally:
        sut.stop()
        lg.DestroySUT(lg_sut)
        lg.DestroyQSL(qsl)
    if sut.errors:
        print(f"reference-style SUT: {len(sut.errors)} failed run(s), first: {sut.errors[0]}", file=sys.stderr)
        return 3
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference_sut", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="ONNX model file (not with --backend null)")
    parser.add_argument("--samples", required=True, help="preprocessed samples, one .npy in the model's layout")
    parser.add_argument("--backend", choices=("onnxruntime", "null"), default="onnxruntime")
    parser.add_argument("--conf-model", required=True, help="the model name mlperf.conf and user.conf use")
    parser.add_argument("--scenario", choices=SCENARIOS, default="Server")
    parser.add_argument("--user-conf", required=True, help="LoadGen user.conf, the same as the other side's")
    parser.add_argument("--out", required=True, help="folder for LoadGen's logs")
    parser.add_argument("--threads", type=int, default=2, help="worker threads (the reference's --threads)")
    parser.add_argument("--max-batchsize", type=int, default=32)
    parser.add_argument("--performance-sample-count", type=int, default=1024)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backend == "onnxruntime" and not args.model:
        parser.error("--model is required with --backend onnxruntime")
    if args.threads < 1 or args.max_batchsize < 1:
        parser.error(f"--threads must be at least 1 (got {args.threads}), "
                     f"--max-batchsize too (got {args.max_batchsize})")
    for flag, path in (("--samples", args.samples), ("--user-conf", args.user_conf), ("--model", args.model)):
        if path and not Path(path).is_file():
            parser.error(f"{flag} {path}: no such file")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
