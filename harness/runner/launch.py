"""Parent side: run one LoadGen case in a child process under a watchdog.

A hang or a crash becomes a RunFailed whose message starts with one line
naming what went wrong (the child's own summary where it wrote one); the full
output stays in child.log, so the test fails clearly and the session goes on.

The watchdog follows what the run should take: the child reports, once its
settings are resolved, how long LoadGen will run (watchdog.json); until then
the set-up (load, stage, calibrate) has SETUP_TIMEOUT_S. A user's
--mlperf-timeout replaces both with one fixed limit.

Every child runs in its own session (so a terminal's Ctrl-C does not kill it
half-way through writing its logs) and is registered here, so that whoever
handles a signal can end it, and wait for it, before the session exits
(``end_active_runs``). The child also watches its parent: orphaned, it ends
itself (child.py).

While it runs, the child reports where it is (progress.json, child.py); the
wait loop reads it about once a second and hands each new report to the
caller's progress sink (harness/progress.py). Each launch gives its child a
token of its own, so a report some earlier run left in the folder is never
shown as this run's.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .runlock import held_lock_fds
from .spec import CHILD_LOG, ERROR_FILE, RESULT_FILE, WATCHDOG_FILE, RunSpec

if TYPE_CHECKING:
    from ..progress import ProgressSink

TAIL_CHARS = 4000
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Loading a model, staging samples and calibrating, before LoadGen starts.
SETUP_TIMEOUT_S = 900.0
# The run itself: what the settings say, times this, plus a fixed tail for
# the last completions and LoadGen's log writing.
RUN_MARGIN = 1.5
RUN_TAIL_S = 120.0
# How long a child gets to end on SIGTERM before it is killed.
GRACE_S = 5.0
_POLL_S = 0.2
# The child's progress report (child.py) and the run token it must carry.
PROGRESS_FILE = "progress.json"
PROGRESS_TOKEN_ENV = "MLPERF_PROGRESS_TOKEN"
# The child rewrites its report about once a second: reading it more often gains nothing.
PROGRESS_POLL_S = 1.0


class RunFailed(AssertionError):
    """The child did not finish cleanly; the first line says what, the rest where to look."""

    @property
    def summary(self) -> str:
        return str(self).split("\n", 1)[0]


class RunUnavailable(RunFailed):
    """The backend found, once loading, that this machine cannot run the case
    (e.g. a CPU without fp16 support): a skip reason, like a missing device."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class RunInterrupted(RunFailed):
    """The session was interrupted (a signal) while this run was going on; the child was ended."""


EXIT_UNAVAILABLE = 5
UNAVAILABLE_FILE = "unavailable.txt"
_EXIT_MEANINGS = {3: "the SUT raised during the run", 4: "the run could not start"}
_SIGNAL_HINTS = {
    signal.SIGKILL: "killed (SIGKILL): out of memory, if the kernel's OOM killer sent it",
    signal.SIGABRT: "aborted (SIGABRT): a native library gave up, e.g. on a failed allocation",
    signal.SIGSEGV: "crashed (SIGSEGV) in native code",
    signal.SIGXFSZ: "stopped (SIGXFSZ): a file grew past the file size limit (disk quota)",
}


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


# --- the children this process is running now --------------------------------

