"""Bad values and paths are refused before any case runs, each naming the option or file and line.

Every check here runs the plugin as a user does (a pytest process with the
suite) with ``--collect-only``: the error must come at start, not after runs.
"""
from __future__ import annotations


import pytest

from harness.limits import USER_CONF_RANGES, Range
from harness.output_dir import OutputClaim
from harness.settings import UserConfError, read_user_conf

ORT = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime")


def _run(pytester, *args):
    return pytester.runpytest_subprocess("--collect-only", "-q", *ORT, "--mlperf-cache", str(pytester.path / "cache"),
                                         *args)


@pytest.mark.parametrize("args, expected", [
    (("--mlperf-target-qps", "0"), "--mlperf-target-qps = 0.0: expected a number > 0 and <= 10000000"),
    (("--mlperf-target-qps", "-5"), "--mlperf-target-qps = -5.0: expected a number > 0"),
    (("--mlperf-target-qps", "nan"), "--mlperf-target-qps = nan: expected a number > 0"),
    (("--mlperf-target-qps", "1e12"), "--mlperf-target-qps = 1000000000000.0: expected a number > 0 and <= 10000000"),
    (("--mlperf-target-latency", "0"), "--mlperf-target-latency = 0.0: expected a number > 0 and <= 3600000 (ms)"),
    (("--mlperf-target-latency", "-1"), "--mlperf-target-latency = -1.0: expected a number > 0"),
    (("--mlperf-max-batchsize", "0"), "--mlperf-max-batchsize = 0: expected an integer >= 1 and <= 65536"),
    (("--mlperf-max-batchsize", "-3"), "--mlperf-max-batchsize = -3: expected an integer >= 1"),
    (("--mlperf-threads", "-1"), "--mlperf-threads = -1: expected an integer >= 0 and <= 1024"),
    (("--mlperf-server-workers", "-2"), "--mlperf-server-workers = -2: expected an integer >= 0 and <= 256"),
    (("--mlperf-server-workers", "1000"), "--mlperf-server-workers = 1000: expected an integer >= 0 and <= 256"),
    (("--mlperf-timeout", "0"), "--mlperf-timeout = 0.0: expected a number > 0"),
    (("--mlperf-timeout", "-10"), "--mlperf-timeout = -10.0: expected a number > 0"),
    (("--mlperf-timeout", "inf"), "--mlperf-timeout = inf: expected a number > 0 and <= 604800 (seconds)"),
    (("--mlperf-count", "0"), "--mlperf-count = 0: expected an integer >= 1"),
    (("--mlperf-memory-limit", "1"), "--mlperf-memory-limit = 1: expected an integer >= 64"),
    (("--mlperf-progress", "-1"), "--mlperf-progress = -1.0: expected a number >= 0 and <= 86400"),
    (("--mlperf-progress", "nan"), "--mlperf-progress = nan: expected a number >= 0"),
    (("--mlperf-scenario", ""), "--mlperf-scenario '': empty value; expected a comma-separated list of: Offline"),
    (("--mlperf-precision", "fp32,,int8"), "--mlperf-precision 'fp32,,int8': empty value"),
    (("--mlperf-output", ""), "--mlperf-output: empty path; expected a folder"),
    (("--mlperf-model-path", " "), "--mlperf-model-path: empty path"),
    (("--mlperf-reference-accuracy", "abc"), "--mlperf-reference-accuracy 'abc': 'abc' is not a number"),
    (("--mlperf-reference-accuracy", "-3"), "--mlperf-reference-accuracy '-3': -3.0 must be a positive finite number"),
    (("--mlperf-reference-accuracy", "=3"), "names no metric; expected METRIC=VALUE"),
])
def test_a_bad_option_value_is_a_usage_error_naming_it(suite, args, expected):
    result = _run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert expected in result.stderr.str()
    assert "test_mlperf[" not in result.stdout.str()  # refused before collection


