"""mAP of a retinanet accuracy log, printed as MLPerf's accuracy-openimages.py prints it."""
from __future__ import annotations

from pathlib import Path

from harness.accuracy.scoring import Scored
from harness.metrics.accuracy_log import AccuracyLogError

from .annotations import image_entries, read_annotations
from .truth import DetectionTruth

RESPONSE_DTYPE = "float32"  # the 7-value detections are float32 (openimages.py)


class OpenImagesMapScorer:
    """``Scorer(truth, dtype=...)``; ``.score(log)`` -> Scored({"mAP": percent}, ("mAP=37.552%", ...)).

    ``subset`` changes nothing: the script evaluates exactly the images the
    log answers, so a --mlperf-count run is scored over its own images.
    """

    def __init__(self, truth: DetectionTruth, *, dtype: str = RESPONSE_DTYPE, tokenizer_dir=None, subset: bool = False):
        if not isinstance(truth, DetectionTruth):
            raise TypeError(f"the retinanet scorer needs a DetectionTruth, got {type(truth).__name__}")
        if dtype != RESPONSE_DTYPE:
            raise AccuracyLogError(f"retinanet responses are {RESPONSE_DTYPE} detections; the registry asks for {dtype}")
        self.truth = truth

    def score(self, log_path: Path) -> Scored:
        from .metric import mean_average_precision

        path = Path(self.truth.annotation_file)
        annotations = read_annotations(path)
        if image_entries(annotations) != self.truth.images:
            raise AccuracyLogError(f"{path}: its image list changed since the samples were staged; query-sample "
                                   "indices would point at other images (prepare the dataset again)")
        result = mean_average_precision(log_path, annotations, self.truth.images)
        notes = result.mismatch_lines()
        return Scored({"mAP": result.percent}, (result.official_line(), *result.summary, *notes),
                      result.images, len(self.truth.images), notes)
