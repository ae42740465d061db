"""MLPerf rnnt's labels and the transcript normalisation its ``Manifest`` applies.

The labels are ``accuracy_eval.py``'s: space, a-z, apostrophe (ids 0..27);
the model's blank is appended after them (``helpers.add_blank_label``), id 28.
A response is a list of label ids; the scorer turns ids back into text.

Transcripts are normalised as ``parts/manifest.py`` does with
``normalize=True`` (the QSL and the accuracy script both ask for it):
``english_cleaners`` (ASCII transliteration, lower case, numbers spelt out,
abbreviations expanded, punctuation to spaces with ``&`` -> "and" and ``+``
-> "plus", whitespace collapsed), stripped, then every character that is not
a label dropped. LibriSpeech's transcripts are upper-case ASCII letters,
apostrophes and spaces, for which the cleaners reduce to lower-casing.
Two steps need libraries MLPerf imports (``unidecode`` for non-ASCII text,
``inflect`` for numbers) and LibriSpeech never exercises: a transcript that
would need them is refused (``TranscriptError``) rather than normalised
differently from MLPerf.
"""
from __future__ import annotations

import re
import string

LABELS = (" ", *string.ascii_lowercase, "'")
BLANK = len(LABELS)  # 28: appended after the labels, as MLPerf's add_blank_label does
LABEL_IDS = {label: i for i, label in enumerate(LABELS)}

# cleaners.py's abbreviations, in its order ("mrs" before "mr"): each needs its full stop
_ABBREVIATIONS = [
    (re.compile(rf"\b{short}\.", re.IGNORECASE), long)
    for short, long in (
        ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"),
        ("jr", "junior"), ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"),
        ("lt", "lieutenant"), ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"),
        ("esq", "esquire"), ("ltd", "limited"), ("col", "colonel"), ("ft", "fort"),
    )
]
# manifest.py: every punctuation mark becomes a space, except "+" and "&"
# (spelt out by the cleaners) and the marks that are labels (the apostrophe).
_PUNCTUATION = "".join(c for c in string.punctuation if c not in "+&" and c not in LABEL_IDS)
_TO_SPACES = str.maketrans(_PUNCTUATION, " " * len(_PUNCTUATION))
_WHITESPACE = re.compile(r"\s+")


class TranscriptError(ValueError):
    """A transcript MLPerf would normalise with a step this module does not have."""


def normalize(text: str) -> str:
    """The transcript as MLPerf's Manifest keeps it: labels only, single spaces, no edges."""
    if not isinstance(text, str):
        raise TranscriptError(f"expected a string, got {type(text).__name__}")
    foreign = sorted({c for c in text if ord(c) > 127})
    if foreign:
        raise TranscriptError(f"holds non-ASCII {''.join(foreign)!r}: MLPerf transliterates it with unidecode, "
                              "which this harness does not ship (LibriSpeech's transcripts are ASCII)")
    if any(c.isdigit() for c in text):
        raise TranscriptError("holds digits: MLPerf spells numbers out with inflect, which this harness does not "
                              "ship (LibriSpeech's transcripts spell them out already)")
    text = text.lower()
    for pattern, long in _ABBREVIATIONS:
        text = pattern.sub(long, text)
    text = text.translate(_TO_SPACES)
    text = text.replace("&", " and ").replace("+", " plus ")
    text = _WHITESPACE.sub(" ", text).strip()
    return "".join(c for c in text if c in LABEL_IDS)


def to_ids(text: str) -> tuple[int, ...]:
    """Label ids of a normalised transcript."""
    return tuple(LABEL_IDS[c] for c in text)


def to_text(ids) -> str:
    """The text of label ids, as ``accuracy_eval.py`` joins them; an id outside the labels is a ValueError."""
    ids = [int(i) for i in ids]
    bad = [i for i in ids if not 0 <= i < len(LABELS)]
    if bad:
        raise ValueError(f"label id {bad[0]} is outside the labels' 0..{len(LABELS) - 1}")
    return "".join(LABELS[i] for i in ids)
