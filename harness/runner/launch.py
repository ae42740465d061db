"""Parent side: run one LoadGen case in a child process under a watchdog.

A hang or a crash becomes a RunFailed carrying the tail of the child's output,
so the test fails clearly and the session goes on to the next case.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .spec import CHILD_LOG, RESULT_FILE, RunSpec

TAIL_CHARS = 4000
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class RunFailed(AssertionError):
    """The child did not finish cleanly; the message holds the tail of its output."""


class RunUnavailable(RunFailed):
    """The backend found, once loading, that this machine cannot run the case
    (e.g. a CPU without fp16 support): a skip reason, like a missing device."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


EXIT_UNAVAILABLE = 5
UNAVAILABLE_FILE = "unavailable.txt"


@dataclass
class ChildRun:
    returncode: int
    output_dir: Path
    log_path: Path
    result: dict | None


def tail(path: Path, limit: int = TAIL_CHARS) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return text[-limit:] if len(text) > limit else text


def _kill_group(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def launch(spec: RunSpec, timeout_s: float, env: dict | None = None) -> ChildRun:
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec_path = spec.write(out)
    log_path = out / CHILD_LOG
    child_env = dict(os.environ if env is None else env)
    # The child must import this very harness, wherever pytest was started.
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), child_env.get("PYTHONPATH")]))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness.runner.child", str(spec_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=child_env, start_new_session=True,  # a group we can kill whole
        )
        try:
            returncode = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise RunFailed(
                f"{spec.case_id}: no result after {timeout_s:g} s (watchdog; --mlperf-timeout); "
                f"the run was killed. Last output ({log_path}):\n{tail(log_path)}"
            ) from None
    result_path = out / RESULT_FILE
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    if returncode == EXIT_UNAVAILABLE and (out / UNAVAILABLE_FILE).exists():
        reason = (out / UNAVAILABLE_FILE).read_text().strip()
        raise RunUnavailable(f"{spec.case_id}: cannot run here: {reason}", reason)
    if returncode != 0:
        what = {3: "the SUT raised during the run", 4: "the run could not start"}.get(
            returncode, f"the child process exited with status {returncode}"
        )
        if returncode < 0:
            what = f"the child process was killed by signal {-returncode}"
        raise RunFailed(f"{spec.case_id}: {what}. Last output ({log_path}):\n{tail(log_path)}")
    return ChildRun(returncode, out, log_path, result)
