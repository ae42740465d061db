"""Artifacts: checksums, the persistent cache, and verified downloads.

Public API (fixtures use these; nothing here touches the network at import):
    file_digest, parse_checksum, verify          -- checksum
    default_cache_dir, artifact_lock, ensure_artifact  -- cache
    fetch, stage_local                           -- download
    ArtifactError > ChecksumMismatch > CorruptArtifact, DownloadError, ArtifactMissing
"""

from .cache import DEFAULT_LOCK_TIMEOUT, artifact_lock, default_cache_dir, ensure_artifact
from .checksum import ArtifactError, ChecksumMismatch, file_digest, parse_checksum, verify
from .download import ArtifactMissing, CorruptArtifact, DownloadError, fetch, stage_local

__all__ = [
    "DEFAULT_LOCK_TIMEOUT", "ArtifactError", "ArtifactMissing", "ChecksumMismatch",
    "CorruptArtifact", "DownloadError", "artifact_lock", "default_cache_dir",
    "ensure_artifact", "fetch", "file_digest", "parse_checksum", "stage_local", "verify",
]
