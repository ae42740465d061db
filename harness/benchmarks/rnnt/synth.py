"""Spoken-sounding utterances for the proxy: each letter a vowel-like "phoneme" of two formants.

Every symbol of the labels but the space (a-z and the apostrophe) is a
voiced sound: a harmonic source at the speaker's pitch shaped by two
formants, F1 from six values (280-854 Hz, a quarter apart) and F2 from five
(1100-3340 Hz, a third apart), each symbol its own pair. A letter lasts
55-85 ms with a rising and falling envelope, so a doubled letter is two
sounds with a dip between; a word boundary is a 50-90 ms pause. Each
speaker has its own pitch (95-180 Hz, drifting over the utterance), a
formant scale of +-6% (so the same letter moves across the grid's gaps),
its own formant bandwidth and speaking rate; each letter's formant gains
vary by a few dB, and white noise at 12-24 dB SNR lies over everything.
Telling the letters apart takes a model that has learnt the formant
patterns through the speaker changes; the text comes from a small word
list, some words with doubled letters or apostrophes.

The validation set is written in MLPerf's LibriSpeech layout (manifest.py):
``dev-clean-wav.json`` and ``dev-clean-wav/<speaker>/<chapter>/*.wav``,
16-bit mono 16 kHz. Everything is deterministic: the same split and index
give the same bytes (``numpy.random.default_rng`` keyed by both).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import wav

GENERATOR_VERSION = 1
SAMPLE_RATE = wav.SAMPLE_RATE
SYMBOLS = "abcdefghijklmnopqrstuvwxyz'"
F1 = tuple(round(280.0 * 1.25 ** i, 1) for i in range(6))
F2 = tuple(round(1100.0 * 1.32 ** i, 1) for i in range(5))
# Symbol -> (F1, F2): a fixed scramble of the 30 pairs, so neighbours in the
# alphabet do not share a formant (27 used, 3 spare).
_PAIRS = [(a, b) for a in F1 for b in F2]
_ORDER = (17, 4, 28, 11, 22, 0, 9, 26, 14, 5, 20, 2, 24, 7, 13, 29, 18, 1, 10, 25, 6, 15, 23, 3, 12, 21, 8)
FORMANTS = {symbol: _PAIRS[i] for symbol, i in zip(SYMBOLS, _ORDER)}

WORDS = tuple("""
a about after again all also always am an and any are around as ask at away back be because been before
best big black blue book both boy bring but by call came can can't car carry cat come could cut day did
didn't do does dog don't door down draw each eat egg every fall far fast feel few fill find first five
fly food for four free from full funny get give go going good green grow had has have he help her here
him his hold hot how hurt i i'm if in into is it it's its jump just keep kind know laugh let let's light
like little live long look made make many may me much must my myself need never new next no not now of
off old on once one only open or our out over own pull put queen quick ran read red ride right room round
run said saw say see seven shall she show sing sit six sleep small so soon start still stop tell ten
thank that the their them then there these they think this those three to today together too tree try two
under up upon us use very wait walk want warm was wash we well went were what when where which white who
why will wish with work would write yellow yes you your zoo
""".split())

SPLITS = {"validation": 1, "train": 2}  # seed streams: the committed set never meets the training set
MANIFEST = "dev-clean-wav.json"
AUDIO_DIR = "dev-clean-wav"
UTTERANCES_PER_SPEAKER = 8


def _rng(split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([GENERATOR_VERSION, SPLITS[split], index])


def sentence(rng: np.random.Generator, words: tuple[int, int] = (3, 5)) -> str:
    count = int(rng.integers(words[0], words[1] + 1))
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), count))


def speaker(rng: np.random.Generator) -> dict:
    return {
        "f0": rng.uniform(95.0, 180.0), "drift": rng.uniform(-0.15, 0.15), "scale": rng.uniform(0.94, 1.06),
        "rate": rng.uniform(0.85, 1.15), "bandwidth": rng.uniform(90.0, 140.0), "snr_db": rng.uniform(12.0, 24.0),
    }


def _envelope(n: int, rise: int, fall: int) -> np.ndarray:
    env = np.ones(n)
    rise, fall = min(rise, n // 2), min(fall, n // 2)
    env[:rise] = 0.5 - 0.5 * np.cos(np.pi * np.arange(rise) / rise)
    env[n - fall:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(fall) / fall)
    return env


def _phoneme(symbol: str, n: int, f0: float, voice: dict, rng: np.random.Generator) -> np.ndarray:
    """One letter's sound, unit RMS: harmonics of f0 weighted by the symbol's two formants."""
    first, second = (f * voice["scale"] for f in FORMANTS[symbol])
    harmonics = np.arange(1, int(7000.0 // f0) + 1) * f0
    bw = voice["bandwidth"]
    gains = 10.0 ** (rng.normal(0.0, 3.0, 2) / 20.0)
    amplitude = (gains[0] * np.exp(-0.5 * ((harmonics - first) / bw) ** 2)
                 + 0.6 * gains[1] * np.exp(-0.5 * ((harmonics - second) / (1.5 * bw)) ** 2)
                 + 0.03 / np.arange(1, len(harmonics) + 1))
    phases = rng.uniform(0.0, 2.0 * np.pi, len(harmonics))
    t = np.arange(n) / SAMPLE_RATE
    tone = amplitude @ np.sin(2.0 * np.pi * harmonics[:, None] * t[None, :] + phases[:, None])
    tone *= _envelope(n, int(0.012 * SAMPLE_RATE), int(0.015 * SAMPLE_RATE))
    return tone / max(float(np.sqrt(np.mean(tone ** 2))), 1e-9)


def render(text: str, voice: dict, rng: np.random.Generator) -> np.ndarray:
    """int16 samples of ``text`` (lower-case words of SYMBOLS, single spaces) in ``voice``."""
    if not text or any(c not in SYMBOLS for c in text.replace(" ", "")):
        raise ValueError(f"{text!r}: expected words of {SYMBOLS!r} separated by single spaces")
    rate = voice["rate"]
    plan = [(None, rng.uniform(0.08, 0.2))]
    for w, word in enumerate(text.split(" ")):
        if w:
            plan.append((None, rng.uniform(0.05, 0.09) * rate))
        plan += [(c, rng.uniform(0.055, 0.085) * rate) for c in word]
    plan.append((None, rng.uniform(0.08, 0.2)))
    lengths = [max(1, int(round(seconds * SAMPLE_RATE))) for _, seconds in plan]
    total = sum(lengths)
    signal = np.zeros(total)
    start = 0
    for (symbol, _), n in zip(plan, lengths):
        if symbol is not None:
            f0 = voice["f0"] * (1.0 + voice["drift"] * start / total) * (1.0 + rng.normal(0.0, 0.02))
            signal[start: start + n] = rng.uniform(0.7, 1.3) * _phoneme(symbol, n, f0, voice, rng)
        start += n
    voiced = signal[signal != 0.0]
    noise = rng.normal(0.0, float(np.sqrt(np.mean(voiced ** 2))) / 10.0 ** (voice["snr_db"] / 20.0), total)
    signal += noise
    signal *= rng.uniform(0.3, 0.7) / float(np.max(np.abs(signal)))
    return np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)


def utterance(split: str, index: int, voice: dict | None = None) -> tuple[str, np.ndarray]:
    """(transcript, int16 samples) of utterance ``index`` of ``split``; a fresh voice unless one is given."""
    rng = _rng(split, index)
    text = sentence(rng)
    return text, render(text, speaker(rng) if voice is None else voice, rng)


def render_dataset(root: Path, count: int, split: str = "validation") -> Path:
    """``count`` utterances in MLPerf's LibriSpeech layout under ``root``; returns ``root``.

    Speakers read UTTERANCES_PER_SPEAKER utterances each (one chapter per
    speaker), in manifest order; the manifest is written as
    convert_librispeech.py writes it (a JSON array, indent 2).
    """
    root = Path(root)
    entries = []
    voice: dict = {}
    for index in range(count):
        spk, utt = divmod(index, UTTERANCES_PER_SPEAKER)
        if utt == 0:
            voice = speaker(np.random.default_rng([GENERATOR_VERSION, SPLITS[split], 1_000_000 + spk]))
        text, samples = utterance(split, index, voice)
        speaker_id, chapter = 7000 + 11 * spk, 130000 + 37 * spk
        fname = f"{AUDIO_DIR}/{speaker_id}/{chapter}/{speaker_id}-{chapter}-{utt:04d}.wav"
        wav.write(root / fname, samples)
        duration = len(samples) / SAMPLE_RATE
        entries.append({
            "files": [{"channels": 1, "sample_rate": float(SAMPLE_RATE), "bitrate": 16, "duration": duration,
                       "num_samples": len(samples), "encoding": "Signed Integer PCM", "silent": False,
                       "fname": fname, "speed": 1}],
            "original_duration": duration,
            "original_num_samples": len(samples),
            "transcript": text,
        })
    (root / MANIFEST).write_text(json.dumps(entries, indent=2) + "\n")
    return root
