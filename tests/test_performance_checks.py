"""Performance checks and summary/detail consistency, on published runs, on
genuine LoadGen runs, and on doctored copies that must fail."""

from __future__ import annotations

import json
import re

import pytest

from harness.checks.performance import CheckFailure, check_performance, format_failures
from harness.logs.runs import run_record, same_printed_number
from harness.logs.summary import parse_summary

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf

PERFORMANCE = [("Offline", "PerformanceOnly"), ("SingleStream", "PerformanceOnly"), ("Server", "PerformanceOnly")]
ACCURACY = ("Offline", "AccuracyOnly")


@pytest.fixture(scope="module")
def genuine(tmp_path_factory):
    """Log folders of real LoadGen runs on an instant SUT (read-only: copy before editing)."""
    return lf.loadgen_runs(tmp_path_factory.getbasetemp() / "loadgen", PERFORMANCE + [ACCURACY])


def doctored(genuine, scenario, tmp_path):
    return lf.copy_run(genuine[(scenario, "PerformanceOnly")], tmp_path / f"{scenario}-doctored")


def assert_metric_matches_summary(record: dict) -> None:
    """The scenario's MLPerf metric in the detail log equals what the summary prints."""
    summary = record["summary"]
    scenario = record["effective_scenario"]
    # The detail log prints six significant digits, the summary two decimals.
    close = dict(rel=1e-5, abs=0.005)
    if scenario == "Offline":
        assert record["result_samples_per_second"] == pytest.approx(summary["samples_per_second"], **close)
        if record.get("result_tokens_per_second") is not None:
            assert record["result_tokens_per_second"] == pytest.approx(summary["tokens_per_second"], **close)
    elif scenario == "Server":
        assert record["result_completed_samples_per_sec"] == pytest.approx(
            summary["completed_samples_per_second"], **close)
        if record.get("result_completed_tokens_per_second") is not None:
            assert record["result_completed_tokens_per_second"] == pytest.approx(
                summary["completed_tokens_per_second"], **close)
    else:
        target = round(100 * record["effective_target_latency_percentile"], 4)
        per_query = "_per_query" if scenario == "MultiStream" else ""
        latency_key = f"result_{target:.2f}_percentile{per_query}_latency_ns"
        printed_latency = [v for k, v in summary.items()
                           if re.fullmatch(r"[\d.]+th_percentile_latency_ns", k)]
        assert printed_latency == [record[latency_key]]
        estimates = {float(m[1]): v for k, v in summary.items()
                     if (m := re.fullmatch(r"early_stopping_([\d.]+?)(?:th)?_percentile_estimate", k))}
        metric = "early_stopping_latency_ss" if scenario == "SingleStream" else "early_stopping_latency_ms"
        assert estimates[target] == record[metric]


# ---------------------------------------------------------------- published runs

@pytest.mark.parametrize("run_dir", lf.real_run_params(performance_only=True))
def test_published_performance_run_passes(run_dir):
    record = run_record(run_dir)
    assert record["is_performance"]
    assert record["result_validity"] == "VALID"
    assert record["consistent"], record["inconsistencies"]
    failures = check_performance(record)
    assert failures == [], format_failures(failures)
    assert_metric_matches_summary(record)


@pytest.mark.parametrize("run_dir", lf.real_run_params())
def test_published_run_summary_agrees_with_detail(run_dir):
    record = run_record(run_dir)
    assert record["consistent"], record["inconsistencies"]
    assert record["num_errors"] == record["summary"]["num_errors"] == 0


def test_folder_name_does_not_decide_the_mode():
    run_dir = lf.REAL_LOGS / "closed/AMD/results/1xMI300X_2xEPYC-9374F/llama2-70b-99/Server/accuracy"
    if not run_dir.is_dir():
        pytest.skip(lf.REAL_LOGS_MISSING)
    record = run_record(run_dir)
    assert (record["effective_scenario"], record["effective_test_mode"]) == ("Offline", "PerformanceOnly")
    assert record["is_performance"] is True


# ---------------------------------------------------------------- genuine LoadGen runs

@pytest.mark.parametrize("key", PERFORMANCE, ids=[s for s, _ in PERFORMANCE])
def test_genuine_performance_run_is_valid_and_consistent(genuine, key):
    record = run_record(genuine[key])
    assert (record["effective_scenario"], record["effective_test_mode"]) == key
    assert record["is_performance"] is True
    failures = check_performance(record)
    assert failures == [], format_failures(failures)
    assert record["consistent"] and record["inconsistencies"] == []
    assert record["summary"]["result_is"] == "VALID"
    assert_metric_matches_summary(record)


