"""Progress of a long case: the printer (harness/progress.py), the SUT's counters, the child's report,
the parent's poll.

The printer runs on a fake clock and writes into a list; one real child run
(a few seconds of SingleStream on the resnet50 proxy) shows the report
growing while LoadGen runs and ending at the count LoadGen logged.
"""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from harness.progress import CLEAR_TO_EOL, CaseProgress
from harness.runner.launch import PROGRESS_FILE, ProgressPoll, read_progress
from harness.runner.responses import Completer
from harness.runner.samples import SampleStore
from harness.runner.sut import SUTS
from harness.tasks.kinds import Task

CASE = "resnet50-onnxruntime-cpu-fp32-Server-performance"


class FakeClock:
    def __init__(self):
        self.now = 1000.0  # not 0: nothing may assume the clock starts there

    def __call__(self) -> float:
        return self.now


def _printer(is_tty: bool, **kwargs):
    clock, out = FakeClock(), []
    return CaseProgress(CASE, out.append, is_tty, clock=clock, **kwargs), clock, out


def _run_snapshot(seconds: float, queries: int) -> dict:
    return {"token": "t", "phase": "run", "scenario": "Server", "mode": "performance", "elapsed_s": seconds,
            "issued": queries + 3, "completed": queries, "queries": queries, "samples_per_query": 1,
            "min_duration_s": 600.0, "min_query_count": 270336, "samples_total": None}


def _feed(progress, clock, seconds: float, hz: float = 10.0, run_from: float = 3.0):
    """``seconds`` of reports at ``hz``: calibrate first, then the run with its counts growing."""
    start = clock.now
    for step in range(int(seconds * hz) + 1):
        clock.now = start + step / hz
        t = clock.now - start
        if t < run_from:
            progress.update({"token": "t", "phase": "calibrate"})
        else:
            progress.update(_run_snapshot(t - run_from, int((t - run_from) * 14)))


# --- the printer ------------------------------------------------------------------

@pytest.mark.parametrize("is_tty", [False, True])
def test_a_short_case_prints_nothing_at_all(is_tty):
    progress, clock, out = _printer(is_tty)
    progress.phase("provision", "resnet50 proxy")
    _feed(progress, clock, 4.9)
    progress.phase("score")
    progress.close("passed")
    assert out == []


def test_a_long_case_in_a_log_prints_a_line_then_one_per_interval():
    clock, out, times = FakeClock(), [], []
    start = clock.now

    def write(text):
        times.append(clock.now - start)  # when each line came
        out.append(text)

    progress = CaseProgress(CASE, write, False, clock=clock)
    _feed(progress, clock, 300.0)
    assert 1 <= len(out) <= 11, out
    assert times[0] == pytest.approx(5.0)  # the first line as soon as the case counts as long
    assert all(b - a >= 30.0 - 1e-9 for a, b in zip(times, times[1:])), times
    for line in out:
        assert line.endswith("\n") and line.count("\n") == 1 and "\r" not in line
        pattern = rf"{re.escape(CASE)}: run ([\d,]+) / 270,336 min queries, ([\d.]+) s / 600 s min duration\n"
        assert re.fullmatch(pattern, line), line
    # the counts and the elapsed time are the latest reported, not the first
    last = re.search(r"run ([\d,]+) .*, ([\d.]+) s /", out[-1])
    assert int(last.group(1).replace(",", "")) > 3000 and float(last.group(2)) > 250.0
    progress.close("passed")
    assert out[-1] == f"{CASE}: passed after 300 s\n"


def test_phase_changes_in_a_log_are_shown_at_most_once_per_interval():
    progress, clock, out = _printer(False, interval_s=30.0)
    start = clock.now
    for step in range(1201):  # 120 s of a phase change every 0.1 s
        clock.now = start + step / 10
        progress.phase(("load", "calibrate")[step % 2])
    # at most a heartbeat and one phase change per 30 s after the first line at 5 s
    assert 1 <= len(out) <= 2 * 4 + 1, out
    assert all(line.startswith(f"{CASE}: ") and line.rstrip("\n").endswith(" s") for line in out)


def test_a_long_case_on_a_terminal_rewrites_one_line_and_clears_it_at_close():
    progress, clock, out = _printer(True, width=200, tty_interval_s=0.25)
    _feed(progress, clock, 25.0)
    # 20 s of display at most 4 times a second: the 10 Hz feed is thinned out
    assert 40 <= len(out) <= 20 * 4 + 1, len(out)
    for text in out:
        assert text.startswith("\r") and text.endswith(CLEAR_TO_EOL) and "\n" not in text
        assert text[1:].startswith(f"{CASE}: ")
    assert re.search(r"run [\d,]+ / 270,336 min queries, 2[12]\.\d s / 600 s min duration", out[-1]), out[-1]
    progress.close("passed")
    assert out[-1] == "\r" + CLEAR_TO_EOL
    progress.update(_run_snapshot(30.0, 500))  # a report after close shows nothing
    assert out[-1] == "\r" + CLEAR_TO_EOL


