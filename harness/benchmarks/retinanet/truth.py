"""The ground truth a retinanet run hands its scorer (built by the dataset, read by the scorer)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .annotations import ImageEntry


@dataclass(frozen=True)
class DetectionTruth:
    """The annotation file and its images in query-sample-index order (``images[i]`` is qsl_idx i).

    The scorer reads the boxes from ``annotation_file`` itself, as MLPerf's
    accuracy script reads them, and checks its image list still equals
    ``images``: a file changed since the samples were staged would map
    indices to the wrong images.
    """
    annotation_file: Path
    images: tuple[ImageEntry, ...]
    count: int  # samples staged (the first ``count`` images; all without --mlperf-count)
