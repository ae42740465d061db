"""The manifest MLPerf's ``convert_librispeech.py`` writes, read as its ``Manifest`` reads it.

Layout (``run.sh`` stage 2, README "Test data order"): a dataset folder
(``--dataset_dir``) holding ``dev-clean-wav.json`` and the converted files
under ``dev-clean-wav/<speaker>/<chapter>/<speaker>-<chapter>-<utterance>.wav``.
The manifest is a JSON array, one object per utterance:

    {"files": [{"channels": 1, "sample_rate": 16000.0, "bitrate": 16, "duration": 6.59,
                "num_samples": 105440, "encoding": "Signed Integer PCM", "silent": false,
                "fname": "dev-clean-wav/2277/149896/2277-149896-0000.wav", "speed": 1}],
     "original_duration": 6.59, "original_num_samples": 105440,
     "transcript": "he was in a fevered state of mind ..."}

``fname`` is relative to the dataset folder. What MLPerf reads of it: the
utterances in file order, minus those whose ``original_duration`` exceeds
15 s (the QSL's ``max_duration=15.0``: 2,513 of dev-clean's 2,703 remain);
for each, the first file of speed 1 and the transcript, normalised
(``text.normalize``). Query-sample index i is the i-th utterance kept.
Anything it would trip over is a DatasetFormatError naming the manifest and
the entry.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.datasets.base import DatasetFormatError

from .text import TranscriptError, normalize

MANIFEST_NAMES = ("dev-clean-wav.json", "librispeech-dev-clean-wav.json")
MAX_DURATION = 15.0  # s: AudioQSL's Manifest(max_duration=15.0)
SPEED = 1  # Manifest(filter_speed=1.0): the unperturbed file


@dataclass(frozen=True)
class Utterance:
    entry: int  # position in the manifest (before the duration filter)
    path: Path  # the wav file
    fname: str  # as the manifest names it
    duration: float  # original_duration, s
    transcript: str  # normalised: labels only


@dataclass(frozen=True)
class Manifest:
    path: Path
    root: Path  # the dataset folder fnames are relative to
    utterances: tuple[Utterance, ...]  # kept, in query-sample-index order
    filtered: int  # entries dropped by the duration filter

    def first(self, count: int | None) -> tuple[Utterance, ...]:
        """The first ``count`` utterances (all when None), as --mlperf-count asks."""
        if count is None:
            return self.utterances
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive number of utterances, got {count!r}")
        if count > len(self.utterances):
            raise DatasetFormatError(f"{self.path}: count={count} but it keeps only {len(self.utterances)} "
                                     f"utterances of at most {MAX_DURATION:g} s")
        return self.utterances[:count]


def manifest_path(directory: Path) -> Path:
    """The manifest: ``directory`` itself when it is a file, else the first of MANIFEST_NAMES in it."""
    directory = Path(directory)
    if directory.is_file():
        return directory
    if not directory.is_dir():
        raise DatasetFormatError(f"{directory}: no such file or folder (expected the LibriSpeech folder holding "
                                 f"{MANIFEST_NAMES[0]})")
    for name in MANIFEST_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise DatasetFormatError(f"{directory}: no {' or '.join(MANIFEST_NAMES)} in it (expected the manifest MLPerf's "
                             "convert_librispeech.py writes beside the dev-clean-wav folder)")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _fail(path: Path, where: str, found, expected: str):
    raise DatasetFormatError(f"{path}: {where} is {found!r}; expected {expected}")


def read_manifest(directory: Path) -> Manifest:
    path = manifest_path(directory)
    root = path.parent
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise DatasetFormatError(f"{path}: not readable as JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, list):
        raise DatasetFormatError(f"{path}: expected a JSON array of utterances (convert_librispeech.py's "
                                 f"manifest), got a {type(data).__name__}")
    kept, filtered = [], 0
    for n, entry in enumerate(data):
        if not isinstance(entry, dict):
            _fail(path, f"entry {n}", type(entry).__name__,
                  "an object with 'files', 'original_duration' and 'transcript'")
        duration = entry.get("original_duration")
        if not _number(duration) or duration < 0:
            _fail(path, f"entry {n}.original_duration", duration, "the utterance's length in seconds")
        if duration > MAX_DURATION:
            filtered += 1
            continue
        kept.append(_utterance(path, root, n, entry, float(duration)))
    if not kept:
        raise DatasetFormatError(f"{path}: no utterance of at most {MAX_DURATION:g} s in it ({filtered} longer ones "
                                 "filtered out as MLPerf's QSL filters them)")
    return Manifest(path, root, tuple(kept), filtered)


def _utterance(path: Path, root: Path, n: int, entry: dict, duration: float) -> Utterance:
    files = entry.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        _fail(path, f"entry {n}.files", files, "a list of {fname, speed, ...} objects")
    for i, f in enumerate(files):
        if not _number(f.get("speed")):
            _fail(path, f"entry {n}.files[{i}].speed", f.get("speed"), "a number (1 for the unperturbed file)")
    chosen = next((f for f in files if f["speed"] == SPEED), None)
    if chosen is None:
        _fail(path, f"entry {n}.files", [f["speed"] for f in files], "a file of speed 1 (MLPerf reads only that one)")
    fname = chosen.get("fname")
    if not isinstance(fname, str) or not fname or Path(fname).is_absolute() or ".." in Path(fname).parts:
        _fail(path, f"entry {n}.files[speed 1].fname", fname, "a wav path relative to the dataset folder")
    transcript = entry.get("transcript")
    if not isinstance(transcript, str):
        _fail(path, f"entry {n}.transcript", transcript, "the utterance's text (convert_librispeech.py writes it)")
    try:
        text = normalize(transcript)
    except TranscriptError as exc:
        raise DatasetFormatError(f"{path}: entry {n}.transcript {transcript!r} {exc}") from None
    return Utterance(n, root / fname, fname, duration, text)
