"""Progress of a long case as a user sees it in a CI log: a few lines naming the case, never a flood."""
from __future__ import annotations

import re

import pytest

CASE = "resnet50-onnxruntime-cpu-fp32-SingleStream-performance"
SELECT = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "cpu",
          "--mlperf-precision", "fp32", "--mlperf-scenario", "SingleStream", "--mlperf-mode", "performance")
LINE = re.compile(rf"^{re.escape(CASE)}: run [\d,]+ / [\d,]+ min queries, [\d.]+ s / 9 s min duration$", re.M)


@pytest.fixture
def nine_second_conf(cached_suite):
    conf = cached_suite.path / "nine-seconds.conf"
    conf.write_text("*.SingleStream.min_duration = 9000\n")
    return conf


def _run(suite, conf, *args):
    return suite.runpytest_subprocess(*SELECT, "--mlperf-user-conf", str(conf), "--mlperf-cache", str(suite.cache_dir),
                                      *args)


def test_a_long_case_prints_a_line_per_interval_naming_its_phase_and_progress(cached_suite, nine_second_conf):
    result = _run(cached_suite, nine_second_conf, "--mlperf-progress", "2", "--mlperf-output",
                  str(cached_suite.path / "out"))
    assert result.ret == 0, result.stdout.str()
    text = result.stdout.str()
    lines = LINE.findall(text)
    # quiet for the first 5 s, then one line per 2 s of a run of about 9 s (plus set-up): a handful
    assert 1 <= len(lines) <= 8, text
    queries = [int(re.search(r"run ([\d,]+) /", line).group(1).replace(",", "")) for line in lines]
    assert queries == sorted(queries)
    assert re.search(rf"^{re.escape(CASE)}: passed after \d+ s$", text, re.M), text


def test_progress_zero_prints_nothing(cached_suite, nine_second_conf):
    result = _run(cached_suite, nine_second_conf, "--mlperf-progress", "0", "--mlperf-output",
                  str(cached_suite.path / "out"))
    assert result.ret == 0, result.stdout.str()
    assert f"{CASE}: run" not in result.stdout.str()
    assert f"{CASE}: passed after" not in result.stdout.str()


def test_under_xdist_the_worker_prints_its_lines_to_the_session_log(cached_suite, nine_second_conf):
    pytest.importorskip("xdist", reason="the distributed variant needs pytest-xdist")
    result = _run(cached_suite, nine_second_conf, "-n", "2", "--mlperf-progress", "2", "--mlperf-output",
                  str(cached_suite.path / "out"))
    assert result.ret == 0, result.stdout.str()
    lines = LINE.findall(result.stderr.str())
    assert 1 <= len(lines) <= 8, result.stderr.str()