@pytest.mark.parametrize("line, expected", [
    ("resnet50.Server.min_query_count = -3", ":2: resnet50.Server.min_query_count = -3: expected an integer >= 0"),
    ("*.Server.target_qps = 0", ":2: *.Server.target_qps = 0: expected a number > 0 and <= 10000000"),
    ("*.*.target_latency = -1", "expected a number > 0 and <= 3600000 (ms)"),
    ("*.*.min_duration = 1.5", ":2: *.*.min_duration = 1.5: expected an integer >= 0"),
    ("*.*.target_latency_percentile = 100", "expected a number > 0 and < 100 (percent)"),
    ("resnet50.Offine.target_qps = 10", ":2: unknown scenario 'Offine'; valid: *, Offline, Server, SingleStream, MultiStream"),
    ("resnet50.Server.target_qsp = 10", ":2: unknown key 'target_qsp'"),
    ("resnet50.Server.mode = 2", ":2: mode cannot be set here: the test mode is chosen per case"),
    ("resnet50.Server.coalesce_queries = 2", "coalesce_queries = 2: expected 0 or 1"),
    ("resnet50.Server.min_query_count = 10\nresnet50.Server.max_query_count = 5",
     "(resnet50.Server): min_query_count = 10 exceeds max_query_count = 5"),
])
def test_a_bad_user_conf_line_is_refused_naming_file_and_line(suite, line, expected):
    conf = suite.path / "user.conf"
    conf.write_text(f"# a comment\n{line}\n")
    result = _run(suite, "--mlperf-user-conf", str(conf))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--mlperf-user-conf: {conf}" in result.stderr.str()
    assert expected in result.stderr.str()


def test_a_user_conf_that_is_not_text_is_refused(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(UserConfError, match=f"{conf}: cannot read this user.conf"):
        read_user_conf(conf)


def test_every_user_conf_key_has_a_range_that_refuses_negative_and_non_finite_values():
    for key, allowed in USER_CONF_RANGES.items():
        assert isinstance(allowed, Range)
        for bad in (-1, float("nan"), float("inf"), 2**64):
            assert not allowed.accepts(bad), (key, bad)
        assert allowed.accepts(allowed.high if allowed.high_inclusive else allowed.low + (1 if allowed.integer else 0.5)), key


def test_an_output_path_that_is_a_file_is_refused_at_start(suite):
    target = suite.path / "taken"
    target.write_text("a file the user had")
    result = _run(suite, "--mlperf-output", str(target))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--mlperf-output {target}: this is a file; expected a folder*"])
    assert target.read_text() == "a file the user had"  # nothing the user had is touched


def test_an_output_folder_that_cannot_be_created_is_refused_at_start(suite):
    blocked = suite.path / "a-file" / "out"
    (suite.path / "a-file").write_text("")
    result = _run(suite, "--mlperf-output", str(blocked))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--mlperf-output {blocked}: cannot create this folder*"])


def test_an_output_folder_that_cannot_be_written_is_refused_at_start(suite):
    # /proc refuses new files even to root, where file modes would not
    result = _run(suite, "--mlperf-output", "/proc/self")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlperf-output /proc/*: cannot write in this folder*"])


def test_a_cache_path_that_is_a_file_is_refused_at_start(suite):
    cache = suite.path / "cache-file"
    cache.write_text("")
    result = suite.runpytest_subprocess("--collect-only", "-q", *ORT, "--mlperf-cache", str(cache))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--mlperf-cache {cache}: this is a file; expected a folder*"])


def test_an_output_folder_that_holds_a_run_is_refused_and_left_as_it_was(suite):
    out = suite.path / "used"
    out.mkdir()
    (out / "results.json").write_text('{"cases": []}')
    result = _run(suite, "--mlperf-output", str(out))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--mlperf-output {out} already holds a run (results.json)*choose a new folder*"])
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]


def test_a_second_session_into_a_used_folder_is_refused(suite):
    out = suite.path / "out"
    # a real session (its cases skip at once: no TPU here) claims the folder and writes its run
    first = suite.runpytest_subprocess(*ORT, "--mlperf-device", "tpu", "--mlperf-output", str(out),
                                       "--mlperf-cache", str(suite.path / "cache"))
    assert first.ret == 0 and (out / ".mlperf-session").is_file()
    second = _run(suite, "--mlperf-output", str(out))
    assert second.ret == pytest.ExitCode.USAGE_ERROR
    second.stderr.fnmatch_lines(["*already holds a run (results.json)*"])


def test_collect_only_checks_the_folders_but_creates_nothing(suite):
    out, cache = suite.path / "not-yet" / "out", suite.path / "no-cache-yet"
    result = suite.runpytest_subprocess("--collect-only", "-q", *ORT, "--mlperf-output", str(out),
                                        "--mlperf-cache", str(cache))
    assert result.ret == 0
    assert not (suite.path / "not-yet").exists() and not cache.exists()


def test_two_sessions_at_once_never_share_an_output_folder(suite):
    out = suite.path / "shared-out"
    claim = OutputClaim.acquire(out)  # a session that is running now
    try:
        result = _run(suite, "--mlperf-output", str(out))
    finally:
        claim.release()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--mlperf-output {out} is in use by another running session (pid *)*"])
