"""The WAV files MLPerf's ``convert_librispeech.py`` writes: 16-bit PCM, mono, 16 kHz.

MLPerf reads them with soundfile as float32 (``AudioSegment.from_file``),
which scales 16-bit samples by 1/32768, and resamples any other rate to
16 kHz with librosa. This harness reads them with the standard library's
``wave`` and refuses another rate instead of resampling: a LibriSpeech
conversion at the wrong rate is a mistake to name, not to paper over, and a
resampler would change the samples MLPerf scores. Every error names the file
and what was expected.
"""
from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError

SAMPLE_RATE = 16000  # rnnt.toml's input_eval.sample_rate
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM, as sox writes LibriSpeech's FLAC out
CHANNELS = 1
PCM_SCALE = 1.0 / 32768.0  # what soundfile multiplies 16-bit samples by for float32
EXPECTED = f"{SAMPLE_WIDTH * 8}-bit PCM WAV, mono, {SAMPLE_RATE} Hz, as convert_librispeech.py writes"
# What the standard library's reader raises on a damaged file: besides its own
# wave.Error, a chunk size past the file's end surfaces as RuntimeError from
# its chunk seek and a short header as struct.error (found by tools/fuzz).
_UNREADABLE = (wave.Error, EOFError, RuntimeError, struct.error, ValueError)


@dataclass(frozen=True)
class WavInfo:
    path: Path
    sample_rate: int
    channels: int
    sample_width: int
    frames: int


def _open(path: Path):
    try:
        return wave.open(str(path), "rb")
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: missing (expected a {EXPECTED})") from None
    except _UNREADABLE as exc:
        raise DatasetFormatError(f"{path}: not a readable PCM WAV file ({type(exc).__name__}: {exc}); "
                                 f"expected a {EXPECTED}") from None


def info(path: Path) -> WavInfo:
    """The header of ``path``, checked: a rate, width or channel count MLPerf's model cannot take is an error."""
    path = Path(path)
    with _open(path) as f:
        found = WavInfo(path, f.getframerate(), f.getnchannels(), f.getsampwidth(), f.getnframes())
    if found.sample_rate != SAMPLE_RATE:
        raise DatasetFormatError(f"{path}: sample rate {found.sample_rate} Hz; expected {SAMPLE_RATE} Hz "
                                 "(MLPerf's rnnt features are computed at 16 kHz; convert the file to 16 kHz)")
    if found.sample_width != SAMPLE_WIDTH:
        raise DatasetFormatError(f"{path}: {found.sample_width * 8}-bit samples; expected a {EXPECTED}")
    if found.channels != CHANNELS:
        raise DatasetFormatError(f"{path}: {found.channels} channels; expected a {EXPECTED}")
    return found


def read(path: Path) -> np.ndarray:
    """The samples of ``path`` as float32 in [-1, 1), soundfile's scaling."""
    found = info(path)
    with _open(found.path) as f:
        try:
            data = f.readframes(found.frames)
        except _UNREADABLE as exc:
            raise DatasetFormatError(f"{found.path}: its samples cannot be read ({type(exc).__name__}: {exc}); "
                                     f"expected a {EXPECTED}") from None
    if len(data) != found.frames * SAMPLE_WIDTH:
        raise DatasetFormatError(f"{found.path}: its header promises {found.frames} samples but it holds "
                                 f"{len(data) // SAMPLE_WIDTH}; expected a complete {EXPECTED}")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) * np.float32(PCM_SCALE)


def write(path: Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """``samples`` (int16) as a mono 16-bit PCM WAV file."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError(f"expected mono int16 samples, got {samples.dtype} of shape {samples.shape}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(CHANNELS)
        f.setsampwidth(SAMPLE_WIDTH)
        f.setframerate(int(sample_rate))
        f.writeframes(samples.astype("<i2").tobytes())
