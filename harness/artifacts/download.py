"""Fetch an artifact into the cache: verified, locked, atomic, never half-written.

Rules this module keeps, and why:
- A file already at ``dest`` is trusted only after its checksum matches; if it
  does not, it may be the user's own file, so it is reported, not deleted.
  Once verified (or downloaded), it gets a cache manifest recording the
  checksum it matched, so later uses run the manifest's quick check instead of
  re-hashing ~100 MB; whenever that cannot vouch, the full checksum runs again.
  A file with a manifest is the cache's own download: if it stopped matching,
  it is downloaded again (offline: reported, naming what differed).
- Offline mode never opens a connection: a miss is an error telling the user
  how to pre-stage the file.
- Bytes go to a temporary sibling and are renamed onto ``dest`` only after the
  byte count and the digest are right, so a cut-off or tampered transfer can
  never be mistaken for the artifact by a later run.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from . import manifest
from .cache import (DEFAULT_LOCK_TIMEOUT, PART_MARKER, artifact_lock, publish, remove_path,
                    sweep_stale, warn_replaced)
from .checksum import (ArtifactError, ChecksumMismatch, file_digest, new_hasher,
                       parse_checksum)

USER_AGENT = "mlperf-pytest (artifact fetch)"


class DownloadError(ArtifactError):
    """The transfer failed: HTTP error, connection error, or a cut-off body."""

    def __init__(self, url: str, reason: str, dest: str | os.PathLike | None = None):
        super().__init__(url, reason, dest)
        self.url, self.reason, self.dest = url, reason, dest

    def __str__(self) -> str:
        where = f" (to {self.dest})" if self.dest is not None else ""
        return f"download of {self.url} failed{where}: {self.reason}"


class ArtifactMissing(ArtifactError):
    """Offline mode (or a missing local file): the artifact is not where it must be."""

    def __init__(self, url: str | None, dest: str | os.PathLike, checksum: str, detail: str = ""):
        super().__init__(url, dest, checksum, detail)
        self.url, self.dest, self.checksum, self.detail = url, Path(dest), checksum, detail

    def __str__(self) -> str:
        head = self.detail or f"{self.dest} is not in the cache and downloads are disabled (offline mode)"
        source = f"download {self.url} on a connected machine and " if self.url else ""
        return (f"{head}. To pre-stage it, {source}copy it to {self.dest} "
                f"(expected checksum {self.checksum}), or point the harness at your own "
                f"copy (--mlperf-model-path / --mlperf-dataset-path).")


class CorruptArtifact(ChecksumMismatch):
    """A file already at the destination does not verify; it is left untouched."""


def _vouched(dest: Path, wanted: str) -> bool:
    """The manifest's quick check passes and the manifest was recorded for this very checksum."""
    inspection = manifest.quick_check(dest)
    return inspection.ok and inspection.manifest.get("checksum") == wanted


def _check_existing(dest: Path, wanted: str, replace_corrupt: bool, offline: bool) -> bool:
    """True if ``dest`` exists and verifies in full; False if absent or to be replaced."""
    if not dest.exists():
        return False
    if not dest.is_file():
        raise ArtifactError(f"{dest} exists but is not a regular file; remove it or choose another cache")
    before = manifest.quick_check(dest)  # only to say what differed, if it does
    algo, expected = parse_checksum(wanted)
    hasher = new_hasher(algo)
    st = os.stat(dest)  # before reading: see manifest.file_record
    blocks = manifest.scan_file(dest, hasher)
    actual = hasher.hexdigest()
    if actual == expected:
        record = {"path": "", **manifest.file_record(dest, blocks, st)}
        try:
            manifest.write(manifest.sidecar_path(dest), manifest.new_manifest(dest.name, "file", [record],
                                                                             checksum=wanted))
        except OSError:
            pass  # a read-only cache: verified all the same, the full check repeats next time
        return True
    ours = before.manifest is not None and not dest.is_symlink()
    differed = before.problems or [f"{algo} digest {actual}, expected {expected}"]
    if ours and not offline:
        # Not deleted here either: the good download replaces it atomically.
        warn_replaced(dest, differed, "downloading it again")
        return False
    if replace_corrupt:
        # Not deleted here: the good download replaces it atomically later, so
        # a failed download still leaves the user's original in place.
        return False
    hint = ("The file was left untouched; delete or move it to download a fresh copy "
            "(or pass replace_corrupt=True)")
    if ours:
        hint = (f"The cache's copy changed since it was downloaded ({'; '.join(differed)}); "
                f"delete it or run without --mlperf-offline to download it again")
    raise CorruptArtifact(dest, wanted, f"{algo}:{actual}", hint=hint)


