"""``python -m harness logs``: discovery, one JSON line per run, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.logs import cli
from harness.logs.runs import FIXED_KEYS, find_runs

try:  # tests/ may or may not be a package; the helper imports either way
    from . import logfixtures as lf
except ImportError:
    import logfixtures as lf

OFFLINE = ("Offline", "PerformanceOnly")
ACCURACY = ("Offline", "AccuracyOnly")
RECORD_KEYS = {"path", "is_performance", "num_errors", "num_warnings", "summary_num_warnings", "warnings_differ",
               "error_messages", "summary", "consistent", "inconsistencies"}


@pytest.fixture(scope="module")
def genuine(tmp_path_factory):
    """Log folders of real LoadGen runs on an instant SUT (read-only: copy before editing)."""
    return lf.loadgen_runs(tmp_path_factory.getbasetemp() / "loadgen", [OFFLINE, ACCURACY])


@pytest.fixture
def results(genuine, tmp_path):
    """A results tree with a performance run and an accuracy run, as a harness writes it."""
    root = tmp_path / "results"
    lf.copy_run(genuine[OFFLINE], root / "resnet50-Offline-performance")
    lf.copy_run(genuine[ACCURACY], root / "resnet50-Offline-accuracy")
    return root


def run_cli(capsys, *args) -> tuple[int, list[dict], str]:
    status = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_valid_runs_print_one_json_line_each_and_exit_0(results, capsys):
    status, records, err = run_cli(capsys, results)
    assert status == 0, err
    assert [r["path"] for r in records] == [
        str((results / "resnet50-Offline-accuracy").resolve()),
        str((results / "resnet50-Offline-performance").resolve()),
    ]
    for record in records:
        assert set(FIXED_KEYS) | RECORD_KEYS <= set(record)
        assert record["consistent"] is True
    accuracy, performance = records
    assert accuracy["is_performance"] is False and accuracy["result_validity"] is None
    assert performance["is_performance"] is True and performance["result_validity"] == "VALID"
    assert performance["summary"]["samples_per_second"] > 0
    assert performance["result_completed_samples_per_sec"] is None  # an Offline run does not log it


def test_a_run_is_found_from_its_folder_a_parent_or_its_detail_log(results):
    run = (results / "resnet50-Offline-performance").resolve()
    assert find_runs([run]) == [run]
    assert find_runs([run / "mlperf_log_detail.txt"]) == [run]
    assert find_runs([results.parent]) == sorted([run, run.parent / "resnet50-Offline-accuracy"], key=str)
    assert find_runs([results, run, run / "mlperf_log_detail.txt"]) == find_runs([results])


def test_invalid_performance_run_exits_1(results, capsys):
    run = results / "resnet50-Offline-performance"
    lf.set_detail_value(run, "result_validity", "INVALID")
    lf.set_detail_value(run, "result_min_duration_met", False)
    lf.set_summary_line(run, "Result is", "INVALID")
    lf.set_summary_line(run, "Min duration satisfied", "NO")
    status, records, _ = run_cli(capsys, results)
    assert status == 1
    assert [r["result_validity"] for r in records] == [None, "INVALID"]


def test_inconsistent_performance_run_exits_1(results, capsys):
    lf.set_summary_line(results / "resnet50-Offline-performance", "Samples per second", "1.5")
    status, records, _ = run_cli(capsys, results)
    assert status == 1
    assert records[1]["consistent"] is False and records[1]["result_validity"] == "VALID"


def test_inconsistent_accuracy_run_does_not_fail_the_exit_status(results, capsys):
    lf.replace_summary_text(results / "resnet50-Offline-accuracy", "No errors encountered during test.",
                            "3 ERRORS encountered. See detailed log.")
    status, records, _ = run_cli(capsys, results)
    assert status == 0
    assert records[0]["consistent"] is False


def test_a_warning_count_the_detail_log_does_not_flag_is_reported_not_inconsistent(results, capsys):
    run = results / "resnet50-Offline-performance"
    lf.replace_summary_text(run, "No warnings encountered during test.", "1 warning encountered. See detailed log.")
    status, records, err = run_cli(capsys, results)
    assert status == 0, err
    performance = records[1]
    assert (performance["num_warnings"], performance["summary_num_warnings"]) == (0, 1)
    assert performance["warnings_differ"] is True and performance["consistent"] is True
    assert records[0]["warnings_differ"] is False and records[0]["summary_num_warnings"] == 0


def test_every_setting_a_loadgen_6_run_logs_is_printed(results, capsys):
    _, records, _ = run_cli(capsys, results)
    for record in records:
        detail = Path(record["path"], "mlperf_log_detail.txt").read_text(encoding="utf-8")
        logged = {json.loads(line[len(":::MLLOG "):])["key"] for line in detail.splitlines()}
        settings = {key for key in logged if key.startswith(("effective_", "requested_"))}
        assert "effective_accuracy_sample_count" in settings  # written by LoadGen 6, not by v4.1
        assert settings <= set(record), sorted(settings - set(record))
        # What LoadGen 6 logs as effective is always in a record, even for runs that lack it.
        assert {key for key in settings if key.startswith("effective_")} <= set(FIXED_KEYS)


@pytest.mark.parametrize("summary", ["kept", "empty", "missing"])
def test_performance_log_cut_off_before_its_result_exits_2(results, capsys, summary):
    run = results / "resnet50-Offline-performance"
    detail = run / "mlperf_log_detail.txt"
    lines = detail.read_text(encoding="utf-8").splitlines()
    cut = next(i for i, line in enumerate(lines) if '"key": "result_validity"' in line)
    detail.write_text("\n".join(lines[:cut]) + "\n", encoding="utf-8")
    if summary == "empty":  # what a killed LoadGen leaves: the summary is written last
        (run / "mlperf_log_summary.txt").write_text("", encoding="utf-8")
    elif summary == "missing":
        (run / "mlperf_log_summary.txt").unlink()
    status, records, err = run_cli(capsys, results)
    assert status == 2
    assert str(detail.resolve()) in err and "no 'result_validity' line" in err
    assert [r["effective_test_mode"] for r in records] == ["AccuracyOnly"]


def test_missing_path_exits_2(results, tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    status, records, err = run_cli(capsys, results, missing)
    assert status == 2
    assert str(missing) in err
    assert len(records) == 2  # the runs that could be read are still reported


def test_empty_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status, records, err = run_cli(capsys, tmp_path / "empty")
    assert (status, records) == (2, [])
    assert "no LoadGen run" in err and str(tmp_path / "empty") in err


def test_malformed_log_exits_2_naming_file_and_line(results, capsys):
    detail = results / "resnet50-Offline-performance" / "mlperf_log_detail.txt"
    lines = detail.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]
    detail.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status, records, err = run_cli(capsys, results)
    assert status == 2
    assert f"{detail.resolve()}:3:" in err and "invalid JSON" in err
    assert [r["effective_test_mode"] for r in records] == ["AccuracyOnly"]


def test_malformed_summary_exits_2(results, capsys):
    lf.replace_summary_text(results / "resnet50-Offline-performance", "Result is : VALID", "Result VALID")
    status, _, err = run_cli(capsys, results)
    assert status == 2
    assert "mlperf_log_summary.txt:" in err


def test_help_explains_the_exit_status(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "PATH" in text and "exit status" in text


def test_runs_as_a_module_in_a_child_process(genuine):
    done = subprocess.run(
        [sys.executable, "-m", "harness.logs.cli", str(genuine[OFFLINE])],
        cwd=lf.PROJECT_ROOT, env=lf.subprocess_env(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    record = json.loads(line)
    assert (record["effective_scenario"], record["result_validity"], record["consistent"]) == ("Offline", "VALID", True)


def test_published_logs_exit_0(capsys):
    if not lf.REAL_LOGS.is_dir():
        pytest.skip(lf.REAL_LOGS_MISSING)
    status, records, err = run_cli(capsys, lf.REAL_LOGS)
    assert status == 0, err
    assert len(records) == len(lf.real_run_dirs())
    assert [r["path"] for r in records] == sorted(r["path"] for r in records)
    performance = [r for r in records if r["is_performance"]]
    assert len(performance) == sum(lf.real_test_mode(d) == "PerformanceOnly" for d in lf.real_run_dirs())
    assert all(r["result_validity"] == "VALID" and r["consistent"] for r in performance)
