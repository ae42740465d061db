"""The reference-style SUT (benchmarks/reference_sut.py): what it answers, and a real LoadGen run on the null backend."""
from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.reference_sut import ReferenceStyleSut
from harness.logs.runs import run_record

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def recorded(monkeypatch):
    """LoadGen's completion call, recorded (no LoadGen run in this process)."""
    import mlperf_loadgen as lg

    done, lock = [], threading.Lock()

    def complete(responses):
        with lock:
            done.extend((r.id, ctypes.string_at(r.data, r.size)) for r in responses)

    class Response:
        def __init__(self, qid, data, size):
            self.id, self.data, self.size = qid, data, size

    monkeypatch.setattr(lg, "QuerySamplesComplete", complete)
    monkeypatch.setattr(lg, "QuerySampleResponse", Response)
    return done


def test_every_query_is_answered_with_float32_bytes_from_a_copy(recorded):
    samples = np.arange(20, dtype=np.float32).reshape(20, 1, 1) * np.ones((20, 2, 2), dtype=np.float32)
    seen = []

    def predict(batch):
        seen.append(batch)
        return [batch[:, 0, 0].astype(np.int64) + 1000]

    sut = ReferenceStyleSut(predict, samples, threads=2)
    sut.load(range(20))
    for qid, index in enumerate([3, 7, 7, 19, 0]):
        sut.issue_queries([SimpleNamespace(id=qid, index=index)])
    sut.stop()
    answers = {qid: np.frombuffer(data, dtype=np.float32).tolist() for qid, data in recorded}
    assert answers == {0: [1003.0], 1: [1007.0], 2: [1007.0], 3: [1019.0], 4: [1000.0]}
    assert all(len(batch) == 1 for batch in seen)  # Server queries run alone: batch 1
    assert not any(np.shares_memory(batch, samples) for batch in seen)  # each input a fresh copy


def test_an_offline_query_is_cut_into_max_batch_items(recorded):
    samples = np.zeros((70, 1), dtype=np.float32)
    sizes = []

    def predict(batch):
        sizes.append(len(batch))
        return [np.zeros(len(batch), dtype=np.int64)]

    sut = ReferenceStyleSut(predict, samples, threads=1, max_batchsize=32)
    sut.load(range(70))
    sut.issue_queries([SimpleNamespace(id=i, index=i) for i in range(70)])
    sut.stop()
    assert sizes == [32, 32, 6] and len(recorded) == 70


def test_a_failing_run_still_answers_and_is_counted(recorded):
    def predict(batch):
        raise RuntimeError("no model")

    sut = ReferenceStyleSut(predict, np.zeros((4, 1), dtype=np.float32), threads=2)
    sut.load(range(4))
    for i in range(4):
        sut.issue_queries([SimpleNamespace(id=i, index=i)])
    sut.stop()
    assert sorted(qid for qid, _ in recorded) == [0, 1, 2, 3]
    assert len(sut.errors) == 4 and "no model" in sut.errors[0]


# 1,000 queries: LoadGen's early stopping needs 459 at p99 when none is late.
def _reference_run(tmp_path, *extra, conf="resnet50.Server.target_qps = 1000\nresnet50.Server.min_duration = 1000\n"
                   "resnet50.Server.min_query_count = 1000\n"):
    samples = tmp_path / "samples.npy"
    np.save(samples, np.zeros((16, 3, 4, 4), dtype=np.float32))
    user_conf = tmp_path / "user.conf"
    user_conf.write_text(conf)
    command = [sys.executable, "-m", "benchmarks.reference_sut", "--samples", str(samples),
               "--conf-model", "resnet50", "--user-conf", str(user_conf), "--out", str(tmp_path / "logs"), *extra]
    return subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=120)


def test_a_server_run_on_the_null_backend_is_valid(tmp_path):
    done = _reference_run(tmp_path, "--backend", "null", "--threads", "2")
    assert done.returncode == 0, done.stderr
    record = run_record(tmp_path / "logs")
    assert record["effective_scenario"] == "Server"
    assert record["result_validity"] == "VALID"
    assert record["effective_target_qps"] == 1000
    assert record["effective_min_duration_ms"] == 1000


@pytest.mark.parametrize("extra, message", [
    (("--backend", "onnxruntime"), "--model is required"),
    (("--backend", "null", "--threads", "0"), "--threads must be at least 1"),
    (("--backend", "onnxruntime", "--model", "/nonexistent/model.onnx"), "--model /nonexistent/model.onnx: no such file"),
])
def test_bad_arguments_are_named(tmp_path, extra, message):
    done = _reference_run(tmp_path, *extra)
    assert done.returncode != 0
    assert message in done.stderr
