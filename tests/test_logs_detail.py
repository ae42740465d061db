"""The strict detail-log parser: real logs read, bad input named by file and line."""

from __future__ import annotations

import json
import re

import pytest

from harness.logs.detail import LogFormatError, LoggedFloat, parse_detail

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf


def write_log(tmp_path, lines: list[str], name="mlperf_log_detail.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def basic_lines() -> list[str]:
    return [
        lf.mllog_line("loadgen_version", "6.0.17 @ d6147c7eb7"),
        lf.mllog_line("effective_scenario", "Offline"),
        lf.mllog_line("effective_test_mode", "PerformanceOnly"),
        lf.mllog_line("result_validity", "VALID"),
    ]


@pytest.mark.parametrize("run_dir", lf.real_run_params())
def test_real_detail_logs_parse(run_dir):
    text = (run_dir / "mlperf_log_detail.txt").read_text(encoding="utf-8")
    log = parse_detail(run_dir / "mlperf_log_detail.txt")

    assert log.values["effective_scenario"] in {"Offline", "Server", "SingleStream", "MultiStream"}
    assert log.values["effective_test_mode"] in {"PerformanceOnly", "AccuracyOnly"}
    assert sum(len(v) for v in log.all_values.values()) == len(text.splitlines())
    # Counted independently from the raw text: every published run was accepted without errors.
    assert log.num_errors == text.count('"is_error": true') == 0
    assert log.num_warnings == text.count('"is_warning": true')
    assert len(log.warnings) == log.num_warnings
    assert log.skipped_lines == []


def test_keeps_last_value_and_all_values(tmp_path):
    lines = basic_lines() + [
        lf.mllog_line("generated_query_count", 1),
        lf.mllog_line("generated_query_count", 4),
    ]
    log = parse_detail(write_log(tmp_path, lines))
    assert log.values["generated_query_count"] == 4
    assert log.all_values["generated_query_count"] == [1, 4]
    assert log.path == tmp_path / "mlperf_log_detail.txt"


def test_counts_errors_and_warnings_with_messages(tmp_path):
    lines = basic_lines() + [
        lf.mllog_line("error_runtime", "Ran out of generated queries", is_error=True),
        lf.mllog_line("warning_generic_message", "CAS failed.", is_warning=True),
        lf.mllog_line("error_invalid_config", "Multiple conf files are used", is_error=True),
    ]
    log = parse_detail(write_log(tmp_path, lines))
    assert (log.num_errors, log.num_warnings) == (2, 1)
    assert log.errors == ["Ran out of generated queries", "Multiple conf files are used"]
    assert log.warnings == ["CAS failed."]


def test_numbers_keep_their_printed_text(tmp_path):
    lines = basic_lines() + [
        ':::MLLOG {"key": "result_completed_tokens_per_second", "value": 22020.9, "metadata": '
        '{"is_error": false, "is_warning": false}}',
        ':::MLLOG {"key": "result_token_throughput", "value": 6.84277e-09, "metadata": '
        '{"is_error": false, "is_warning": false}}',
    ]
    log = parse_detail(write_log(tmp_path, lines))
    tokens = log.values["result_completed_tokens_per_second"]
    assert isinstance(tokens, LoggedFloat) and tokens == 22020.9 and tokens.text == "22020.9"
    assert log.values["result_token_throughput"].text == "6.84277e-09"
    assert json.loads(json.dumps(log.values))["result_completed_tokens_per_second"] == 22020.9


def test_malformed_json_names_file_and_line(tmp_path):
    lines = basic_lines()
    lines[2] = lines[2][:-5]  # cut the closing braces off line 3
    path = write_log(tmp_path, lines)
    with pytest.raises(LogFormatError) as caught:
        parse_detail(path)
    assert caught.value.path == str(path)
    assert caught.value.line_no == 3
    assert "invalid JSON" in caught.value.message
    assert str(caught.value).startswith(f"{path}:3: ")


def test_malformed_line_in_a_real_log_copy(tmp_path):
    source = lf.real_run_dirs()
    if not source:
        pytest.skip(lf.REAL_LOGS_MISSING)
    run = lf.copy_run(source[0], tmp_path / "run")
    path = run / "mlperf_log_detail.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[9] = lines[9].replace('"value":', '"value"', 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LogFormatError, match=rf"^{re.escape(str(path))}:10: invalid JSON"):
        parse_detail(path)


def test_first_line_must_carry_the_marker(tmp_path):
    path = write_log(tmp_path, ["LoadGen starting up"] + basic_lines())
    with pytest.raises(LogFormatError) as caught:
        parse_detail(path)
    assert caught.value.line_no == 1
    assert ":::MLLOG" in caught.value.message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (':::MLLOG {"value": 1, "metadata": {"is_error": false, "is_warning": false}}', "missing string field 'key'"),
        (':::MLLOG {"key": "k", "metadata": {"is_error": false, "is_warning": false}}', "missing field 'value'"),
        (':::MLLOG {"key": "k", "value": 1}', "missing object field 'metadata'"),
        (':::MLLOG {"key": "k", "value": 1, "metadata": {"is_warning": false}}', "metadata.is_error"),
        (':::MLLOG {"key": "k", "value": 1, "metadata": {"is_error": "no", "is_warning": false}}', "metadata.is_error"),
        (':::MLLOG [1, 2]', "expected a JSON object"),
    ],
    ids=["no-key", "no-value", "no-metadata", "no-is_error", "is_error-not-bool", "not-an-object"],
)
def test_missing_fields_are_named(tmp_path, line, expected):
    path = write_log(tmp_path, basic_lines() + [line])
    with pytest.raises(LogFormatError) as caught:
        parse_detail(path)
    assert caught.value.line_no == 5
    assert expected in caught.value.message


def test_foreign_text_rejected_when_strict_and_skipped_otherwise(tmp_path):
    lines = basic_lines()
    lines.insert(2, "INFO: warming up the model")
    lines.insert(4, "")  # blank lines are harmless in either mode
    path = write_log(tmp_path, lines)

    with pytest.raises(LogFormatError) as caught:
        parse_detail(path)
    assert caught.value.line_no == 3

    log = parse_detail(path, strict=False)
    assert log.skipped_lines == [3]
    assert log.values["result_validity"] == "VALID"


def test_marker_after_foreign_text_is_read_only_when_not_strict(tmp_path):
    lines = basic_lines()
    lines[3] = "stdout noise" + lines[3]
    path = write_log(tmp_path, lines)
    with pytest.raises(LogFormatError):
        parse_detail(path)
    assert parse_detail(path, strict=False).values["result_validity"] == "VALID"


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(LogFormatError, match="empty"):
        parse_detail(path)


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_bytes(("\n".join(basic_lines()) + "\n").encode() + b':::MLLOG {"key": "\xff"}\n')
    with pytest.raises(LogFormatError) as caught:
        parse_detail(path)
    assert caught.value.line_no == 5
    assert "UTF-8" in caught.value.message
