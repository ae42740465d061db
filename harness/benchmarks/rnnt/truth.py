"""The ground truth an rnnt run hands its scorer (built by the dataset, read by the scorer)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Transcripts:
    """The normalised reference transcripts in query-sample-index order (``references[i]`` is qsl_idx i)."""
    manifest: Path
    references: tuple[str, ...]
    fnames: tuple[str, ...]  # the wav each transcript belongs to, for messages

    def __len__(self) -> int:
        return len(self.references)
