"""The summary parser: LoadGen's labels under snake_case names, values typed."""

from __future__ import annotations

import pytest

from harness.logs.detail import LogFormatError
from harness.logs.summary import parse_summary, parse_value, snake_case

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf

# LoadGen 6.0.17 output for a SingleStream run (trimmed Test Parameters).
SINGLE_STREAM = """\
================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : SingleStream
Mode     : PerformanceOnly
90.0th percentile latency (ns) : 1192
Result is : VALID
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: Yes
Early Stopping Result:
 * Processed at least 64 queries (100).
 * Would discard 2 highest latency queries.
 * Early stopping 90.0th percentile estimate: 1910
 * Not enough queries processed for 99.0th percentile
 early stopping estimate (would need to process at
 least 662 total queries).

================================================
Additional Stats
================================================
QPS w/ loadgen overhead         : 504507.44
QPS w/o loadgen overhead        : 841042.89

Min latency (ns)                : 975
99.90 percentile latency (ns)   : 8040

================================================
Test Parameters Used
================================================
target_qps : 3333.33
target_latency (ns): 0
min_duration (ms): 0
qsl_rng_seed : 3066443479025735752

No warnings encountered during test.

No errors encountered during test.
"""

SERVER_INVALID = """\
================================================
MLPerf Results Summary
================================================
SUT name : BERT Server
Scenario : Server
Mode     : PerformanceOnly
Completed samples per second    : 1905.37
Completed tokens per second (inferred): 113.74
Result is : INVALID
  Performance constraints satisfied : Yes
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: NO
Recommendations:
Early Stopping Result:
 * Run unsuccessful.
 * Processed 300 queries.
 * Would need to run at least 159 more queries,
 with the run being successful if every additional
 query were under latency.

================================================
Additional Stats
================================================
Scheduled samples per second : 1906.48
Per-query latency:  
Min First Token latency (ns)                : 240310998
50.00 percentile time to output token (ns)   : 146864683

2 warnings encountered. See detailed log.

1 ERROR encountered. See detailed log.
"""


def write_summary(tmp_path, text):
    path = tmp_path / "mlperf_log_summary.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("SUT name ", "sut_name"),
        ("Mode     ", "mode"),
        ("Result is ", "result_is"),
        ("Samples per second", "samples_per_second"),
        ("Completed samples per second    ", "completed_samples_per_second"),
        ("90.0th percentile latency (ns) ", "90.0th_percentile_latency_ns"),
        ("50.00 percentile latency (ns)   ", "50.00_percentile_latency_ns"),
        ("  Min duration satisfied ", "min_duration_satisfied"),
        ("Early stopping 90.0th percentile estimate", "early_stopping_90.0th_percentile_estimate"),
        ("QPS w/ loadgen overhead         ", "qps_with_loadgen_overhead"),
        ("QPS w/o loadgen overhead        ", "qps_without_loadgen_overhead"),
        ("min_duration (ms)", "min_duration_ms"),
        ("Completed tokens per second (inferred)", "completed_tokens_per_second_inferred"),
        ("Per-query latency", "per_query_latency"),
        ("TTFT Early Stopping Result", "ttft_early_stopping_result"),
        ("Mean First Token latency (ns)", "mean_first_token_latency_ns"),
    ],
)
def test_snake_case_rule(label, name):
    assert snake_case(label) == name


