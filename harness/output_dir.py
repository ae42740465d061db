"""The folders a session writes: checked when it starts, the output folder claimed for it.

Found only at the end, a cache or output path that is a file, or a folder
nobody may write, cost the whole session's records in a traceback. And two
sessions sharing an output folder (or a rerun into a used one) mixed their case
folders, with one results.json silently replacing the other. So at start:
both folders must be creatable and writable, and the output folder must not
hold a run already; it is then claimed with a marker file created exclusively
(exactly one session can create it) and flock-ed while the session lives.
The marker stays afterwards: the folder holds that run from then on.
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from pathlib import Path

MARKER = ".mlperf-session"
RESULTS = "results.json"


class OutputDirError(ValueError):
    """A folder the session must write cannot be used."""


def check_writable_dir(path: Path, option: str) -> Path:
    """Create ``path`` if needed and prove it can be written, or say why not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"{option} {path}: this is a file; expected a folder (existing or to be created)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"{option} {path}: cannot create this folder ({exc.strerror or exc})") from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputDirError(f"{option} {path}: cannot write in this folder ({exc.strerror or exc})") from None
    return path


def check_usable_dir(path: Path, option: str) -> Path:
    """What check_writable_dir proves, without creating anything (a --collect-only session)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"{option} {path}: this is a file; expected a folder (existing or to be created)")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise OutputDirError(f"{option} {path}: cannot create this folder ({existing} is a file)")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        verb = "write in" if existing == path else "create"
        raise OutputDirError(f"{option} {path}: cannot {verb} this folder ({exc.strerror or exc})") from None
    return path


def previous_run(path: Path) -> str | None:
    """What in ``path`` shows that a run was written there, if anything."""
    path = Path(path)
    if (path / RESULTS).exists():
        return f"{RESULTS}"
    if (path / MARKER).exists():
        return f"the marker {MARKER} of an earlier session"
    for child in sorted(path.iterdir()) if path.is_dir() else ():
        if (child / "run_spec.json").is_file() or (child / "mlperf_log_detail.txt").is_file():
            return f"the case folder {child.name}"
    return None


class OutputClaim:
    """This session's hold on its output folder."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    @classmethod
    def check(cls, path: Path, option: str = "--mlperf-output") -> None:
        """Refuse now what acquire() would refuse, creating and claiming nothing."""
        path = check_usable_dir(path, option)
        found = previous_run(path) if path.is_dir() else None
        if found is not None:
            cls._refuse(path, option, found)

    @classmethod
    def acquire(cls, path: Path, option: str = "--mlperf-output") -> "OutputClaim":
        path = check_writable_dir(path, option)
        marker = path / MARKER
        found = previous_run(path)
        if found is None:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                found = f"the marker {MARKER}"  # another session claimed it a moment ago
            else:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode())
                return cls(path, fd)
        cls._refuse(path, option, found)

    @staticmethod
    def _refuse(path: Path, option: str, found: str) -> None:
        marker = path / MARKER
        if _in_use(marker):
            raise OutputDirError(f"{option} {path} is in use by another running session ({_owner(marker)}); "
                                 "two sessions in one folder would mix their records: give each its own folder")
        raise OutputDirError(f"{option} {path} already holds a run ({found}); a new run there would mix with it: "
                             "choose a new folder (without --mlperf-output each run gets one under reports/) "
                             "or move the old run away")

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _in_use(marker: Path) -> bool:
    try:
        fd = os.open(marker, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _owner(marker: Path) -> str:
    try:
        return f"pid {json.loads(marker.read_text())['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"