def fetch(url: str, dest: str | os.PathLike, checksum: str, *, offline: bool = False,
          progress: bool = True, timeout: float = 60, chunk: int = 1 << 20,
          replace_corrupt: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Path:
    """Make ``dest`` hold the verified content of ``url`` and return ``dest``.

    ``timeout`` is the socket timeout per blocking operation, not for the whole
    transfer (a slow but live mirror is fine). ``http(s)://`` and ``file://`` URLs.
    """
    dest = Path(dest)
    algo, expected = parse_checksum(checksum)  # a malformed registry entry fails before any I/O
    wanted = f"{algo}:{expected}"
    if _vouched(dest, wanted):
        return dest
    if offline and not os.path.lexists(dest):
        raise ArtifactMissing(url, dest, checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with artifact_lock(dest, timeout=lock_timeout):
        # Re-check under the lock: the usual case for a waiter is that the
        # holder just finished this very download.
        manifest.sweep(dest)
        if _vouched(dest, wanted) or _check_existing(dest, wanted, replace_corrupt, offline):
            return dest
        if offline:
            raise ArtifactMissing(url, dest, checksum)
        sweep_stale(dest, PART_MARKER)
        _download(url, dest, wanted, progress=progress, timeout=timeout, chunk=chunk)
    return dest


def _download(url: str, dest: Path, checksum: str, *, progress: bool, timeout: float,
              chunk: int) -> None:
    algo, expected = parse_checksum(checksum)
    hasher = new_hasher(algo)
    blocks = manifest.BlockDigests()  # the manifest's digests, computed from the same bytes
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + PART_MARKER)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            # mkstemp creates 0600; a cache may be shared by several users or CI jobs.
            os.fchmod(out.fileno(), 0o644)
            try:
                received, length = _stream(url, out, (hasher, blocks), dest.name, progress, timeout, chunk)
            except urllib.error.HTTPError as e:
                raise DownloadError(url, f"HTTP {e.code} {e.reason}", dest) from e
            except urllib.error.URLError as e:
                raise DownloadError(url, f"cannot open: {e.reason}", dest) from e
            except (http.client.HTTPException, OSError) as e:
                # IncompleteRead, resets, socket timeouts, and disk-full writes.
                raise DownloadError(url, f"{type(e).__name__}: {e}", dest) from e
            # http.client returns a short body without complaint when the peer
            # closes early, so the count is the only reliable truncation check.
            if length is not None and received != length:
                raise DownloadError(url, f"transfer cut off: received {received} of "
                                         f"{length} bytes announced by Content-Length", dest)
            actual = hasher.hexdigest()
            if actual != expected:
                raise ChecksumMismatch(dest, f"{algo}:{expected}", f"{algo}:{actual}", url=url)
        publish(tmp, dest, checksum=checksum, blocks=blocks.finish())  # fsyncs, renames, records
    except BaseException:
        remove_path(tmp)
        raise


def _stream(url, out, hashers, label, progress, timeout, chunk) -> tuple[int, int | None]:
    """Copy the response body to ``out``, feeding ``hashers`` as it goes; return (bytes, Content-Length)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        header = resp.headers.get("Content-Length")
        length = int(header) if header and header.strip().isdigit() else None
        received = 0
        # disable=None lets tqdm switch itself off when stderr is not a TTY
        # (CI logs, pytest capture) instead of spamming carriage returns.
        with tqdm(total=length, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                  file=sys.stderr, leave=False, disable=None if progress else True) as bar:
            while block := resp.read(chunk):
                out.write(block)
                for h in hashers:
                    h.update(block)
                received += len(block)
                bar.update(len(block))
    return received, length


def stage_local(src: str | os.PathLike, dest: str | os.PathLike | None, checksum: str) -> Path:
    """Use the user's own copy ``src`` in place (no copy) after verifying it; return it.

    If ``dest`` (the artifact's cache path) is given and empty, a symlink to
    ``src`` is placed there so later runs, offline ones included, find it.
    """
    src = Path(src).expanduser()
    if not src.is_file():
        raise ArtifactMissing(None, src, checksum, detail=f"local artifact {src} does not exist or is not a file")
    algo, expected = parse_checksum(checksum)
    actual = file_digest(src, algo)
    if actual != expected:
        raise CorruptArtifact(src, f"{algo}:{expected}", f"{algo}:{actual}",
                              hint="Is this the right file for this benchmark?")
    src = src.resolve()
    if dest is not None:
        _link_into_cache(src, Path(dest))
    return src


def _link_into_cache(src: Path, dest: Path) -> None:
    with artifact_lock(dest):
        if dest.exists() or dest.is_symlink():
            return  # the cache already has an entry; never overwrite it silently
        tmp = dest.with_name(f"{dest.name}{PART_MARKER}{os.getpid()}-link")
        remove_path(tmp)
        try:
            os.symlink(src, tmp)
            os.replace(tmp, dest)
        except OSError:
            # Symlinks may be unavailable (some filesystems, Windows without the
            # privilege); the link is only a convenience, the verified src is used.
            remove_path(tmp)