@pytest.mark.parametrize(
    ("text", "value"),
    [("1192", 1192), ("3066443479025735752", 3066443479025735752), ("504507.44", 504507.44),
     ("1e+06", 1e6), ("Yes", "Yes"), ("VALID", "VALID"), ("BERT Server", "BERT Server")],
)
def test_values_are_typed(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_single_stream_summary(tmp_path):
    summary = parse_summary(write_summary(tmp_path, SINGLE_STREAM))
    f = summary.fields
    assert f["sut_name"] == "PySUT"
    assert (f["scenario"], f["mode"], f["result_is"]) == ("SingleStream", "PerformanceOnly", "VALID")
    assert f["90.0th_percentile_latency_ns"] == 1192
    assert (f["min_duration_satisfied"], f["min_queries_satisfied"], f["early_stopping_satisfied"]) == ("Yes",) * 3
    assert f["early_stopping_90.0th_percentile_estimate"] == 1910
    assert f["early_stopping_result"] == [
        "Processed at least 64 queries (100).",
        "Would discard 2 highest latency queries.",
        "Early stopping 90.0th percentile estimate: 1910",
        "Not enough queries processed for 99.0th percentile early stopping estimate "
        "(would need to process at least 662 total queries).",
    ]
    assert f["qps_with_loadgen_overhead"] == 504507.44
    assert f["qps_without_loadgen_overhead"] == 841042.89
    assert f["min_latency_ns"] == 975 and f["99.90_percentile_latency_ns"] == 8040
    assert f["target_qps"] == 3333.33 and f["target_latency_ns"] == 0 and f["min_duration_ms"] == 0
    assert f["qsl_rng_seed"] == 3066443479025735752
    assert (f["num_errors"], f["num_warnings"]) == (0, 0)
    assert summary.texts["qps_with_loadgen_overhead"] == "504507.44"
    assert summary.texts["target_qps"] == "3333.33"


def test_invalid_server_summary(tmp_path):
    summary = parse_summary(write_summary(tmp_path, SERVER_INVALID))
    f = summary.fields
    assert f["result_is"] == "INVALID"
    assert f["early_stopping_satisfied"] == "NO"
    assert f["performance_constraints_satisfied"] == "Yes"
    assert f["recommendations"] == []
    assert f["early_stopping_result"][-1] == (
        "Would need to run at least 159 more queries, with the run being successful if every "
        "additional query were under latency."
    )
    assert f["completed_samples_per_second"] == 1905.37
    assert f["completed_tokens_per_second_inferred"] == 113.74
    assert f["scheduled_samples_per_second"] == 1906.48
    assert f["per_query_latency"] == []
    assert f["min_first_token_latency_ns"] == 240310998
    assert f["50.00_percentile_time_to_output_token_ns"] == 146864683
    assert (f["num_errors"], f["num_warnings"]) == (1, 2)


def test_accuracy_summary_has_only_counts(tmp_path):
    text = "\nNo warnings encountered during test.\n\nNo errors encountered during test.\n"
    summary = parse_summary(write_summary(tmp_path, text))
    assert summary.fields == {"num_warnings": 0, "num_errors": 0}


def test_repeated_labels_keep_every_entry(tmp_path):
    text = "Completed tokens per second: 22020.92\n\nCompleted tokens per second                 : 22020.92\n"
    summary = parse_summary(write_summary(tmp_path, text))
    assert [(e.key, e.line_no) for e in summary.entries] == [
        ("completed_tokens_per_second", 1), ("completed_tokens_per_second", 3)]


def test_unknown_line_names_file_and_line(tmp_path):
    path = write_summary(tmp_path, SINGLE_STREAM.replace("Result is : VALID", "Result was VALID"))
    with pytest.raises(LogFormatError) as caught:
        parse_summary(path)
    assert caught.value.path == str(path)
    assert caught.value.line_no == 8
    assert "Result was VALID" in caught.value.message


@pytest.mark.parametrize("run_dir", lf.real_run_params())
def test_real_summaries_parse(run_dir):
    summary = parse_summary(run_dir / "mlperf_log_summary.txt")
    text = (run_dir / "mlperf_log_summary.txt").read_text(encoding="utf-8")
    assert summary.fields["num_errors"] == 0
    assert isinstance(summary.fields["num_warnings"], int)
    if "Result is" in text:
        assert summary.fields["result_is"] == "VALID"
        assert summary.fields["mode"] == "PerformanceOnly"
        assert summary.fields["min_duration_satisfied"] == "Yes"
    else:
        assert "result_is" not in summary.fields


def test_equal_issue_warning_paragraph_is_kept_as_one_notice(tmp_path):
    # LoadGen 6 prints this after the test parameters of LLM runs (sample_concatenate_permutation on).
    text = (
        "Scenario : Offline\n"
        "performance_sample_count : 13368\n"
        "WARNING: sample_concatenate_permutation was set to true. \n"
        "Generated samples per query might be different as the one in the setting.\n"
        "Check the generated_samples_per_query line in the detailed log for the real\n"
        "samples_per_query value\n"
        "\n"
        "No warnings encountered during test.\n"
    )
    path = tmp_path / "mlperf_log_summary.txt"
    path.write_text(text)
    summary = parse_summary(path)
    assert summary.fields["notice"].startswith("WARNING: sample_concatenate_permutation was set to true.")
    assert summary.fields["notice"].endswith("for the real samples_per_query value")
    assert summary.fields["performance_sample_count"] == 13368
    assert summary.fields["num_warnings"] == 0