_active: set[subprocess.Popen] = set()
_active_lock = threading.RLock()  # re-entrant: a signal handler may run while launch() holds it
# (reason, monotonic time) of each interrupt this process has received
_interrupts: list[tuple[str, float]] = []


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _kill_group(process: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        _signal_group(process, sig)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def end_active_runs(reason: str) -> int:
    """Ask every child this process runs to end (SIGTERM); returns how many there were.

    Safe in a signal handler: it only sends signals. The launch() that waits
    for each child sees it end (or kills it GRACE_S later), waits for it, and
    raises RunInterrupted; only then are the run lock and the case released.
    """
    _interrupts.append((reason, time.monotonic()))
    with _active_lock:
        running = list(_active)
    for process in running:
        _signal_group(process, signal.SIGTERM)
    return len(running)


def kill_active_runs_now() -> None:
    """SIGKILL every child's group at once (a second Ctrl-C: no grace)."""
    with _active_lock:
        running = list(_active)
    for process in running:
        _signal_group(process, signal.SIGKILL)


# --- one run ---------------------------------------------------------------------

def watchdog_deadline(out: Path, started: float, timeout_s: float | None) -> tuple[float, str]:
    """(deadline on the monotonic clock, how it was set) as of now."""
    if timeout_s is not None:
        return started + timeout_s, f"{timeout_s:g} s (--mlperf-timeout)"
    report = out / WATCHDOG_FILE
    if report.exists():
        try:
            data = json.loads(report.read_text())
            expected, reported_at = float(data["expected_run_s"]), float(data["elapsed_s"])
        except (ValueError, KeyError, TypeError, OSError):
            pass  # half-written: read it again on the next poll
        else:
            limit = reported_at + expected * RUN_MARGIN + RUN_TAIL_S
            return started + limit, (f"{limit:.0f} s: set-up {reported_at:.0f} s, then the {expected:.0f} s the "
                                     f"settings need x{RUN_MARGIN:g} + {RUN_TAIL_S:g} s; --mlperf-timeout sets it")
    return started + SETUP_TIMEOUT_S, f"{SETUP_TIMEOUT_S:g} s for set-up (load, stage, calibrate); --mlperf-timeout sets it"


def read_progress(out: Path, token: str) -> dict | None:
    """This run's latest progress report in ``out``; None when there is none yet, or it is another run's."""
    try:
        report = json.loads((Path(out) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):  # not written yet (or gone with the folder): the next poll looks again
        return None
    return report if isinstance(report, dict) and report.get("token") == token else None


class ProgressPoll:
    """Hands each new progress report of one run to a sink, reading the file at most every ``every_s``."""

    def __init__(self, out: Path, token: str, sink: "ProgressSink | None", every_s: float = PROGRESS_POLL_S,
                 clock=time.monotonic):
        self._path, self._out, self._token, self._sink = Path(out) / PROGRESS_FILE, Path(out), token, sink
        self._every_s, self._clock = every_s, clock
        self._polled = float("-inf")
        self._seen_file: tuple | None = None  # (inode, mtime, size) last read: an unchanged file is not parsed again
        self._seen: dict | None = None

    def poll(self, force: bool = False) -> None:
        now = self._clock()
        if self._sink is None or (not force and now - self._polled < self._every_s):
            return
        self._polled = now
        try:
            stat = self._path.stat()
        except OSError:
            return
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key == self._seen_file:
            return
        report = read_progress(self._out, self._token)
        if report is None:
            return  # another run's (stale) report: not this run's, whatever it says
        self._seen_file = key
        if report != self._seen:
            self._seen = report
            self._sink.update(report)


def _wait(process: subprocess.Popen, out: Path, timeout_s: float | None, interrupts_before: int,
          progress: ProgressPoll) -> int:
    started = time.monotonic()
    while True:
        try:
            return process.wait(timeout=_POLL_S)
        except subprocess.TimeoutExpired:
            pass
        progress.poll()
        if len(_interrupts) > interrupts_before and time.monotonic() - _interrupts[-1][1] > GRACE_S:
            _signal_group(process, signal.SIGKILL)  # asked to end GRACE_S ago and still there
            continue
        deadline, how = watchdog_deadline(out, started, timeout_s)
        if time.monotonic() > deadline:
            _kill_group(process)
            raise _Watchdog(how)


class _Watchdog(Exception):
    pass


def _child_summary(out: Path) -> str | None:
    try:
        line = (out / ERROR_FILE).read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return None
    return line[0] if line else None


def _what_happened(returncode: int) -> str:
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return f"the child process was killed by signal {-returncode}"
        hint = _SIGNAL_HINTS.get(sig)
        return f"the child process was {hint}" if hint else f"the child process was killed by signal {-returncode} ({sig.name})"
    return _EXIT_MEANINGS.get(returncode, f"the child process exited with status {returncode}")


def launch(spec: RunSpec, timeout_s: float | None = None, env: dict | None = None,
           progress: "ProgressSink | None" = None) -> ChildRun:
    """Run ``spec`` in a child process; ``progress`` (optional) is told the child's phases and counts as it runs."""
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec_path = spec.write(out)
    log_path = out / CHILD_LOG
    child_env = dict(os.environ if env is None else env)
    # The child must import this very harness, wherever pytest was started.
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), child_env.get("PYTHONPATH")]))
    child_env["MLPERF_PARENT_PID"] = str(os.getpid())
    token = child_env[PROGRESS_TOKEN_ENV] = secrets.token_hex(8)
    poll = ProgressPoll(out, token, progress)
    if progress is not None:
        progress.phase("start")
    interrupts_before = len(_interrupts)
    with open(log_path, "wb") as log:
        with _active_lock:  # registered before any signal handler can look
            process = subprocess.Popen(
                [sys.executable, "-m", "harness.runner.child", str(spec_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=child_env, start_new_session=True,  # a group we can kill whole
                pass_fds=held_lock_fds(),  # the run lock stays held while the child lives
            )
            _active.add(process)
        try:
            returncode = _wait(process, out, timeout_s, interrupts_before, poll)
        except _Watchdog as exc:
            raise RunFailed(
                f"{spec.case_id}: no result within the watchdog's {exc}; the run was killed. "
                f"Last output ({log_path}):\n{tail(log_path)}"
            ) from None
        except BaseException:
            _kill_group(process)  # an interrupt, or anything else: the child never outlives this call
            raise
        finally:
            with _active_lock:
                _active.discard(process)
    poll.poll(force=True)  # the child's last report: its final counts
    if len(_interrupts) > interrupts_before:
        raise RunInterrupted(f"{spec.case_id}: interrupted by {_interrupts[-1][0]}; the run was ended "
                             f"before it finished (output so far: {log_path})")
    if returncode == EXIT_UNAVAILABLE and (out / UNAVAILABLE_FILE).exists():
        reason = (out / UNAVAILABLE_FILE).read_text().strip()
        raise RunUnavailable(f"{spec.case_id}: cannot run here: {reason}", reason)
    if returncode != 0:
        what = _what_happened(returncode)
        summary = _child_summary(out)
        first = f"{summary} [{spec.case_id}: {what}]" if summary else f"{spec.case_id}: {what}{disk_hint(out)}"
        raise RunFailed(f"{first}\nfull output: {log_path}\n{tail(log_path, 1500) if not summary else ''}".rstrip())
    return ChildRun(returncode, out, log_path, _read_result(out / RESULT_FILE, spec.case_id))


def _read_result(path: Path, case_id: str) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunFailed(f"{path}: the run's result file cannot be read ({exc}){disk_hint(path.parent)} "
                        f"[{case_id}]") from None


def disk_hint(folder: Path) -> str:
    """'; the file system ... is full' when it is nearly so: the likeliest reason a log is cut short."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return ""
    free = stats.f_bavail * stats.f_frsize
    return f"; the file system holding {folder} has only {free} bytes free (disk full?)" if free < (1 << 20) else ""
