"""rnnt's dataset format on bad input: every error names the file (and the entry) and what was
expected, before any long work; and the manifest is read as MLPerf's QSL reads it."""
from __future__ import annotations

import importlib
import json
import re
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from harness.datasets.base import DatasetFormatError, DatasetRequest
from harness.registry.parts import _package_for

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "rnnt"
PROXY_DATASET = FAMILY_DIR / "proxy" / "librispeech-tones"


def family(module: str):
    return importlib.import_module(f"{_package_for(FAMILY_DIR)}.{module}")


manifest_module, wav = family("manifest"), family("wav")
LibriSpeechWav = family("dataset").LibriSpeechWav


@pytest.fixture
def dataset(tmp_path):
    """The first three proxy utterances, copied into a dataset folder of their own; returns (folder, entries)."""
    entries = json.loads((PROXY_DATASET / "dev-clean-wav.json").read_text())[:3]
    for entry in entries:
        target = tmp_path / entry["files"][0]["fname"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROXY_DATASET / entry["files"][0]["fname"], target)
    write_manifest(tmp_path, entries)
    return tmp_path, entries


def write_manifest(folder: Path, entries) -> Path:
    path = folder / "dev-clean-wav.json"
    path.write_text(json.dumps(entries, indent=2))
    return path


def write_wav(path: Path, rate: int = 16000, width: int = 2, channels: int = 1, frames: int = 8000) -> Path:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(np.zeros(frames * channels * width, np.uint8).tobytes())
    return path


def check(folder: Path, count=None):
    LibriSpeechWav().check(folder, count)


# ------------------------------------------------------------------ the audio files
def test_a_file_at_another_sample_rate_is_named_with_its_rate_and_16000(dataset, tmp_path):
    folder, entries = dataset
    bad = write_wav(folder / entries[1]["files"][0]["fname"], rate=8000)
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(str(bad))}: sample rate 8000 Hz; expected 16000 Hz"):
        check(folder)
    # ... before any staging: prepare refuses it with nothing written to the cache
    with pytest.raises(DatasetFormatError, match="sample rate 8000 Hz; expected 16000 Hz"):
        LibriSpeechWav().prepare(folder, DatasetRequest(cache_dir=tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()
    check(folder, count=1)  # a run over the first utterance alone never reads it


def test_the_harness_refuses_the_wrong_rate_when_provisioning_a_users_dataset(dataset, tmp_path):
    from harness.provision import provision
    from harness.registry.loader import load_benchmark

    folder, entries = dataset
    bad = write_wav(folder / entries[2]["files"][0]["fname"], rate=44100)
    with pytest.raises(DatasetFormatError, match=rf"{re.escape(str(bad))}: sample rate 44100 Hz; expected 16000 Hz"):
        provision(load_benchmark(FAMILY_DIR / "benchmark.toml"), "onnxruntime", "fp32", cache_dir=tmp_path / "cache",
                  dataset_path=folder)


@pytest.mark.parametrize("kwargs, expected", [
    ({"width": 1}, "8-bit samples; expected a 16-bit PCM WAV, mono, 16000 Hz"),
    ({"channels": 2}, "2 channels; expected a 16-bit PCM WAV, mono, 16000 Hz"),
    ({"frames": 200}, "200 samples; expected more than 256"),
])
def test_a_file_mlperfs_featurizer_cannot_take_is_named(dataset, kwargs, expected):
    folder, entries = dataset
    bad = write_wav(folder / entries[0]["files"][0]["fname"], **kwargs)
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(str(bad))}: {expected}"):
        check(folder)


def test_a_missing_or_unreadable_file_is_named_with_its_entry(dataset):
    folder, entries = dataset
    missing = folder / entries[1]["files"][0]["fname"]
    missing.unlink()
    listed = rf"^{re.escape(str(missing))}: missing; .*dev-clean-wav.json lists it as entry 1"
    with pytest.raises(DatasetFormatError, match=listed):
        check(folder)
    missing.write_bytes(b"RIFF....not a wav")
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(str(missing))}: not a readable PCM WAV file"):
        check(folder)


