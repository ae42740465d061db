"""The word error rate of an rnnt accuracy log, printed as MLPerf's ``accuracy_eval.py`` prints it.

As the script: every entry of the log is one hypothesis (its ``data``, the
response bytes in hex, read as int64 label ids: ``array.array('q', ...)``,
the default ``--output_dtype int64``), paired with the normalised transcript
of its ``qsl_idx``; ids become text through the labels; the WER is the
summed word edit distance over the summed reference words (wer.py). The
script scores every entry it finds, in log order, without merging repeats
of a qsl_idx (an accuracy run logs each sample once); so does this scorer.
What the script would trip over (an id outside the labels, bytes that are
not whole ids, an index outside the set) is an AccuracyLogError naming the
file and the entry.

The gated value is ``(1 - WER) * 100``, what the checker reads off the line.
``subset`` (a --mlperf-count run) changes nothing: the script scores exactly
the entries the log holds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.accuracy.scoring import Scored
from harness.metrics.accuracy_log import AccuracyLogError, DTYPES, read_accuracy_log, sample_index

from .text import LABELS, to_text
from .truth import Transcripts
from .wer import word_errors

METRIC = "ACCURACY"
# accuracy_eval.py's --output_dtype choices that the harness's logs can carry
INTEGER_DTYPES = ("int64", "int32")


class WerScorer:
    def __init__(self, truth: Transcripts, *, dtype: str = "int64", tokenizer_dir=None, subset: bool = False):
        if not isinstance(truth, Transcripts):
            raise TypeError(f"the rnnt scorer needs the dataset's Transcripts, got {type(truth).__name__}")
        if dtype not in INTEGER_DTYPES:
            raise AccuracyLogError(f"rnnt responses are label ids, read as {' or '.join(INTEGER_DTYPES)}; "
                                   f"the registry asks for {dtype}")
        self.truth, self.dtype = truth, dtype

    def hypotheses(self, log_path: Path) -> tuple[list[int], list[str]]:
        """(qsl_idx, hypothesis text) of every entry, in log order."""
        log_path = Path(log_path)
        entries = read_accuracy_log(log_path)
        if not entries:
            raise AccuracyLogError(f"{log_path}: holds no entries; expected one transcript per utterance")
        total = len(self.truth)
        indices, texts = [], []
        for position, entry in enumerate(entries):
            where = f"{log_path}: entry {position}"
            index = sample_index(entry, where, total, f"the dataset's {total} utterances")
            where = f"{where} (qsl_idx {index}, {self.truth.fnames[index]})"
            try:
                ids = np.frombuffer(bytes.fromhex(entry["data"]), DTYPES[self.dtype])
            except (ValueError, TypeError) as exc:
                raise AccuracyLogError(f"{where}: data is not {self.dtype} label ids in hex: {exc}") from None
            try:
                texts.append(to_text(ids))
            except ValueError as exc:
                raise AccuracyLogError(f"{where}: {exc}; expected ids of {''.join(LABELS)!r} "
                                       "(the blank is never part of a transcript)") from None
            indices.append(index)
        return indices, texts

    def score(self, log_path: Path) -> Scored:
        indices, hypotheses = self.hypotheses(log_path)
        result = word_errors(hypotheses, [self.truth.references[i] for i in indices])
        return Scored({METRIC: result.accuracy}, (result.official_line(),), len(set(indices)), len(self.truth))
