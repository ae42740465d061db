"""Checksums for artifacts: ``"<algorithm>:<hex>"`` strings, streaming digests, verification.

The registry writes checksums as ``"sha256:<hex>"`` or ``"md5:<hex>"`` because the
upstream MLPerf metadata (mlcommons CM/MLC scripts) publishes md5 for most models,
while sha256 is what we prefer for anything we publish ourselves. Carrying the
algorithm in the string keeps both usable without a second registry field.
"""

from __future__ import annotations

import hashlib
import os
import string
from pathlib import Path

# Only algorithms every Python build guarantees, so a registry entry can never
# depend on the local OpenSSL build.
ALGORITHMS = ("sha256", "sha512", "sha1", "md5")

# Digests are read in 1 MiB blocks: model files are ~100 MB and must never be
# loaded whole just to be verified.
_BLOCK = 1 << 20

_HEX = frozenset(string.hexdigits)


class ArtifactError(Exception):
    """Base class for everything this package raises about an artifact."""


class ChecksumMismatch(ArtifactError):
    """A file's digest differs from the expected one.

    ``expected`` and ``actual`` are full ``"<algorithm>:<hex>"`` strings so the
    message can be pasted straight into a registry entry or compared by eye.
    """

    def __init__(self, path, expected: str, actual: str, url: str | None = None,
                 hint: str | None = None):
        # All fields go into ``args`` so the error pickles intact (it may be raised
        # in a pytest-xdist worker or a multiprocessing child and re-raised here).
        super().__init__(path, expected, actual, url, hint)
        self.path = Path(path)
        self.expected = expected
        self.actual = actual
        self.url = url
        self.hint = hint

    def __str__(self) -> str:
        msg = f"checksum mismatch for {self.path}: expected {self.expected}, got {self.actual}"
        if self.url:
            msg += f" (downloaded from {self.url})"
        if self.hint:
            msg += f". {self.hint}"
        return msg


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"sha256:<hex>"`` into ``("sha256", "<hex>")``, validating both parts.

    Validation happens here, up front, so a typo in the registry fails before a
    100 MB download rather than after it.
    """
    if not isinstance(checksum, str) or ":" not in checksum:
        raise ValueError(f"checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}")
    algo, _, hexdigest = checksum.partition(":")
    algo = algo.strip().lower()
    hexdigest = hexdigest.strip().lower()
    if algo not in ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm {algo!r} in {checksum!r}; "
                         f"use one of {', '.join(ALGORITHMS)}")
    size = hashlib.new(algo).digest_size * 2
    if len(hexdigest) != size or not set(hexdigest) <= _HEX:
        raise ValueError(f"{algo} checksum must be {size} hex digits, got {hexdigest!r}")
    return algo, hexdigest


def new_hasher(algorithm: str):
    """A fresh hashlib object; used by the downloader to hash while it writes."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in fixed-size blocks into one reused buffer."""
    h = new_hasher(algorithm)
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def verify(path: str | os.PathLike, checksum: str) -> None:
    """Raise :class:`ChecksumMismatch` unless ``path`` has the given checksum."""
    algo, expected = parse_checksum(checksum)
    actual = file_digest(path, algo)
    if actual != expected:
        raise ChecksumMismatch(path, f"{algo}:{expected}", f"{algo}:{actual}")
