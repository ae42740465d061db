"""What a task declares (input and response kinds) chooses staging, completion and SUT behaviour.

Runs the SUTs against a recording stand-in for LoadGen: a ``ragged`` task's
samples are each completed with their own bytes, a ``volumes`` store hands
the task whole volumes of their own shapes, and a declared kind the harness
does not know is refused naming the class.
"""
from __future__ import annotations

import ctypes
import json
from types import SimpleNamespace

import numpy as np
import pytest

from harness.registry.parts import PartError, resolve
from harness.runner.child import staged_source
from harness.runner.responses import Completer
from harness.runner.samples import FirstVolumes, SampleStore, VolumeStore
from harness.runner.spec import RunSpec
from harness.runner.sut import SUTS
from harness.staging import StagedFormatError, Volumes, index_path, save_volumes
from harness.tasks.kinds import Task, TaskKindError, check_kinds


class RecordingLoadGen:
    def __init__(self):
        self.done = {}

    @staticmethod
    def QuerySampleResponse(qid, ptr, size, n_tokens=None):  # noqa: N802 - LoadGen's name
        return SimpleNamespace(id=qid, data=ctypes.string_at(ptr, size) if size else b"")

    def QuerySamplesComplete(self, responses):  # noqa: N802
        self.done.update({r.id: r.data for r in responses})


class Detections(Task):
    """A ragged task: sample i answers i + 1 rows of [qsl_idx, value]."""
    input_kind, response_kind = "stacked", "ragged"
    inputs, outputs = ("x",), ("y",)

    def responses(self, outputs, indices):
        return [np.array([[float(index), float(v)]] * (int(index) + 1), dtype=np.float32)
                for index, v in zip(indices, outputs[0])]


class SumVolumes(Task):
    """A volumes task: each response is one uint8, the volume's sum, whatever its shape."""
    input_kind, response_kind = "volumes", "ragged"

    def run(self, backend, batch, indices):
        return [np.array([int(v.sum()) % 256], dtype=np.uint8) for v in batch]


class Echo:
    def predict(self, feed):
        return [np.asarray(feed["x"]).reshape(len(feed["x"]), -1)[:, 0]]


def _samples(indices):
    return [SimpleNamespace(id=100 + int(i), index=int(i)) for i in indices]


@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream", "MultiStream"])
def test_a_ragged_task_completes_each_sample_with_its_own_bytes(scenario):
    store = SampleStore(np.arange(8, dtype=np.float32).reshape(8, 1) * 10)
    store.load(np.arange(8))
    lg = RecordingLoadGen()
    sut = SUTS[scenario](store, Echo(), Detections(), 4, Completer(lg))
    indices = [5] if scenario == "SingleStream" else [6, 1, 3]
    sut.issue_queries(_samples(indices))
    sut.stop()
    assert not sut.errors
    for index in indices:
        rows = np.frombuffer(lg.done[100 + index], dtype=np.float32).reshape(-1, 2)
        assert len(rows) == index + 1 and (rows[:, 0] == index).all() and (rows[:, 1] == index * 10).all()


def test_volumes_are_staged_flat_and_read_back_in_their_own_shapes(tmp_path):
    volumes = [np.full((2, 3, 4), 1, np.float32), np.full((5, 1, 2), 2, np.float32), np.full((1, 1, 1), 3, np.float32)]
    path = tmp_path / "samples.npy"
    save_volumes(path, volumes)
    read = Volumes(path)
    assert len(read) == 3 and [read.shape(i) for i in range(3)] == [(2, 3, 4), (5, 1, 2), (1, 1, 1)]
    for i, volume in enumerate(volumes):
        assert np.array_equal(read[i], volume)
    assert np.load(path).ndim == 1  # one flat memory map, no pickle, no file per sample
    first = FirstVolumes(read, 2)
    assert len(first) == 2 and [v.shape for v in first[:5]] == [(2, 3, 4), (5, 1, 2)]


def test_a_volume_index_that_points_past_the_data_is_refused(tmp_path):
    path = tmp_path / "samples.npy"
    save_volumes(path, [np.zeros((2, 2, 2), np.float32)])
    np.save(index_path(path), np.array([[4, 2, 2, 2]], dtype=np.int64))
    with pytest.raises(StagedFormatError, match=r"samples.index.npy: offsets reach 12, past the 8 staged values"):
        Volumes(path)
    index_path(path).unlink()
    with pytest.raises(StagedFormatError, match="no samples.index.npy beside it"):
        Volumes(path)


def test_mixed_dtypes_cannot_be_staged_as_volumes(tmp_path):
    with pytest.raises(StagedFormatError, match="volume 1 is float64 rank 3; expected float32 rank 3"):
        save_volumes(tmp_path / "s.npy", [np.zeros((1, 1, 1), np.float32), np.zeros((1, 1, 1), np.float64)])


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_a_volumes_task_gets_whole_volumes_of_their_own_shapes(tmp_path, scenario):
    path = tmp_path / "samples.npy"
    save_volumes(path, [np.full((i + 1, 2, 3), i, np.float32) for i in range(4)])
    spec = RunSpec(case_id="c", conf_model="m", scenario=scenario, mode="accuracy", backend="b", device="cpu",
                   precision="fp32", model_path="m", samples_path=str(path), output_dir=str(tmp_path), task="t:T")
    source = staged_source(spec, "volumes")
    store = VolumeStore(source)
    store.load(np.arange(4))
    lg = RecordingLoadGen()
    sut = SUTS[scenario](store, None, SumVolumes(), 1, Completer(lg))
    indices = [2] if scenario == "SingleStream" else [3, 0, 2]
    sut.issue_queries(_samples(indices))
    sut.stop()
    assert not sut.errors
    for index in indices:
        assert lg.done[100 + index] == bytes([index * (index + 1) * 6 % 256])


def test_an_unknown_kind_is_refused_naming_the_task():
    class Odd(Task):
        input_kind = "graphs"

    with pytest.raises(TaskKindError, match=r"Odd.input_kind is 'graphs'; expected one of stacked, tokens, volumes"):
        check_kinds(Odd())
    check_kinds(Detections())


def test_parts_resolve_from_a_plain_folder_with_relative_imports(tmp_path):
    family = tmp_path / "my-family"
    family.mkdir()
    (family / "helpers.py").write_text("SCALE = 3\n")
    (family / "task.py").write_text("from .helpers import SCALE\n\nclass Scaled:\n    factor = SCALE\n")
    assert resolve("task:Scaled", family).factor == 3
    with pytest.raises(PartError, match=r"my-family/benchmark.toml: task 'task:Missing': .* has no 'Missing'"):
        resolve("task:Missing", family, "task")
    with pytest.raises(PartError, match=r"scorer 'nowhere:Scorer': cannot import nowhere"):
        resolve("nowhere:Scorer", family, "scorer")
