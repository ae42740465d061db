"""Artifacts: checksums, the persistent cache, and verified downloads.

Public API (fixtures use these; nothing here touches the network at import):
    file_digest, parse_checksum, verify          -- checksum
    default_cache_dir, artifact_lock, ensure_artifact(..., offline=False),
    verify_entry                                 -- cache
    quick_check, full_check                      -- manifest (per-entry integrity)
    fetch(..., offline=False), stage_local       -- download
    ArtifactError > ChecksumMismatch > CorruptArtifact, DownloadError, ArtifactMissing,
                    CacheEntryInvalid
    CacheEntryRebuilt (a UserWarning)
"""

from .cache import (DEFAULT_LOCK_TIMEOUT, CacheEntryInvalid, CacheEntryRebuilt, artifact_lock,
                    default_cache_dir, ensure_artifact, verify_entry)
from .checksum import ArtifactError, ChecksumMismatch, file_digest, parse_checksum, verify
from .download import ArtifactMissing, CorruptArtifact, DownloadError, fetch, stage_local
from .manifest import full_check, quick_check

__all__ = [
    "DEFAULT_LOCK_TIMEOUT", "ArtifactError", "ArtifactMissing", "CacheEntryInvalid", "CacheEntryRebuilt",
    "ChecksumMismatch", "CorruptArtifact", "DownloadError", "artifact_lock", "default_cache_dir",
    "ensure_artifact", "fetch", "file_digest", "full_check", "parse_checksum", "quick_check",
    "stage_local", "verify", "verify_entry",
]