def test_the_terminal_line_never_wraps():
    progress, clock, out = _printer(True, width=40)
    clock.now += 6.0
    progress.update(_run_snapshot(12.0, 4213))
    assert len(out) == 1 and len(out[0]) == len("\r") + 39 + len(CLEAR_TO_EOL)


@pytest.mark.parametrize("snapshot, expected", [
    ({"scenario": "Offline", "mode": "performance", "samples_per_query": None, "issued": 24576, "completed": 12345,
      "elapsed_s": 12.34, "min_duration_s": 600.0, "min_query_count": 24576},
     "run 12,345 / 24,576 samples, 12.3 s / 600 s min duration"),
    ({"scenario": "SingleStream", "mode": "accuracy", "samples_per_query": 1, "samples_total": 50000, "issued": 1235,
      "completed": 1234, "queries": 1234, "elapsed_s": 3.0, "min_duration_s": None, "min_query_count": None},
     "run 1,234 / 50,000 samples, 3.0 s"),
    ({"scenario": "MultiStream", "mode": "performance", "samples_per_query": 8, "issued": 808, "completed": 800,
      "queries": 100, "elapsed_s": 1.0, "min_duration_s": 0, "min_query_count": 662},
     "run 100 / 662 min queries, 1.0 s"),
])
def test_a_run_is_counted_in_the_unit_that_ends_it(snapshot, expected):
    progress, clock, out = _printer(False, quiet_s=0)
    progress.update({"phase": "run", **snapshot})
    assert out == [f"{CASE}: {expected}\n"]


def test_a_parent_phase_shows_its_detail_and_the_case_time():
    progress, clock, out = _printer(False)
    clock.now += 7.0
    progress.phase("provision", "downloading resnet50_v1.onnx")
    assert out == [f"{CASE}: provision (downloading resnet50_v1.onnx), 7 s\n"]


def test_a_negative_interval_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"interval_s=-1: expected seconds >= 0"):
        CaseProgress(CASE, print, False, interval_s=-1)


# --- the SUT's counters -------------------------------------------------------------

class _Responses:
    """A stand-in for mlperf_loadgen that records which samples were completed."""

    def __init__(self):
        self.completed: list[int] = []

    @staticmethod
    def QuerySampleResponse(qid, ptr, size, n_tokens=None):  # noqa: N802 - LoadGen's name
        return qid

    def QuerySamplesComplete(self, responses):  # noqa: N802
        self.completed.extend(responses)


class _Scores(Task):
    inputs, outputs = ("x",), ("y",)

    def responses(self, outputs, indices):
        return np.ascontiguousarray(outputs[0])


class _Doubling:
    def __init__(self, fail: bool = False):
        self.fail = fail

    def predict(self, feed):
        if self.fail:
            raise RuntimeError("injected")
        return [np.asarray(feed["x"]) * 2]


@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream", "MultiStream"])
@pytest.mark.parametrize("fail", [False, True])
def test_each_sut_counts_what_it_was_issued_and_completed(scenario, fail, capsys):
    store = SampleStore(np.arange(16, dtype=np.float32).reshape(16, 1))
    store.load(np.arange(16))
    lg = _Responses()
    sut = SUTS[scenario](store, _Doubling(fail), _Scores(), 4, Completer(lg))
    queries = [[3]] * 5 if scenario in ("SingleStream", "Server") else [[1, 2, 3, 9, 10, 11, 12, 15, 0]]
    ids = iter(range(1000))
    for query in queries:
        sut.issue_queries([SimpleNamespace(id=next(ids), index=i) for i in query])
    sut.stop()  # the threaded SUTs: every queued sample answered
    total = sum(len(q) for q in queries)
    assert sut.issued == total
    assert sut.completed == len(lg.completed) == total
    assert bool(sut.errors) == fail


# --- the parent's poll -------------------------------------------------------------

class Recorder:
    """A progress sink that keeps what it was told."""

    def __init__(self, forward=None):
        self.phases: list[tuple[str, str | None]] = []
        self.snapshots: list[dict] = []
        self.forward = forward

    def phase(self, name, detail=None):
        self.phases.append((name, detail))
        if self.forward:
            self.forward.phase(name, detail)

    def update(self, snapshot):
        self.snapshots.append(snapshot)
        if self.forward:
            self.forward.update(snapshot)


