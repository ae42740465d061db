"""Generation SUTs against a recording stand-in for LoadGen: every sample is
completed with its own tokens (and count), first tokens are streamed before
completion, and a failing generator still completes every sample."""
from __future__ import annotations

import ctypes
from types import SimpleNamespace

import numpy as np
import pytest

from harness.runner.generation_sut import GENERATION_SUTS
from harness.runner.responses import Completer
from harness.runner.samples import SampleStore
from harness.tasks.text_generation import PAD, TextGeneration, pad_prompts


class RecordingLoadGen:
    def __init__(self):
        self.events = []  # ("first" | "done", id, tokens, n_tokens)

    @staticmethod
    def QuerySampleResponse(qid, ptr, size, n_tokens=None):  # noqa: N802 - LoadGen's name
        data = ctypes.string_at(ptr, size) if size else b""
        return SimpleNamespace(id=qid, data=data, n_tokens=n_tokens)

    def QuerySamplesComplete(self, responses):  # noqa: N802
        self.events += [("done", r.id, r.data, r.n_tokens) for r in responses]

    def FirstTokenComplete(self, responses):  # noqa: N802
        self.events += [("first", r.id, r.data, r.n_tokens) for r in responses]


class ReversingGenerator:
    """Answers each prompt with its tokens reversed; streams the first ones."""

    def __init__(self, fail=False):
        self.fail, self.batches = fail, []

    def generate(self, prompts, decoding, on_first_tokens=None):
        if self.fail:
            raise RuntimeError("decoder exploded")
        self.batches.append(len(prompts))
        outputs = [p[::-1].copy() for p in prompts]
        if on_first_tokens is not None:
            on_first_tokens(np.array([o[0] for o in outputs]))
        return outputs


PROMPTS = [np.arange(1, n + 1, dtype=np.int64) * 10 + n for n in (3, 5, 2, 4)]


def _run(scenario, task, generator):
    lg = RecordingLoadGen()
    store = SampleStore(pad_prompts(PROMPTS))
    store.load(np.arange(len(PROMPTS)))
    sut = GENERATION_SUTS[scenario](store, generator, task, 2, Completer(lg))
    samples = [SimpleNamespace(id=100 + i, index=i) for i in range(len(PROMPTS))]
    sut.issue_queries(samples)
    sut.stop()
    return lg.events, sut


def _decode(data, dtype):
    return np.frombuffer(data, dtype=dtype).tolist()


@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream"])
def test_every_sample_gets_its_own_tokens_and_count(scenario):
    task = TextGeneration(response_dtype="int32", report_n_tokens=True)
    events, sut = _run(scenario, task, ReversingGenerator())
    done = {qid: (data, n) for kind, qid, data, n in events if kind == "done"}
    assert sorted(done) == [100, 101, 102, 103]
    for i, prompt in enumerate(PROMPTS):
        data, n_tokens = done[100 + i]
        assert _decode(data, np.int32) == prompt[::-1].tolist()
        assert n_tokens == len(prompt)
    assert not sut.errors


def test_int64_responses_without_counts_as_gptj():
    events, _ = _run("Offline", TextGeneration(response_dtype="int64"), ReversingGenerator())
    data = {qid: (d, n) for kind, qid, d, n in events if kind == "done"}
    assert _decode(data[101][0], np.int64) == PROMPTS[1][::-1].tolist()
    assert data[101][1] is None


def test_first_tokens_are_streamed_before_completion():
    task = TextGeneration(response_dtype="int32", report_n_tokens=True, stream_first_token=True)
    events, _ = _run("Server", task, ReversingGenerator())
    for i, prompt in enumerate(PROMPTS):
        kinds = [kind for kind, qid, _, _ in events if qid == 100 + i]
        assert kinds == ["first", "done"]
        first = next(d for kind, qid, d, _ in events if kind == "first" and qid == 100 + i)
        assert _decode(first, np.int32) == [int(prompt[-1])]


def test_the_late_first_token_mutation_still_reports_it_before_completion():
    task = TextGeneration(response_dtype="int32", stream_first_token=True, first_token_with_last=True)
    events, _ = _run("Server", task, ReversingGenerator())
    assert [kind for kind, qid, _, _ in events if qid == 100] == ["first", "done"]


def test_a_failing_generator_completes_every_sample_empty():
    events, sut = _run("Offline", TextGeneration(), ReversingGenerator(fail=True))
    done = [(qid, data) for kind, qid, data, _ in events if kind == "done"]
    assert sorted(qid for qid, _ in done) == [100, 101, 102, 103]
    assert all(data == b"" for _, data in done)
    assert sut.errors and "decoder exploded" in sut.errors[0]


def test_padding_is_stripped_from_staged_prompts():
    staged = pad_prompts(PROMPTS)
    assert staged.shape == (4, 5) and (staged[2, 2:] == PAD).all()
    assert [p.tolist() for p in TextGeneration.prompts(staged)] == [p.tolist() for p in PROMPTS]
