"""ROUGE as MLPerf's LLM scripts compute it, on cases worked out by hand.

rouge_score lower-cases, drops punctuation, and (use_stemmer=True) Porter-stems
tokens longer than 3 characters. F = 2PR / (P + R).
"""
from __future__ import annotations

import pytest

pytest.importorskip("rouge_score", reason="ROUGE needs the rouge-score package")
pytest.importorskip("nltk", reason="sentence splitting needs nltk")

from harness.metrics import rouge  # noqa: E402
from harness.metrics.rouge import (  # noqa: E402
    RougeError,
    postprocess,
    rouge_means,
    rouge_per_sample,
    split_sentences,
    splitter_note,
)


def test_unigram_bigram_and_lcs_overlap_by_hand():
    # pred:   the cat sat on the mat   (6 tokens, 5 bigrams)
    # target: the cat is  on the mat   (6 tokens, 5 bigrams)
    # unigram overlap: the x2, cat, on, mat = 5    -> P = R = 5/6
    # bigram overlap: the-cat, on-the, the-mat = 3 -> P = R = 3/5
    # LCS: the cat on the mat = 5                  -> P = R = 5/6
    scores = rouge_per_sample(["the cat sat on the mat"], ["the cat is on the mat"])
    assert list(scores) == ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    assert scores["rouge1"] == [pytest.approx(5 / 6)]
    assert scores["rouge2"] == [pytest.approx(3 / 5)]
    assert scores["rougeL"] == [pytest.approx(5 / 6)]
    assert scores["rougeLsum"] == [pytest.approx(5 / 6)]


def test_stemming_matches_inflected_words():
    # "running"->"run", "dogs"->"dog", "runs"->"run"; "the"/"dog" (<= 3 chars) stay.
    # pred [run, dog], target [the, dog, run]: overlap 2, P = 1, R = 2/3, F = 0.8.
    # LCS is 1 (the order differs): P = 1/2, R = 1/3, F = 0.4.
    scores = rouge_per_sample(["running dogs"], ["the dog runs"])
    assert scores["rouge1"] == [pytest.approx(0.8)]
    assert scores["rouge2"] == [0.0]
    assert scores["rougeL"] == [pytest.approx(0.4)]


def test_lsum_needs_one_sentence_per_line():
    pred, target = "A dog ran. The cat sat.", "The cat sat. A dog ran."
    # As one line, rougeLsum is rougeL: LCS 3 of 6 tokens, F = 0.5.
    assert rouge_means([pred], [target]) == {"rouge1": 100.0, "rouge2": 80.0, "rougeL": 50.0, "rougeLsum": 50.0}
    # One sentence per line: each reference sentence is matched whole, F = 1.
    # rouge2 is 4 shared bigrams of 5 (a-dog, dog-ran, the-cat, cat-sat), the
    # same with or without the split since rouge_score ignores newlines there.
    assert postprocess([pred]) == ["A dog ran.\nThe cat sat."]
    assert rouge_means(postprocess([pred]), postprocess([target])) == {
        "rouge1": 100.0, "rouge2": 80.0, "rougeL": 50.0, "rougeLsum": 100.0,
    }


def test_means_are_percent_rounded_to_four_places():
    # rouge1 per sample: 5/6 and 1.0 -> mean 0.91666.. -> 91.6667
    means = rouge_means(["the cat sat on the mat", "a dog"], ["the cat is on the mat", "a dog"])
    assert means["rouge1"] == 91.6667
    assert means["rouge2"] == 80.0  # (0.6 + 1.0) / 2
    assert all(type(value) is float for value in means.values())


def test_postprocess_strips_and_splits():
    assert postprocess(["  The cat sat. A dog ran.  \n"]) == ["The cat sat.\nA dog ran."]
    assert postprocess([""]) == [""]
    assert split_sentences("No full stop here") == ["No full stop here"]


def test_splitter_note_names_the_splitter_in_use():
    splitter = rouge.sentence_splitter()
    assert splitter.name in ("nltk-punkt", "punkt-untrained")
    note = splitter_note()
    assert note.startswith("note: ")
    if splitter.name == "punkt-untrained":
        assert "untrained PunktSentenceTokenizer" in note
    else:
        assert "nltk.sent_tokenize" in note


def test_fallback_is_used_without_punkt_data(monkeypatch):
    import nltk

    def no_data(*args, **kwargs):
        raise LookupError("Resource 'punkt_tab' not found.")

    monkeypatch.setattr(nltk, "sent_tokenize", no_data)
    rouge.sentence_splitter.cache_clear()
    try:
        assert rouge.sentence_splitter().name == "punkt-untrained"
        assert split_sentences("The cat sat. A dog ran.") == ["The cat sat.", "A dog ran."]
    finally:
        rouge.sentence_splitter.cache_clear()


def test_mismatched_lengths_and_empty_input_are_errors():
    with pytest.raises(RougeError, match="2 predictions but 1 references"):
        rouge_per_sample(["a", "b"], ["a"])
    with pytest.raises(RougeError, match="no predictions"):
        rouge_means([], [])
