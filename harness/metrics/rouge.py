"""ROUGE as MLPerf's LLM accuracy scripts compute it.

The scripts score with Hugging Face ``evaluate``'s "rouge", which is Google's
``rouge_score.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"],
use_stemmer=True)`` called as ``score(reference, prediction)`` per sample,
keeping the F-measure; the reported value is ``round(mean * 100, 4)``.
We call ``rouge_score`` directly: same numbers, one dependency fewer.

Before scoring, both predictions and references are stripped and re-joined
one sentence per line, because rougeLsum treats each line as a sentence.
The scripts split with ``nltk.sent_tokenize``, whose punkt model is data that
is downloaded at run time. When that data is not installed we fall back to
nltk's *untrained* ``PunktSentenceTokenizer`` (same algorithm, no learned
abbreviations, so "Mr. Smith" splits after "Mr."). Only rougeLsum depends on
the split; :func:`splitter_note` says which splitter ran so reports can say so.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class RougeError(ValueError):
    """Predictions and references cannot be scored together."""


@dataclass(frozen=True)
class SentenceSplitter:
    name: str  # "nltk-punkt" or "punkt-untrained"
    note: str  # one line for accuracy reports
    split: Callable[[str], list[str]]


@functools.cache
def sentence_splitter() -> SentenceSplitter:
    """The splitter in use, chosen once per process: nltk's punkt model if installed."""
    import nltk

    try:
        # sent_tokenize loads the punkt data lazily; a probe tells if it exists.
        nltk.sent_tokenize("Probe one. Probe two.")
    except LookupError:
        from nltk.tokenize.punkt import PunktSentenceTokenizer

        untrained = PunktSentenceTokenizer()
        return SentenceSplitter(
            name="punkt-untrained",
            note=(
                "note: rougeLsum sentences split with nltk's untrained PunktSentenceTokenizer "
                "(nltk punkt data not installed; MLPerf's script uses nltk.sent_tokenize with punkt); "
                "rouge1, rouge2, rougeL and gen_len do not depend on it"
            ),
            split=untrained.tokenize,
        )
    return SentenceSplitter(
        name="nltk-punkt",
        note="note: rougeLsum sentences split with nltk.sent_tokenize (punkt data), as MLPerf's script does",
        split=nltk.sent_tokenize,
    )


def splitter_note() -> str:
    """One line saying which sentence splitter :func:`postprocess` uses."""
    return sentence_splitter().note


def split_sentences(text: str) -> list[str]:
    return list(sentence_splitter().split(text))


def postprocess(texts: Sequence[str]) -> list[str]:
    """Strip each text and put one sentence per line, as the scripts' postprocess_text does."""
    return ["\n".join(split_sentences(text.strip())) for text in texts]


@functools.cache
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_per_sample(preds: Sequence[str], targets: Sequence[str]) -> dict[str, list[float]]:
    """F-measure of each ROUGE type per (prediction, reference) pair, texts used as given.

    Pass texts through :func:`postprocess` first to score as MLPerf does.
    """
    if len(preds) != len(targets):
        raise RougeError(f"{len(preds)} predictions but {len(targets)} references; they pair up one to one")
    scorer = _scorer()
    result: dict[str, list[float]] = {name: [] for name in ROUGE_TYPES}
    for pred, target in zip(preds, targets):
        scores = scorer.score(target, pred)  # rouge_score's order: reference first
        for name in ROUGE_TYPES:
            result[name].append(float(scores[name].fmeasure))
    return result


def rouge_means(preds: Sequence[str], targets: Sequence[str]) -> dict[str, float]:
    """Mean F-measure per ROUGE type in percent, rounded to 4 places as the scripts print it."""
    if not preds:
        raise RougeError("no predictions to score")
    per_sample = rouge_per_sample(preds, targets)
    # np.mean then round() on the numpy scalar, as the scripts do: numpy's
    # rounding and summation order decide the last digit.
    return {name: float(round(np.mean(values) * 100, 4)) for name, values in per_sample.items()}
