"""Speech recognition answered as MLPerf's rnnt SUT answers: waveform in, label ids out.

Per query sample, as ``pytorch_SUT.py``: the staged float32 waveform goes
through MLPerf's feature extraction (``features.Filterbank``), the model,
and greedy decoding; the response is the transcript's label ids as int64
(``array.array('q', transcript)``), one id per character, no blank; an empty
transcript answers zero bytes.

The model (the proxy's contract): input ``features`` float32 [N, T, 240]
(batch-major, 240 = 80 mel x 3 spliced frames, T frames of 30 ms), output
``logits`` float32 [N, T, 29] (28 labels, then the blank). MLPerf's own
model is an RNN-T whose greedy decoder runs three networks in a loop; the
proxy is a CTC model decoded by its best path (decoding.py), which one
backend call per utterance can answer.

Mutation options, only for tests that show the accuracy gate bites:
``window_stride`` (seconds between STFT frames; MLPerf's is 0.01) and
``remove_blanks_first`` (the decoder drops the blank before merging repeats).
"""
from __future__ import annotations

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task

from .decoding import best_path
from .features import WINDOW_STRIDE, Filterbank, FilterbankConfig
from .text import BLANK, LABELS

CLASSES = len(LABELS) + 1  # the labels and the blank


class SpeechRecognition(Task):
    input_kind = "volumes"  # each waveform its own length
    response_kind = "ragged"  # each transcript its own length
    inputs = ("features",)
    outputs = ("logits",)
    contract_outputs = ("logits",)
    response_dtype = np.int64

    def __init__(self, window_stride: float = WINDOW_STRIDE, remove_blanks_first: bool = False):
        self.filterbank = Filterbank(FilterbankConfig(window_stride=float(window_stride)))
        self.remove_blanks_first = bool(remove_blanks_first)

    def model_contract(self) -> ModelContract:
        features = self.filterbank.config.features
        return ModelContract(
            inputs=(TensorContract("features", ("float32",)),),
            outputs=(TensorContract("logits", ("float32",), ((None, CLASSES),),
                                    f"per 30 ms frame, scores of the {len(LABELS)} labels and the blank "
                                    f"(last) from {features} features"),),
        )

    def featurize(self, waveform: np.ndarray) -> np.ndarray:
        """One utterance's model input: float32 [1, T, 240]."""
        return self.filterbank(np.asarray(waveform, dtype=np.float32))[np.newaxis]

    def probe_batch(self, source):
        """What the model is fed for the first utterance."""
        return self.featurize(source[0])

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {"features": batch}

    def transcribe(self, backend, waveform: np.ndarray) -> np.ndarray:
        (logits,) = backend.predict(self.feed(self.featurize(waveform)))
        logits = np.asarray(logits)
        if logits.ndim != 3 or logits.shape[0] != 1 or logits.shape[2] != CLASSES:
            raise ValueError(f"the model returned logits of shape {logits.shape} for one utterance; "
                             f"expected [1, frames, {CLASSES}]")
        return best_path(logits[0], BLANK, remove_blanks_first=self.remove_blanks_first)

    def responses(self, outputs: list[np.ndarray], indices) -> list[np.ndarray]:
        """``outputs``: one transcript (label ids) per sample -> the int64 arrays to log, contiguous."""
        return [np.ascontiguousarray(ids, dtype=self.response_dtype) for ids in outputs]

    def run(self, backend, batch, indices) -> list[np.ndarray]:
        """``batch``: the waveforms to answer (a list, each its own length); one model call each, as MLPerf's SUT."""
        return self.responses([self.transcribe(backend, waveform) for waveform in batch], indices)
