"""The persistent artifact cache: where it lives, per-artifact locks, build-once.

Every artifact (a downloaded model, a generated proxy dataset) is produced the
same way: take a file lock next to the final path, build under a temporary
sibling name, rename into place. The rename is atomic on one filesystem, so a
reader sees either nothing or the complete artifact, never a half-written one,
even when pytest-xdist workers or several CI jobs share the cache.

A published entry is not trusted by name: it carries a manifest (see
``manifest.py`` for what is recorded and what each check catches). Each use
runs the quick check without a lock; when that cannot vouch for the entry, the
artifact's lock is taken and the entry is settled there: files whose
timestamps moved are re-hashed in full (and their new timestamps recorded when
they pass), and an entry that is wrong, or has no manifest at all (built by an
older harness: nothing to verify it against), is rebuilt with a
``CacheEntryRebuilt`` warning naming it and what differed. With
``offline=True`` such an entry is an error (``CacheEntryInvalid``) and is left
as it is; a missing entry is still built, because building locally needs no
network.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from . import manifest
from .manifest import glob_escape
from .checksum import ArtifactError

log = logging.getLogger(__name__)

# How long a process waits for another one that is building the same artifact.
# Long, because the other process may be downloading ~100 MB; finite, so a hung
# holder ends in a filelock.Timeout naming the lock instead of a silent hang.
DEFAULT_LOCK_TIMEOUT = 3600.0

# Suffix markers of temporaries; only a lock holder ever writes these, so a
# lock holder may delete any it finds (left by a killed process).
TMP_MARKER = ".tmp-"
PART_MARKER = ".part-"


class CacheEntryInvalid(ArtifactError):
    """A cache entry does not match its manifest (or has none) and may not be rebuilt here."""

    def __init__(self, path, problems: list[str], hint: str | None = None):
        super().__init__(path, problems, hint)  # all in args: the error pickles intact
        self.path, self.problems, self.hint = Path(path), list(problems), hint

    def __str__(self) -> str:
        hint = self.hint or (f"Delete it (rm -r '{self.path}') or run without --mlperf-offline "
                             f"to have it rebuilt")
        return f"cache entry {self.path} failed verification: {'; '.join(self.problems)}. {hint}"


class CacheEntryRebuilt(UserWarning):
    """A cache entry failed verification and is being rebuilt (or downloaded again)."""


def warn_replaced(path: Path, problems: list[str], action: str = "rebuilding it") -> None:
    message = f"cache entry {path} failed verification ({'; '.join(problems)}); {action}"
    log.warning(message)
    warnings.warn(CacheEntryRebuilt(message), stacklevel=3)


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


def verify_entry(final: Path) -> list[str]:
    """Settle an entry under its lock: the problems with it, [] when it is good.

    Files whose timestamps moved are re-hashed in full; when they pass, their
    new timestamps are recorded so the next use is quick again.
    """
    inspection = manifest.quick_check(final)
    if inspection.problems or not inspection.unsure:
        return inspection.problems
    problems, seen = manifest.rehash(final, inspection.unsure)
    if problems:
        return problems
    try:
        manifest.write(manifest.manifest_path(final), manifest.restamp(inspection.manifest, seen))
    except OSError:
        pass  # a read-only cache: the content is right, the full check just repeats next time
    return []


def discard(final: Path) -> None:
    """Remove an entry and its manifest. Renamed aside first, so a kill mid-removal
    leaves a swept temporary rather than a half-deleted entry under the final name."""
    aside = final.with_name(f"{final.name}{TMP_MARKER}discard-{secrets.token_hex(4)}")
    try:
        os.replace(final, aside)
    except FileNotFoundError:
        aside = None
    remove_path(manifest.sidecar_path(final))
    if aside is not None:
        remove_path(aside)


def publish(tmp: Path, final: Path, *, checksum: str | None = None, blocks: list[str] | None = None) -> None:
    """Record ``tmp``'s manifest and rename it onto ``final`` (under ``final``'s lock).

    A folder carries its manifest inside, so both appear with one rename. A
    file's sidecar is written before the rename (a published file always has
    one) and again after it, because the rename moves the file's ctime.
    ``blocks`` are digests already computed while the file was written.
    """
    if tmp.is_dir():
        manifest.write(manifest.inner_path(tmp), manifest.build(tmp, final.name, checksum=checksum))
        _fsync_tree(tmp)
        os.replace(tmp, final)
    else:
        _fsync_tree(tmp)
        record = manifest.file_record(tmp, blocks)
        m = manifest.new_manifest(final.name, "file", [{"path": "", **record}], checksum=checksum)
        sidecar = manifest.sidecar_path(final)
        manifest.write(sidecar, m)
        os.replace(tmp, final)
        manifest.write(sidecar, manifest.restamp(m, {"": os.stat(final)}))
    fsync_dir(final.parent)


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
                    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                    offline: bool = False) -> Path:
    """Return ``cache_dir/name``, verified, building it once across processes if needed.

    ``build(tmp)`` must create ``tmp`` (a file or a directory). It runs under the
    artifact's lock on a fresh temporary sibling name; on success the result is
    recorded in a manifest and renamed onto the final name, on any exception it
    is deleted and the exception propagates. Nothing half-built ever appears
    under the final name. An entry that fails verification is rebuilt, or with
    ``offline=True`` raises ``CacheEntryInvalid`` naming it and what differed.
    """
    final = _safe_target(Path(cache_dir), name)
    if manifest.quick_check(final).ok:  # fast path: no lock needed to use a published, intact entry
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with artifact_lock(final, timeout=lock_timeout):
        sweep_stale(final, TMP_MARKER)
        manifest.sweep(final)
        if os.path.lexists(final):
            # Either another process built it while we waited, or it needs settling.
            problems = verify_entry(final)
            if not problems:
                return final
            if offline:
                raise CacheEntryInvalid(final, problems)
            warn_replaced(final, problems)
            discard(final)
        # A random token, not only the pid: two threads of one process may race.
        tmp = final.with_name(f"{final.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            build(tmp)
            if not tmp.exists():
                raise ArtifactError(f"builder {build!r} did not create {tmp} (for {final})")
            publish(tmp, final)
        except BaseException:
            remove_path(tmp)
            raise
    return final
