"""``python -m harness logs`` agrees with MLPerf's own tools on the published v4.1 logs.

Facts these tests follow (mlcommons/inference):
- LoadGen's summary prints one warning counter raised by every FlagWarning,
  while a detail line is marked ``is_warning`` only when a detail entry follows
  the flag (``loadgen/logging.h``), so the two counts can differ in a good run;
  the submission checker reads neither, only the detail log's errors.
- A performance run's detail log ends with its ``result_*`` lines
  (``loadgen/results.cc`` LogDetail); one without ``result_validity`` was cut off.
- ``effective_*`` settings: ``loadgen/test_settings_internal.cc`` LogEffectiveSettings.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.logs import cli
from harness.logs.runs import FIXED_KEYS, run_record

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf

needs_real_logs = pytest.mark.skipif(not lf.REAL_LOGS.is_dir(), reason=lf.REAL_LOGS_MISSING)
_SUMMARY_WARNINGS = re.compile(r"^(?:(\d+) warnings? encountered\. See detailed log\.|No warnings encountered during test\.)$",
                               re.MULTILINE)
# LoadGen's LogEffectiveSettings keys, every one of which v4.1 logs in every run.
V41_EFFECTIVE = (
    "effective_scenario", "effective_test_mode", "effective_samples_per_query", "effective_target_qps",
    "effective_target_latency_ns", "effective_target_latency_percentile", "effective_max_async_queries",
    "effective_target_duration_ms", "effective_min_duration_ms", "effective_max_duration_ms",
    "effective_min_query_count", "effective_max_query_count", "effective_min_sample_count",
    "effective_qsl_rng_seed", "effective_sample_index_rng_seed", "effective_schedule_rng_seed",
    "effective_accuracy_log_rng_seed", "effective_accuracy_log_probability",
    "effective_accuracy_log_sampling_target", "effective_print_timestamps",
    "effective_performance_issue_unique", "effective_performance_issue_same",
    "effective_performance_issue_same_index", "effective_performance_sample_count",
)


def _detail_entries(run_dir: Path) -> list[dict]:
    text = (run_dir / "mlperf_log_detail.txt").read_text(encoding="utf-8")
    return [json.loads(line[len(":::MLLOG "):]) for line in text.splitlines() if line.strip()]


def _summary_warnings(run_dir: Path) -> int:
    match = _SUMMARY_WARNINGS.search((run_dir / "mlperf_log_summary.txt").read_text(encoding="utf-8"))
    assert match, f"{run_dir}: no warning-count line in the summary"
    return int(match.group(1) or 0)


def _run_with_warnings() -> Path:
    for run_dir in lf.real_run_dirs():
        if lf.real_test_mode(run_dir) == "PerformanceOnly" and _summary_warnings(run_dir):
            return run_dir
    pytest.fail(f"no published performance run under {lf.REAL_LOGS} has a warning")


# ------------------------------------------------------------ point 1: warnings

@pytest.mark.parametrize("run_dir", lf.real_run_params())
def test_published_runs_report_both_warning_counts_and_stay_consistent(run_dir):
    record = run_record(run_dir)
    flagged = sum(e["metadata"]["is_warning"] for e in _detail_entries(run_dir))
    printed = _summary_warnings(run_dir)
    assert (record["num_warnings"], record["summary_num_warnings"]) == (flagged, printed)
    assert record["warnings_differ"] is (flagged != printed)
    assert record["consistent"] is True, record["inconsistencies"]


@needs_real_logs
def test_a_published_run_whose_summary_counts_one_more_warning_is_valid_and_consistent(tmp_path, capsys):
    source = _run_with_warnings()
    run = lf.copy_run(source, tmp_path / "run")
    flagged = _summary_warnings(source)
    lf.replace_summary_text(run, f"{flagged} warning{'s' if flagged > 1 else ''} encountered.",
                            f"{flagged + 1} warnings encountered.")
    status = cli.main([str(run)])
    record = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (record["num_warnings"], record["summary_num_warnings"], record["warnings_differ"]) == (
        flagged, flagged + 1, True)
    assert record["consistent"] is True and record["result_validity"] == "VALID"


@needs_real_logs
def test_the_error_count_is_still_compared(tmp_path):
    run = lf.copy_run(_run_with_warnings(), tmp_path / "run")
    lf.replace_summary_text(run, "No errors encountered during test.", "1 ERROR encountered. See detailed log.")
    record = run_record(run)
    assert record["consistent"] is False
    assert any("num_errors" in problem for problem in record["inconsistencies"])


# ------------------------------------------------------------ point 2: cut-off logs

@needs_real_logs
@pytest.mark.parametrize("summary", ["kept", "empty", "missing"])
def test_a_published_performance_log_cut_off_before_its_result_is_malformed(tmp_path, capsys, summary):
    source = next(d for d in lf.real_run_dirs() if lf.real_test_mode(d) == "PerformanceOnly")
    run = lf.copy_run(source, tmp_path / "run")
    detail = run / "mlperf_log_detail.txt"
    lines = detail.read_text(encoding="utf-8").splitlines()
    cut = next(i for i, line in enumerate(lines) if '"key": "result_validity"' in line)
    detail.write_text("\n".join(lines[:cut]) + "\n", encoding="utf-8")
    if summary == "empty":
        (run / "mlperf_log_summary.txt").write_text("", encoding="utf-8")
    elif summary == "missing":
        (run / "mlperf_log_summary.txt").unlink()
    status = cli.main([str(run)])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert str(detail.resolve()) in err
    assert "no 'result_validity' line" in err and f"in its {cut} lines" in err


@needs_real_logs
def test_a_published_accuracy_run_needs_no_result_line(tmp_path):
    source = next(d for d in lf.real_run_dirs() if lf.real_test_mode(d) == "AccuracyOnly")
    assert not any(e["key"] == "result_validity" for e in _detail_entries(source))
    run = lf.copy_run(source, tmp_path / "run")
    assert run_record(run)["result_validity"] is None


# ------------------------------------------------------------ point 3: settings

def test_fixed_keys_hold_every_setting_loadgen_logs_as_effective():
    assert set(V41_EFFECTIVE) | {"effective_sample_concatenate_permutation",
                                 "effective_accuracy_sample_count"} <= set(FIXED_KEYS)


@pytest.mark.parametrize("run_dir", lf.real_run_params())
def test_every_effective_and_requested_key_of_a_published_run_is_printed(run_dir):
    record = run_record(run_dir)
    last = {e["key"]: e["value"] for e in _detail_entries(run_dir)}
    settings = {k: v for k, v in last.items() if k.startswith(("effective_", "requested_"))}
    assert set(V41_EFFECTIVE) <= set(settings)  # what v4.1's LoadGen writes, in every run
    for key, value in settings.items():
        assert key in record, f"{key} is logged but not printed"
        # Printed as JSON, so compare as printed (a True must not pass as 1).
        assert json.dumps(record[key]) == json.dumps(value), key
    for key in FIXED_KEYS:
        assert key in record and (key in last or record[key] is None), key
    # LoadGen 6 adds effective_accuracy_sample_count; v4.1 runs print it as null.
    assert record["effective_accuracy_sample_count"] is None


@needs_real_logs
def test_published_logs_print_every_setting_through_the_cli(tmp_path, capsys):
    runs = lf.real_run_dirs()
    status = cli.main([str(lf.REAL_LOGS)])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0 and len(records) == len(runs)
    for record in records:
        assert {"effective_min_sample_count", "effective_max_async_queries", "effective_target_duration_ms",
                "effective_accuracy_log_sampling_target", "effective_performance_issue_same_index",
                "requested_min_query_count"} <= set(record)
        assert isinstance(record["effective_max_duration_ms"], int)