def _write_report(folder, **report):
    (folder / PROGRESS_FILE).write_text(json.dumps(report))


def test_a_stale_report_from_an_earlier_run_is_not_shown(tmp_path):
    _write_report(tmp_path, token="earlier-run", phase="run", completed=987654)
    sink = Recorder()
    poll = ProgressPoll(tmp_path, "this-run", sink)
    poll.poll(force=True)
    assert read_progress(tmp_path, "this-run") is None
    assert sink.snapshots == []
    _write_report(tmp_path, token="this-run", phase="load", child_s=0.5)
    poll.poll(force=True)
    assert sink.snapshots == [{"token": "this-run", "phase": "load", "child_s": 0.5}]
    poll.poll(force=True)  # the same report again: not handed on twice
    assert len(sink.snapshots) == 1


def test_a_half_written_report_is_skipped_until_it_is_whole(tmp_path):
    (tmp_path / PROGRESS_FILE).write_text('{"token": "this-run", "pha')
    sink = Recorder()
    poll = ProgressPoll(tmp_path, "this-run", sink)
    poll.poll(force=True)
    assert sink.snapshots == []
    _write_report(tmp_path, token="this-run", phase="calibrate")
    poll.poll(force=True)
    assert [s["phase"] for s in sink.snapshots] == ["calibrate"]


def test_the_file_is_read_at_most_once_per_poll_interval(tmp_path):
    clock = FakeClock()
    sink = Recorder()
    poll = ProgressPoll(tmp_path, "r", sink, every_s=1.0, clock=clock)
    _write_report(tmp_path, token="r", phase="load")
    poll.poll()
    _write_report(tmp_path, token="r", phase="calibrate", child_s=2)
    clock.now += 0.5
    poll.poll()  # too soon: not read
    assert [s["phase"] for s in sink.snapshots] == ["load"]
    clock.now += 0.5
    poll.poll()
    assert [s["phase"] for s in sink.snapshots] == ["load", "calibrate"]


# --- one real run ------------------------------------------------------------------

RUN_S = 3.0


def test_a_real_run_reports_its_phases_and_counts_while_it_goes(proxy_resnet50, tmp_path):
    from harness.case_run import execute_case
    from harness.logs.detail import parse_detail
    from harness.matrix import Case
    from harness.options import RunOptions
    from harness.registry import load_registry

    bench = load_registry()["resnet50"]
    case = Case("resnet50", "onnxruntime", "cpu", "fp32", "SingleStream", "performance")
    # A minimum duration of a few seconds: long enough for several reports during the run.
    user_conf = tmp_path / "user.conf"
    user_conf.write_text(f"{bench.conf_model}.SingleStream.min_duration = {int(RUN_S * 1000)}\n")
    log_dir = tmp_path / "case"
    log_dir.mkdir()
    _write_report(log_dir, token="earlier-run", phase="run", completed=987654, queries=987654)
    lines: list[str] = []
    sink = Recorder(forward=CaseProgress(case.id, lines.append, False, quiet_s=0.0, interval_s=0.5))

    execute_case(case, bench, proxy_resnet50, RunOptions(user_conf=user_conf, timeout_s=300), log_dir, progress=sink)
    sink.forward.close("done")

    assert sink.phases[0] == ("start", None) and sink.phases[-1][0] == "score"
    assert all(s["token"] != "earlier-run" and s.get("completed") != 987654 for s in sink.snapshots)
    seen = [s["phase"] for s in sink.snapshots]
    order = ["start", "load", "calibrate", "run"]
    assert "run" in seen and [order.index(p) for p in seen] == sorted(order.index(p) for p in seen), seen
    runs = [s for s in sink.snapshots if s["phase"] == "run"]
    counts = [s["completed"] for s in runs]
    assert len(runs) >= 2 and counts == sorted(counts) and counts[0] < counts[-1], counts
    assert all(s["queries"] == s["completed"] and s["issued"] >= s["completed"] for s in runs)
    detail = parse_detail(log_dir / "mlperf_log_detail.txt").values
    final = runs[-1]
    assert final["queries"] == final["issued"] == detail["result_query_count"]
    assert final["min_duration_s"] == RUN_S and final["min_query_count"] == detail["effective_min_query_count"]
    assert final["elapsed_s"] >= RUN_S
    # the file the child left is whole JSON, this run's
    assert json.loads((log_dir / PROGRESS_FILE).read_text())["token"] == final["token"]
    # the printer made lines of these reports, naming the case
    assert any(re.match(rf"{re.escape(case.id)}: run [\d,]+ / [\d,]+ min queries, [\d.]+ s / 3 s min duration", line)
               for line in lines), lines
