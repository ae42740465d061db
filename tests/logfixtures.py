"""Helpers for the log tests: where the real logs are, genuine LoadGen runs, and
small editors that doctor copies of a run's logs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.logs.runs import PERFORMANCE_MODES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_LOGS = PROJECT_ROOT.parent / "shared" / "mlperf-logs-v4.1"
REAL_LOGS_MISSING = f"published MLPerf v4.1 logs not found at {REAL_LOGS}"
LOADGEN_CHILD = Path(__file__).resolve().parent / "loadgen_tiny_run.py"
LOADGEN_TIMEOUT_S = 60


# ---------------------------------------------------------------- real logs

def real_run_dirs() -> list[Path]:
    """Every run folder of the published logs (empty when they are absent)."""
    if not REAL_LOGS.is_dir():
        return []
    return sorted(p.parent for p in REAL_LOGS.rglob("mlperf_log_detail.txt"))


def real_run_id(run_dir: Path) -> str:
    # closed/Intel/results/<system>/resnet50/Offline/performance/run_1
    #   -> Intel/<system>/resnet50/Offline/performance
    parts = run_dir.relative_to(REAL_LOGS).parts
    return "/".join(p for p in parts[1:] if p not in ("results", "run_1"))


def real_test_mode(run_dir: Path) -> str | None:
    """The run's effective_test_mode, read cheaply for parametrization."""
    pattern = re.compile(r'"key": "effective_test_mode", "value": "([^"]*)"')
    with open(run_dir / "mlperf_log_detail.txt", encoding="utf-8", errors="replace") as log:
        for line in log:
            if match := pattern.search(line):
                return match.group(1)
    return None


def real_run_params(performance_only: bool = False) -> list:
    """pytest params over the published runs, or one skipped param when absent."""
    runs = real_run_dirs()
    if performance_only:
        # A run whose mode cannot be read stays in, so that its test fails loudly.
        runs = [r for r in runs if real_test_mode(r) in PERFORMANCE_MODES | {None}]
    if not runs:
        return [pytest.param(None, id="no-real-logs", marks=pytest.mark.skip(reason=REAL_LOGS_MISSING))]
    return [pytest.param(r, id=real_run_id(r)) for r in runs]


# ---------------------------------------------------------------- genuine LoadGen runs

def loadgen_runs(base: Path, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], Path]:
    """Run each (scenario, mode) once under ``base`` and return the log folders.

    Each run is its own child process with its own folder as working directory
    (LoadGen's logger is process-wide, and an audit.config in the working
    directory would change the settings). The children run side by side; a
    folder that already holds a summary is reused, so modules can share runs.
    """
    out = {key: base / f"{key[0]}-{key[1]}" for key in wanted}
    started = []
    for (scenario, mode), folder in out.items():
        if (folder / "mlperf_log_summary.txt").is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        child = subprocess.Popen(
            [sys.executable, str(LOADGEN_CHILD), str(folder), scenario, mode],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        started.append((folder, child))
    for folder, child in started:
        try:
            output, _ = child.communicate(timeout=LOADGEN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            output, _ = child.communicate()
            pytest.fail(f"LoadGen run in {folder} did not finish in {LOADGEN_TIMEOUT_S} s:\n{output}")
        assert child.returncode == 0, f"LoadGen run in {folder} exited {child.returncode}:\n{output}"
    return out


# ---------------------------------------------------------------- doctoring copies

def copy_run(run_dir: Path, dest: Path) -> Path:
    """Copy a run's detail and summary logs into ``dest`` (created)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt"):
        if (run_dir / name).is_file():
            shutil.copy(run_dir / name, dest / name)
    return dest


def set_detail_value(run_dir: Path, key: str, value) -> None:
    """Replace the value of every detail line logged under ``key``."""
    path = run_dir / "mlperf_log_detail.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    hits = 0
    for i, line in enumerate(lines):
        entry = json.loads(line[len(":::MLLOG "):])
        if entry["key"] == key:
            entry["value"] = value
            lines[i] = ":::MLLOG " + json.dumps(entry)
            hits += 1
    assert hits, f"{path} has no line with key {key!r}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def set_detail_raw_value(run_dir: Path, key: str, raw: str) -> None:
    """Replace a value with exact JSON text (e.g. a number with more digits)."""
    path = run_dir / "mlperf_log_detail.txt"
    text, hits = re.subn(rf'("key": "{re.escape(key)}", "value": )[^,]+,', rf"\g<1>{raw},",
                         path.read_text(encoding="utf-8"))
    assert hits, f"{path} has no line with key {key!r}"
    path.write_text(text, encoding="utf-8")


def append_detail_line(run_dir: Path, key: str, value, *, is_error=False, is_warning=False) -> None:
    entry = {
        "key": key, "value": value, "time_ms": 1.0, "namespace": "mlperf::logging",
        "event_type": "POINT_IN_TIME",
        "metadata": {"is_error": is_error, "is_warning": is_warning, "file": "test", "line_no": 1,
                     "pid": 1, "tid": 1},
    }
    with open(run_dir / "mlperf_log_detail.txt", "a", encoding="utf-8") as log:
        log.write(":::MLLOG " + json.dumps(entry) + "\n")


def set_summary_line(run_dir: Path, label: str, new_value: str) -> None:
    """Rewrite the value of the first summary line whose label is ``label``."""
    path = run_dir / "mlperf_log_summary.txt"
    text, hits = re.subn(rf"^(\s*(?:\*\s*)?{re.escape(label)}\s*:).*$", rf"\g<1> {new_value}",
                         path.read_text(encoding="utf-8"), count=1, flags=re.MULTILINE)
    assert hits, f"{path} has no line labelled {label!r}"
    path.write_text(text, encoding="utf-8")


def replace_summary_text(run_dir: Path, old: str, new: str) -> None:
    path = run_dir / "mlperf_log_summary.txt"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} does not contain {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def mllog_line(key: str, value, *, is_error=False, is_warning=False) -> str:
    """One well-formed detail-log line, for hand-built logs."""
    entry = {"key": key, "value": value, "time_ms": 0.5, "namespace": "mlperf::logging",
             "event_type": "POINT_IN_TIME",
             "metadata": {"is_error": is_error, "is_warning": is_warning, "file": "t.cc",
                          "line_no": 1, "pid": 7, "tid": 7}}
    return ":::MLLOG " + json.dumps(entry)


def subprocess_env() -> dict[str, str]:
    """Environment for ``python -m harness...`` children: the project importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env
