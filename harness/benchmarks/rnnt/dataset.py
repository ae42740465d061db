"""LibriSpeech dev-clean as MLPerf's preprocessing leaves it, staged as one waveform per utterance.

MLPerf's QSL loads each kept utterance's wav as a float32 waveform and the
SUT computes its features per query, so the staged samples are the
waveforms themselves (``volumes`` layout: each its own length), in
query-sample-index order. Layout and order: manifest.py; the files: wav.py.
``check`` reads the manifest and every used file's header before anything
long runs: a missing file, another sample rate or sample width is an error
naming the file.
"""
from __future__ import annotations

from pathlib import Path

from harness.datasets.base import DatasetFormatError, DatasetRequest, Prepared, digest, stage_volumes

from . import wav
from .features import N_FFT
from .manifest import MANIFEST_NAMES, Manifest, Utterance, read_manifest
from .truth import Transcripts

# Bumped whenever the staged arrays could change for the same files.
STAGING_VERSION = "1"
STAGE_PREFIX = "librispeech-wav"


class _Waveforms:
    """The waveforms, read one at a time when asked for (staging walks them twice: sizes, then copies)."""

    def __init__(self, utterances: tuple[Utterance, ...]):
        self._utterances = utterances

    def __len__(self) -> int:
        return len(self._utterances)

    def __getitem__(self, index):
        return wav.read(self._utterances[index].path)


def check_files(manifest: Manifest, utterances: tuple[Utterance, ...]) -> None:
    """Every wav the run reads exists, is 16-bit mono PCM at 16 kHz, and is long enough for one STFT frame."""
    for utterance in utterances:
        if not utterance.path.is_file():
            raise DatasetFormatError(f"{utterance.path}: missing; {manifest.path} lists it as entry "
                                     f"{utterance.entry} (expected every listed wav under {manifest.root})")
        found = wav.info(utterance.path)
        if found.frames <= N_FFT // 2:
            raise DatasetFormatError(f"{utterance.path}: {found.frames} samples; expected more than {N_FFT // 2} "
                                     "(the centred STFT's padding) for an utterance")


def transcripts(manifest: Manifest, utterances: tuple[Utterance, ...]) -> Transcripts:
    return Transcripts(manifest.path, tuple(u.transcript for u in utterances), tuple(u.fname for u in utterances))


class LibriSpeechWav:
    name = "librispeech-dev-clean-wav"
    real_hint = (f"pointing at the folder MLPerf's convert_librispeech.py wrote into (its --dataset_dir: "
                 f"{MANIFEST_NAMES[0]} and the dev-clean-wav/ folder of 16 kHz wav files)")

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        return bench.proxy_dir / bench.proxy.dataset  # committed: nothing cached

    def check(self, directory: Path, count: int | None) -> None:
        manifest = read_manifest(directory)
        check_files(manifest, manifest.first(count))

    def content_files(self, directory: Path) -> list[Path]:
        """The manifest, then every kept utterance's wav, in its order."""
        manifest = read_manifest(directory)
        return [manifest.path] + [u.path for u in manifest.utterances]

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        if request.cache_dir is None:
            raise DatasetFormatError(f"{directory}: staging needs a cache folder (DatasetRequest.cache_dir is None)")
        manifest = read_manifest(directory)
        used = manifest.first(request.count)
        check_files(manifest, used)
        params = {"format": self.name, "staging": STAGING_VERSION, "count": len(used)}
        key = digest(params, manifest.path, *(u.path for u in used))
        samples = stage_volumes(request.cache_dir, STAGE_PREFIX, key, lambda: _Waveforms(used),
                                offline=request.offline)
        return Prepared(Path(directory), samples, transcripts(manifest, used), len(used))

    def ground_truth(self, directory: Path, request: DatasetRequest) -> Transcripts:
        """The transcripts alone: accuracy_eval.py reads the manifest, never the audio."""
        manifest = read_manifest(directory)
        return transcripts(manifest, manifest.first(request.count))
