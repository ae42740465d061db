"""The persistent artifact cache: where it lives, per-artifact locks, build-once.

Every artifact (a downloaded model, a generated proxy dataset) is produced the
same way: take a file lock next to the final path, build under a temporary
sibling name, rename into place. The rename is atomic on one filesystem, so a
reader sees either nothing or the complete artifact, never a half-written one,
even when pytest-xdist workers or several CI jobs share the cache.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from .checksum import ArtifactError

# How long a process waits for another one that is building the same artifact.
# Long, because the other process may be downloading ~100 MB; finite, so a hung
# holder ends in a filelock.Timeout naming the lock instead of a silent hang.
DEFAULT_LOCK_TIMEOUT = 3600.0

# Suffix markers of temporaries; only a lock holder ever writes these, so a
# lock holder may delete any it finds (left by a killed process).
TMP_MARKER = ".tmp-"
PART_MARKER = ".part-"


def default_cache_dir() -> Path:
    """``$MLPERF_CACHE``, else ``$XDG_CACHE_HOME/mlperf-pytest``, else ``~/.cache/mlperf-pytest``."""
    if env := os.environ.get("MLPERF_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mlperf-pytest"


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file guarding ``path``: ``<path>.lock``, a sibling, same filesystem."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def artifact_lock(path: str | os.PathLike, timeout: float = DEFAULT_LOCK_TIMEOUT) -> FileLock:
    """An inter-process lock for building ``path``; use it as a context manager.

    flock-based, so it is released by the kernel if the holder dies; a negative
    ``timeout`` waits forever. The parent folder is created so the lock can be.
    """
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(lp, timeout=timeout)


def remove_path(path: Path) -> None:
    """Remove a file, link or directory tree if present (cleanup must not raise on 'missing')."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def sweep_stale(final: Path, marker: str) -> None:
    """Delete temporaries of ``final`` left by a killed builder.

    Call only while holding ``artifact_lock(final)``: then no live process can
    be writing one of them.
    """
    prefix = final.name + marker
    for p in final.parent.glob(glob_escape(prefix) + "*"):
        remove_path(p)


def glob_escape(text: str) -> str:
    # Artifact names are plain, but a '[' in a user's path must not become a pattern.
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def fsync_dir(directory: Path) -> None:
    """Make a rename durable: fsync the directory entry (best effort, POSIX only)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    # The data must be on disk before the rename publishes it, or a crash could
    # leave a complete-looking name with empty contents.
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for f in files:
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def _safe_target(cache_dir: Path, name: str | os.PathLike) -> Path:
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"artifact name must be a relative path inside the cache, got {name!r}")
    return cache_dir / rel


def ensure_artifact(cache_dir: str | os.PathLike, name: str | os.PathLike, *,
                    build: Callable[[Path], None],
                    lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Path:
    """Return ``cache_dir/name``, building it once across processes if it is missing.

    ``build(tmp)`` must create ``tmp`` (a file or a directory). It runs under the
    artifact's lock on a fresh temporary sibling name; on success the result is
    renamed onto the final name, on any exception it is deleted and the
    exception propagates. Nothing half-built ever appears under the final name.
    """
    final = _safe_target(Path(cache_dir), name)
    if final.exists():  # fast path: no lock needed to read a published artifact
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with artifact_lock(final, timeout=lock_timeout):
        if final.exists():  # another process built it while we waited
            return final
        sweep_stale(final, TMP_MARKER)
        # A random token, not only the pid: two threads of one process may race.
        tmp = final.with_name(f"{final.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            build(tmp)
            if not tmp.exists():
                raise ArtifactError(f"builder {build!r} did not create {tmp} (for {final})")
            _fsync_tree(tmp)
            os.replace(tmp, final)
        except BaseException:
            remove_path(tmp)
            raise
        fsync_dir(final.parent)
    return final