def test_genuine_accuracy_run_is_not_a_performance_run(genuine):
    record = run_record(genuine[ACCURACY])
    assert record["effective_test_mode"] == "AccuracyOnly" and record["is_performance"] is False
    assert record["result_validity"] is None
    assert "result_is" not in record["summary"]
    assert record["summary"]["num_errors"] == record["num_errors"] == 0
    assert record["consistent"], record["inconsistencies"]
    failures = check_performance(record)
    assert [f.check for f in failures] == ["performance_run"]
    assert failures[0].actual == "AccuracyOnly"
    # Accuracy mode issues every sample once, each answered with one float32 (1.0).
    entries = json.loads((genuine[ACCURACY] / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(record["qsl_reported_total_count"]))
    assert {e["data"] for e in entries} == {"0000803F"}


# ---------------------------------------------------------------- doctored copies

@pytest.mark.parametrize(
    ("scenario", "key", "label"),
    [
        ("Offline", "result_min_duration_met", "Min duration satisfied"),
        ("Offline", "result_min_queries_met", "Min queries satisfied"),
        ("SingleStream", "early_stopping_met", "Early stopping satisfied"),
        ("Server", "result_perf_constraints_met", "Performance constraints satisfied"),
    ],
)
def test_invalid_run_fails_naming_the_broken_condition(genuine, tmp_path, scenario, key, label):
    run = doctored(genuine, scenario, tmp_path)
    lf.set_detail_value(run, "result_validity", "INVALID")
    lf.set_detail_value(run, key, False)
    lf.set_summary_line(run, "Result is", "INVALID")
    lf.set_summary_line(run, label, "NO")

    record = run_record(run)
    assert record["consistent"], record["inconsistencies"]  # both files were doctored alike
    failures = check_performance(record)
    assert {f.check for f in failures} == {"result_validity", key}
    broken = next(f for f in failures if f.check == key)
    assert (broken.expected, broken.actual, broken.path) == (True, False, record["path"])
    message = format_failures(failures)
    assert key in message and record["path"] in message and "INVALID" in message


def test_offline_has_no_early_stopping_or_latency_condition(genuine, tmp_path):
    run = doctored(genuine, "Offline", tmp_path)
    lf.set_detail_value(run, "early_stopping_met", False)
    lf.set_summary_line(run, "Early stopping satisfied", "NO")
    record = run_record(run)
    assert record["result_perf_constraints_met"] is None
    assert check_performance(record) == []


@pytest.mark.parametrize("summary_too", [True, False], ids=["summary-counts-it", "summary-says-no-errors"])
def test_loadgen_error_fails_no_errors(genuine, tmp_path, summary_too):
    run = doctored(genuine, "Offline", tmp_path)
    lf.append_detail_line(run, "error_runtime", "Ran out of generated queries to issue", is_error=True)
    if summary_too:
        lf.set_detail_value(run, "num_errors", 1)  # LoadGen 6 also logs its own count
        lf.replace_summary_text(run, "No errors encountered during test.", "1 ERROR encountered. See detailed log.")

    record = run_record(run)
    assert record["num_errors"] == 1
    assert record["error_messages"] == ["Ran out of generated queries to issue"]
    failures = check_performance(record)
    expected = {"no_errors"} if summary_too else {"no_errors", "consistent"}
    assert {f.check for f in failures} == expected
    no_errors = next(f for f in failures if f.check == "no_errors")
    assert "Ran out of generated queries to issue" in no_errors.message
    assert (no_errors.expected, no_errors.actual) == (0, 1)


def test_logged_error_count_must_match_flagged_lines(genuine, tmp_path):
    run = doctored(genuine, "Offline", tmp_path)
    lf.set_detail_value(run, "num_errors", 2)
    record = run_record(run)
    assert record["num_errors"] == 0  # counted from is_error, not taken from the log's claim
    assert record["consistent"] is False
    assert "num_errors=2" in record["inconsistencies"][0]


@pytest.mark.parametrize(
    ("scenario", "label", "summary_key"),
    [
        ("Offline", "Samples per second", "samples_per_second"),
        ("Server", "Completed samples per second", "completed_samples_per_second"),
        ("SingleStream", "90.0th percentile latency (ns)", "90.0th_percentile_latency_ns"),
        ("SingleStream", "99.00 percentile latency (ns)", "99.00_percentile_latency_ns"),
        ("SingleStream", "Max latency (ns)", "max_latency_ns"),
        ("SingleStream", "QPS w/o loadgen overhead", "qps_without_loadgen_overhead"),
        ("Server", "Scheduled samples per second", "scheduled_samples_per_second"),
    ],
)
def test_summary_figure_that_disagrees_is_inconsistent(genuine, tmp_path, scenario, label, summary_key):
    run = doctored(genuine, scenario, tmp_path)
    printed = parse_summary(run / "mlperf_log_summary.txt").texts[summary_key]
    lf.set_summary_line(run, label, str(round(float(printed) * 1.01 + 1, 2)))

    record = run_record(run)
    assert record["consistent"] is False
    assert len(record["inconsistencies"]) == 1 and summary_key in record["inconsistencies"][0]
    assert [f.check for f in check_performance(record)] == ["consistent"]


@pytest.mark.parametrize(
    ("label", "value", "summary_key"),
    [
        ("Result is", "INVALID", "result_is"),
        ("Scenario", "Server", "scenario"),
        ("Mode", "AccuracyOnly", "mode"),
        ("Min queries satisfied", "NO", "min_queries_satisfied"),
        ("Early stopping 90.0th percentile estimate", "999999", "early_stopping_90.0th_percentile_estimate"),
        ("min_query_count", "99", "min_query_count"),
    ],
)
def test_summary_text_that_disagrees_is_inconsistent(genuine, tmp_path, label, value, summary_key):
    run = doctored(genuine, "SingleStream", tmp_path)
    lf.set_summary_line(run, label, value)
    record = run_record(run)
    assert record["consistent"] is False
    assert any(summary_key in problem for problem in record["inconsistencies"]), record["inconsistencies"]


def test_early_stopping_bullets_are_compared(genuine, tmp_path):
    run = doctored(genuine, "SingleStream", tmp_path)
    lf.replace_summary_text(run, "Would discard", "Would keep")
    record = run_record(run)
    assert record["consistent"] is False
    assert "early_stopping_result" in " ".join(record["inconsistencies"])


def test_figures_agree_to_the_printed_precision(genuine, tmp_path):
    run = doctored(genuine, "Offline", tmp_path)
    lf.set_detail_raw_value(run, "result_samples_per_second", "12345.6123")
    lf.set_summary_line(run, "Samples per second", "12345.6")
    assert run_record(run)["consistent"] is True

    lf.set_summary_line(run, "Samples per second", "12345.7")
    record = run_record(run)
    assert record["consistent"] is False
    assert "samples_per_second" in record["inconsistencies"][0]


@pytest.mark.parametrize(
    ("summary", "detail", "agree"),
    [
        ("12345.6", "12345.6123", True),
        ("12345.7", "12345.6123", False),
        ("22020.92", "22020.9", True),  # the detail log is the coarser one here
        ("22020.99", "22020.9", False),
        ("1192", "1192", True),
        ("1192", "1193", False),  # integers must be equal
        ("1234567.89", "1.23457e+06", True),
        ("1234600.00", "1.23457e+06", False),
        ("0.99", "0.99", True),
        ("nan", "1", False),
    ],
)
def test_same_printed_number(summary, detail, agree):
    assert same_printed_number(summary, detail) is agree


def test_missing_summary_is_inconsistent(genuine, tmp_path):
    run = doctored(genuine, "Offline", tmp_path)
    (run / "mlperf_log_summary.txt").unlink()
    record = run_record(run)
    assert record["summary"] is None
    assert record["consistent"] is False
    assert record["inconsistencies"] == ["mlperf_log_summary.txt is missing"]
    assert [f.check for f in check_performance(record)] == ["consistent"]


def test_format_failures_groups_by_log_path():
    failures = [
        CheckFailure("result_validity", "LoadGen reports the run INVALID", "VALID", "INVALID", "/runs/a"),
        CheckFailure("no_errors", "LoadGen logged 1 error(s): 'boom'", 0, 1, "/runs/b"),
    ]
    message = format_failures(failures)
    assert message.splitlines() == [
        "1 performance check(s) failed for /runs/a:",
        "  - result_validity: LoadGen reports the run INVALID (expected 'VALID', got 'INVALID')",
        "1 performance check(s) failed for /runs/b:",
        "  - no_errors: LoadGen logged 1 error(s): 'boom' (expected 0, got 1)",
    ]
    assert format_failures([]) == "all performance checks passed"


def test_a_first_token_reported_with_the_last_fails_streaming():
    record = {"effective_scenario": "Server", "effective_test_mode": "PerformanceOnly",
              "result_first_token_50.00_percentile_latency_ns": 98_000_000,
              "result_50.00_percentile_latency_ns": 100_000_000, "path": "run"}
    from harness.checks.performance import check_first_token_streamed

    failure = check_first_token_streamed(record)
    assert failure is not None and failure.check == "first_token_streamed" and "98%" in failure.message
    streamed = dict(record, **{"result_first_token_50.00_percentile_latency_ns": 3_000_000})
    assert check_first_token_streamed(streamed) is None