def test_a_truncated_file_is_named_when_read(dataset):
    folder, entries = dataset
    path = folder / entries[0]["files"][0]["fname"]
    path.write_bytes(path.read_bytes()[:2000])
    short = rf"^{re.escape(str(path))}: its header promises \d+ samples but it holds 978"
    with pytest.raises(DatasetFormatError, match=short):
        wav.read(path)


# ------------------------------------------------------------------ the manifest
@pytest.mark.parametrize("content, expected", [
    ("{not json", r"not valid JSON at line 1"),
    ('{"files": []}', r"expected a JSON array of utterances"),
    ("[]", r"no utterance of at most 15 s"),
    ('[{"files": [], "transcript": "a"}]', r"entry 0\.original_duration is None; expected the utterance's length"),
    ('[{"original_duration": 1.0, "transcript": "a"}]', r"entry 0\.files is None; expected a list"),
    ('[{"original_duration": 1.0, "transcript": "a", "files": [{"fname": "x.wav", "speed": 0.9}]}]',
     r"entry 0\.files is \[0\.9\]; expected a file of speed 1"),
    ('[{"original_duration": 1.0, "transcript": "a", "files": [{"fname": "/abs/x.wav", "speed": 1}]}]',
     r"entry 0\.files\[speed 1\]\.fname is '/abs/x.wav'; expected a wav path relative to the dataset folder"),
    ('[{"original_duration": 1.0, "files": [{"fname": "x.wav", "speed": 1}]}]',
     r"entry 0\.transcript is None; expected the utterance's text"),
    ('[{"original_duration": 1.0, "transcript": "chapter 12", "files": [{"fname": "x.wav", "speed": 1}]}]',
     r"entry 0\.transcript 'chapter 12' holds digits"),
])
def test_a_malformed_manifest_names_the_file_the_entry_and_the_field(tmp_path, content, expected):
    (tmp_path / "dev-clean-wav.json").write_text(content)
    with pytest.raises(DatasetFormatError, match=rf"^{re.escape(str(tmp_path / 'dev-clean-wav.json'))}: {expected}"):
        check(tmp_path)


def test_a_folder_without_the_manifest_names_what_it_expected(tmp_path):
    expected = rf"^{re.escape(str(tmp_path))}: no dev-clean-wav.json or librispeech-dev-clean-wav.json"
    with pytest.raises(DatasetFormatError, match=expected):
        check(tmp_path)


def test_utterances_over_15_s_are_dropped_and_the_indices_follow_the_kept_ones(dataset):
    folder, entries = dataset
    gone = [dict(entries[0]["files"][0], fname="dev-clean-wav/gone.wav")]
    long = dict(entries[0], original_duration=15.01, files=gone)
    edge = dict(entries[1], original_duration=15.0)
    write_manifest(folder, [entries[2], long, edge])
    manifest = manifest_module.read_manifest(folder)
    assert manifest.filtered == 1  # as the QSL's max_duration=15.0: the missing file is never read
    assert [u.entry for u in manifest.utterances] == [0, 2]
    assert [u.transcript for u in manifest.utterances] == [entries[2]["transcript"], entries[1]["transcript"]]
    check(folder)
    truth = LibriSpeechWav().ground_truth(folder, DatasetRequest())
    assert truth.references == (entries[2]["transcript"], entries[1]["transcript"])


def test_the_first_file_of_speed_one_is_the_one_read_and_the_transcript_is_normalised(dataset):
    folder, entries = dataset
    files = [dict(entries[0]["files"][0], fname="dev-clean-wav/fast.wav", speed=1.1), entries[0]["files"][0]]
    write_manifest(folder, [dict(entries[0], files=files, transcript="  Going, HE our... over! ")])
    (utterance,) = manifest_module.read_manifest(folder).utterances
    assert utterance.fname == entries[0]["files"][0]["fname"] and utterance.transcript == "going he our over"
    check(folder)


def test_a_count_beyond_the_kept_utterances_names_the_manifest(dataset):
    folder, _ = dataset
    with pytest.raises(DatasetFormatError, match=r"dev-clean-wav.json: count=4 but it keeps only 3 utterances"):
        check(folder, count=4)


def test_the_manifest_file_itself_may_be_given(dataset):
    folder, _ = dataset
    truth = LibriSpeechWav().ground_truth(folder / "dev-clean-wav.json", DatasetRequest())
    assert len(truth) == 3 and truth.manifest == folder / "dev-clean-wav.json"
