"""SIGINT / SIGTERM mid-session: the LoadGen child ends first, the reports are written.

Each test starts the suite as a user or CI does (a separate pytest process,
real LoadGen runs), waits until a performance run's child process is running,
signals the session, and then checks what is left: no process, a results.json
and a junit.xml holding every finished case and the interrupted one.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# accuracy first (seconds), then a `fast` performance run (a minute): the signal lands in the latter
SELECTION = ("--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "cpu",
             "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline", "--mlperf-run-style", "fast")
PERFORMANCE = "resnet50-onnxruntime-cpu-fp32-Offline-performance"
ACCURACY = "resnet50-onnxruntime-cpu-fp32-Offline-accuracy"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent's reaping is left


def _children_running(marker: str) -> list[int]:
    """Pids of run children whose command line names ``marker`` (their spec's folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "harness.runner.child" in cmdline and marker in cmdline and _alive(int(entry)):
            found.append(int(entry))
    return found


@pytest.fixture
def session_dir(tmp_path, proxy_resnet50, tmp_path_factory):
    shutil.copy(ROOT / "suites" / "test_mlperf.py", tmp_path / "test_mlperf.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\njunit_family = xunit1\n")
    return tmp_path, tmp_path_factory.getbasetemp().parent / "mlperf-cache"


def _start(session_dir, *extra) -> tuple[subprocess.Popen, Path]:
    folder, cache = session_dir
    out = folder / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "test_mlperf.py", *SELECTION, "--mlperf-cache", str(cache),
         "--mlperf-output", str(out), "-p", "no:randomly", *extra],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return process, out


def _wait_for_running_child(process: subprocess.Popen, out: Path, timeout_s: float = 240.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode(errors="replace")
        running = _children_running(str(out / PERFORMANCE))
        # past set-up: LoadGen is running once the child has written its watchdog report
        if running and (out / PERFORMANCE / "watchdog.json").exists():
            return running
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"no performance child started within {timeout_s} s")


def _finish(process: subprocess.Popen, timeout_s: float = 60.0) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout_s)
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize("how", ["SIGTERM to pytest", "Ctrl-C to the process group"])
@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_a_signal_ends_the_run_and_keeps_the_reports(session_dir, how, workers):
    extra = ("-n", workers) if workers else ()
    process, out = _start(session_dir, *extra)
    children = _wait_for_running_child(process, out)
    signalled = time.monotonic()
    if how.startswith("SIGTERM"):
        os.kill(process.pid, signal.SIGTERM)  # a CI runner cancelling the job
    else:
        os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    returncode, output = _finish(process)
    assert time.monotonic() - signalled < 30, output  # the minute-long run was not waited out
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    # no process outlives the session: the child was ended, not orphaned
    assert not [pid for pid in children if _alive(pid)]
    assert not _children_running(str(out))
    document = json.loads((out / "results.json").read_text())
    cases = {c["id"]: c for c in document["cases"]}
    junit = ET.parse(out / "junit.xml").getroot()
    tests = {t.get("name").removeprefix("test_mlperf[").removesuffix("]"): t for t in junit.iter("testcase")}
    interrupted = cases[PERFORMANCE]
    assert interrupted["outcome"] == "failed"
    assert interrupted["message"].startswith(f"{PERFORMANCE}: interrupted by SIG"), interrupted["message"]
    # Serially the accuracy case has finished; under xdist it may have been
    # waiting for the run lock on the other worker, and is then interrupted too.
    if not workers:
        assert cases[ACCURACY]["outcome"] == "passed"
    assert set(cases) == set(tests) == {ACCURACY, PERFORMANCE}
    for case_id, record in cases.items():
        failure = tests[case_id].find("failure")
        if record["outcome"] == "passed":
            assert failure is None
        else:
            assert "interrupted by SIG" in record["message"] and "interrupted by SIG" in failure.get("message")


STUCK = """
import time


def test_stuck_in_cleanup():
    # a test whose clean-up ignores the first Ctrl-C (as a hung teardown does)
    while True:
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            continue
"""


def test_a_second_ctrl_c_exits_at_once(tmp_path):
    # The handlers belong to MLPerf sessions (a plain one keeps pytest's own): one
    # MLPerf case is collected, skipped at once (no TPU here), then the stuck test runs.
    (tmp_path / "test_stuck.py").write_text(STUCK)
    shutil.copy(ROOT / "suites" / "test_mlperf.py", tmp_path / "test_mlperf.py")
    process = subprocess.Popen([sys.executable, "-m", "pytest", "test_mlperf.py", "test_stuck.py", "-p", "no:cacheprovider",
                                "--mlperf-model", "resnet50", "--mlperf-backend", "onnxruntime", "--mlperf-device", "tpu",
                                "--mlperf-precision", "fp32", "--mlperf-scenario", "Offline", "--mlperf-mode", "accuracy",
                                "--mlperf-output", str(tmp_path / "out"), "--mlperf-cache", str(tmp_path / "cache")],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(6)  # collected, the MLPerf case skipped, the stuck test running
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(1.5)
    assert process.poll() is None  # the first Ctrl-C did not get through the stuck clean-up
    second = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    returncode, output = _finish(process, timeout_s=10)
    assert time.monotonic() - second < 3, output
    assert returncode == 128 + signal.SIGINT, output
