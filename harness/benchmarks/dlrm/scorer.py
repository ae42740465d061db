"""AUC of a dlrm-v2 accuracy log, printed as MLPerf's ``tools/accuracy-dlrm.py`` prints it.

As the script: entries are read in log order, a ``qsl_idx`` seen before is
skipped; each entry's ``data`` is decoded with the dtype (float32 by
default) and holds, per row of its sample, either the prediction alone
(the script's ``--day-23-file`` mode: the labels come from the dataset, in
the aggregation's row order) or the reference SUT's ``[prediction, label]``
pairs; here the labels always come from the dataset, and pairs whose label
differs from it are an error. Then ``sklearn.metrics.roc_auc_score`` over
every answered row, and the accuracy of ``prediction.round() == label``:

    AUC=80.310%, accuracy=96.601%, good=..., total=..., queries=...

The script scores whatever the log answers (and warns when the count
differs from the trace's); so does this scorer, adding the warning as a note.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.accuracy.scoring import Scored
from harness.metrics.accuracy_log import AccuracyLogError, DTYPES, read_accuracy_log, sample_index

from .truth import ClickTruth

METRIC = "AUC"
SCRIPT_DTYPES = ("float32", "int32", "int64")  # accuracy-dlrm.py --dtype choices


def official_line(auc: float, good: int, total: int, queries: int) -> str:
    return "AUC={:.3f}%, accuracy={:.3f}%, good={}, total={}, queries={}".format(
        100.0 * auc, 100.0 * good / total, good, total, queries)


class AucScorer:
    def __init__(self, truth: ClickTruth, *, dtype: str = "float32", tokenizer_dir=None, subset: bool = False):
        # By its fields, not isinstance: a family loaded from a registry folder can be imported
        # under two package names in one process (pytest collects the folder as a package too).
        if not all(hasattr(truth, name) for name in ("offsets", "labels", "labels_file", "of")):
            raise TypeError(f"the dlrm-v2 scorer needs a ClickTruth, got {type(truth).__name__}")
        if dtype not in SCRIPT_DTYPES:
            raise AccuracyLogError(f"response dtype {dtype!r}: accuracy-dlrm.py decodes {', '.join(SCRIPT_DTYPES)}")
        self.truth, self.dtype = truth, dtype

    def predictions(self, log_path: Path) -> tuple[list[int], np.ndarray, np.ndarray]:
        """(qsl indices in first-seen order, predictions, labels), one value per answered row."""
        log_path = Path(log_path)
        entries = read_accuracy_log(log_path)
        total = len(self.truth)
        seen: set[int] = set()
        order: list[int] = []
        results: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        for position, entry in enumerate(entries):
            where = f"{log_path}: entry {position}"
            index = sample_index(entry, where, total, f"the dataset's {total} samples")
            if index in seen:  # de-dupe as the script does: the first entry counts
                continue
            seen.add(index)
            order.append(index)
            where = f"{where} (qsl_idx {index})"
            try:
                data = np.frombuffer(bytes.fromhex(entry["data"]), DTYPES[self.dtype])
            except (ValueError, TypeError) as exc:
                raise AccuracyLogError(f"{where}: data is not {self.dtype} hex: {exc}") from None
            labels = self.truth.of(index)
            rows = len(labels)
            if data.size == rows:
                results.append(data)
            elif data.size == 2 * rows:
                pairs = data.reshape(rows, 2)
                if not np.array_equal(pairs[:, 1], labels):
                    row = int(np.flatnonzero(pairs[:, 1] != labels)[0])
                    raise AccuracyLogError(f"{where}: row {row} logs label {pairs[row, 1].item()!r}, the dataset's "
                                           f"{self.truth.labels_file} has {int(labels[row])}")
                results.append(pairs[:, 0])
            else:
                raise AccuracyLogError(f"{where}: {data.size} {self.dtype} values; expected {rows} (one prediction "
                                       f"per row of the sample) or {2 * rows} ([prediction, label] pairs)")
            targets.append(labels)
        if not order:
            raise AccuracyLogError(f"{log_path}: holds no entries; expected one per sample")
        return order, np.concatenate(results), np.concatenate(targets)

    def score(self, log_path: Path) -> Scored:
        from sklearn.metrics import roc_auc_score

        order, results, targets = self.predictions(log_path)
        if not np.isfinite(results.astype(np.float64)).all():
            raise AccuracyLogError(f"{log_path}: a prediction is not a finite number (NaN or infinity)")
        classes = np.unique(targets)
        if len(classes) < 2:  # sklearn warns and answers NaN: the AUC is undefined
            raise AccuracyLogError(f"{log_path}: no AUC over its {len(targets)} rows: every label is {classes[0]} "
                                   "(the AUC needs clicks and non-clicks)")
        auc = float(roc_auc_score(targets, results))
        good = int(np.count_nonzero(results.round() == targets))
        lines = [official_line(auc, good, len(targets), len(order))]
        notes: tuple[str, ...] = ()
        if len(order) != len(self.truth):
            notes = (f"Warning: number of samples in trace file ({len(self.truth)}) does not match number of "
                     f"samples ({len(order)}) in loadgen accuracy log!",)
        return Scored({METRIC: 100.0 * auc}, tuple(lines) + notes, len(order), len(self.truth), notes)
