"""The word error rate ``accuracy_eval.py`` prints, computed with jiwer.

MLPerf's ``metrics.word_error_rate`` sums, over every (hypothesis,
reference) pair, the word-level Levenshtein distance of their whitespace
splits and divides by the total number of reference words (``inf`` when
there are none); the script prints

    Word Error Rate: {wer * 100}%, accuracy={(1 - wer) * 100}%

with Python's ``{:}`` formatting (the shortest repr of each float). jiwer's
alignment gives the same minimal edit counts (substitutions, deletions and
insertions, each counting one); the rate is formed here from them the way
MLPerf forms it, so the printed digits are the script's.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WordErrors:
    errors: int  # substitutions + deletions + insertions, over every pair
    words: int  # reference words

    @property
    def wer(self) -> float:
        return (1.0 * self.errors) / self.words if self.words != 0 else float("inf")

    @property
    def accuracy(self) -> float:
        """What the checker reads off the line: (1 - WER) x 100, as the script computes it."""
        return (1 - self.wer) * 100

    def official_line(self) -> str:
        return "Word Error Rate: {:}%, accuracy={:}%".format(self.wer * 100, (1 - self.wer) * 100)


def word_errors(hypotheses: list[str], references: list[str]) -> WordErrors:
    """Edit distance over words, summed over pairs; both lists in the same order."""
    import jiwer

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references; expected one each")
    if not references:
        return WordErrors(0, 0)
    # jiwer's default transform (collapse spaces, strip, split on spaces) is
    # str.split() for text made of labels, whose only whitespace is the space.
    out = jiwer.process_words(list(references), list(hypotheses))
    return WordErrors(out.substitutions + out.deletions + out.insertions,
                      out.hits + out.substitutions + out.deletions)
