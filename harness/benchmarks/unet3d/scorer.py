"""Mean DICE of a 3d-unet accuracy log, printed as MLPerf's ``accuracy_kits.py`` prints it.

As the script: each entry's ``data`` is the mask's bytes in hex, decoded with
the response dtype and reshaped to the case's ``image_shape``; the case is
``file_list[qsl_idx]``; the mask is compared with the case's ground-truth
segmentation (``dice``). The script insists on exactly one entry per case of
the set; so does this scorer, unless ``subset`` (a run over the first N cases
with --mlperf-count), where the logged cases are scored. Anything the script
would trip over (a wrong size, a label it cannot one-hot encode, a case
logged twice) is an ``AccuracyLogError`` naming the file and the entry.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.accuracy.scoring import Scored
from harness.metrics.accuracy_log import AccuracyLogError, DTYPES, read_accuracy_log, sample_index

from . import dice, layout
from .kits_files import KitsTruth

METRIC = "DICE"


class DiceScorer:
    def __init__(self, truth: KitsTruth, *, dtype: str = "uint8", tokenizer_dir=None, subset: bool = False):
        if dtype not in DTYPES:
            raise AccuracyLogError(f"unknown response dtype {dtype!r}; valid: {', '.join(DTYPES)}")
        self.truth, self.dtype, self.subset = truth, dtype, bool(subset)

    def masks(self, log_path: Path) -> dict[int, np.ndarray]:
        """qsl_idx -> mask [D, H, W] (labels 0..2), every entry checked against its case."""
        log_path = Path(log_path)
        entries = read_accuracy_log(log_path)
        if not entries:
            raise AccuracyLogError(f"{log_path}: holds no entries; expected one mask per case")
        total = len(self.truth)
        masks: dict[int, np.ndarray] = {}
        first_at: dict[int, int] = {}
        for position, entry in enumerate(entries):
            where = f"{log_path}: entry {position}"
            index = sample_index(entry, where, total, f"the dataset's {total} cases")
            case = self.truth.cases[index]
            where = f"{where} (qsl_idx {index}, {case.name})"
            if index in first_at:
                raise AccuracyLogError(f"{where}: logged again (first at entry {first_at[index]}); "
                                       "accuracy_kits.py expects one entry per case")
            first_at[index] = position
            try:
                values = np.frombuffer(bytes.fromhex(entry["data"]), DTYPES[self.dtype])
            except (ValueError, TypeError) as exc:
                raise AccuracyLogError(f"{where}: data is not {self.dtype} hex: {exc}") from None
            expected = int(np.prod(case.shape))
            if values.size != expected:
                raise AccuracyLogError(
                    f"{where}: {values.size} {self.dtype} values; expected {expected}, one per voxel of the case's "
                    f"image_shape (1, {', '.join(map(str, case.shape))})")
            top = values.max() if values.size else 0
            if values.size and (values.min() < 0 or top > layout.TUMOUR or not np.array_equal(values, np.rint(values))):
                bad = values[(values < 0) | (values > layout.TUMOUR) | (values != np.rint(values))][0]
                raise AccuracyLogError(f"{where}: mask value {bad}; expected class indices 0 (background), "
                                       "1 (kidney) and 2 (tumor)")
            masks[index] = values.reshape(case.shape)
        if not self.subset and len(masks) != total:
            missing = sorted(set(range(total)) - set(masks))
            shown = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise AccuracyLogError(f"{log_path}: answers {len(masks)} of the {total} cases; missing qsl_idx {shown} "
                                   "(accuracy_kits.py scores the whole set)")
        return masks

    def summary(self, log_path: Path) -> dice.DiceSummary:
        masks = self.masks(log_path)
        cases, kidney, tumour = [], [], []
        for index in sorted(masks):
            k, t = dice.case_dice(masks[index], self.truth.segmentation(index))
            cases.append(self.truth.cases[index].name)
            kidney.append(k)
            tumour.append(t)
        return dice.DiceSummary(tuple(cases), tuple(kidney), tuple(tumour))

    def score(self, log_path: Path) -> Scored:
        result = self.summary(log_path)
        return Scored({METRIC: result.mean}, (result.official_line(),), len(result.cases), len(self.truth))
