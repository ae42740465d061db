"""rnnt's scoring on small hand-computed cases: labels and transcript normalisation, greedy
decoding, the word error rate and its printed line, the accuracy-log scorer and its errors."""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("jiwer", reason="rnnt's word error rate is computed with jiwer")

from harness.metrics.accuracy_log import AccuracyLogError  # noqa: E402
from harness.registry.parts import _package_for  # noqa: E402

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FAMILY_DIR = ROOT / "harness" / "benchmarks" / "rnnt"


def family(module: str):
    """A module of the family, imported under the family's package wherever its folder lies."""
    return importlib.import_module(f"{_package_for(FAMILY_DIR)}.{module}")


text = family("text")
decoding = family("decoding")
wer = family("wer")
scorer_module = family("scorer")
truth_module = family("truth")

# the submission checker's pattern for rnnt's accuracy.txt (notes/mlperf-facts.md §5)
CHECKER_PATTERN = r"Word Error Rate\:.*, accuracy=([0-9\.]+)%"


# ------------------------------------------------------------------ labels and normalisation
def test_the_labels_are_accuracy_evals_with_the_blank_after_them():
    assert "".join(text.LABELS) == " abcdefghijklmnopqrstuvwxyz'"
    assert text.BLANK == 28
    assert text.to_ids("it's a") == (9, 20, 27, 19, 0, 1)
    assert text.to_text([9, 20, 27, 19, 0, 1]) == "it's a"


@pytest.mark.parametrize("ids", [[28], [-1], [3, 99]])
def test_an_id_outside_the_labels_is_refused_with_the_id(ids):
    with pytest.raises(ValueError, match=f"label id {[i for i in ids if not 0 <= i < 28][0]} is outside"):
        text.to_text(ids)


@pytest.mark.parametrize("raw, expected", [
    ("HE WAS IN A FEVERED STATE", "he was in a fevered state"),  # LibriSpeech: lower-casing is all
    ("  Hello,   world!  ", "hello world"),  # punctuation becomes spaces, spaces collapse, edges go
    ("Mr. Smith & Co. left", "mister smith and company left"),  # abbreviations need their full stop
    ("mr smith", "mr smith"),
    ("rock'n'roll a+b semi-colon;", "rock'n'roll a plus b semi colon"),  # the apostrophe is a label
    ("tab\tand\nnewline", "tab and newline"),
])
def test_transcripts_are_normalised_as_mlperfs_manifest_does(raw, expected):
    assert text.normalize(raw) == expected


@pytest.mark.parametrize("raw, needs", [("in 1984", "inflect"), ("café", "unidecode")])
def test_a_transcript_needing_a_library_mlperf_imports_is_refused_naming_it(raw, needs):
    with pytest.raises(text.TranscriptError, match=needs):
        text.normalize(raw)


# ------------------------------------------------------------------ greedy decoding
def _frames(labels: str) -> np.ndarray:
    """One-hot logits: "_" is the blank, anything else its label."""
    ids = [text.BLANK if c == "_" else text.LABEL_IDS[c] for c in labels]
    logits = np.full((len(ids), text.BLANK + 1), -5.0, np.float32)
    logits[np.arange(len(ids)), ids] = 5.0
    return logits


@pytest.mark.parametrize("frames, expected", [
    ("hhee_l_ll_oo", "hello"),  # runs merge; the blank keeps the doubled l
    ("__h_i__", "hi"),
    ("see", "se"),  # no blank between the e's: one e
    ("se_e", "see"),
    ("a  __b", "a b"),  # the space is a label like any other
    ("a _ b", "a  b"),
    ("____", ""),
])
def test_best_path_merges_runs_then_drops_blanks(frames, expected):
    ids = decoding.best_path(_frames(frames))
    assert ids.dtype == np.int64 and text.to_text(ids) == expected


def test_dropping_blanks_before_merging_loses_doubled_letters():
    assert text.to_text(decoding.best_path(_frames("hhee_l_ll_oo"), remove_blanks_first=True)) == "helo"


def test_logits_without_the_blank_class_are_refused():
    with pytest.raises(ValueError, match="blank 28"):
        decoding.best_path(np.zeros((4, 28), np.float32))


# ------------------------------------------------------------------ word error rate
@pytest.mark.parametrize("hypotheses, references, errors, words, line", [
    (["the cat sat"], ["the cat sat"], 0, 3, "Word Error Rate: 0.0%, accuracy=100.0%"),
    (["the dog sat on"], ["the cat sat on"], 1, 4, "Word Error Rate: 25.0%, accuracy=75.0%"),
    # one insertion and one deletion, summed over the pairs: 2 of 6 words
    (["the cat sat down", "on mat"], ["the cat sat", "on a mat"], 2, 6,
     "Word Error Rate: 33.33333333333333%, accuracy=66.66666666666667%"),
    # an empty hypothesis deletes every word; extra spaces split away
    (["", "  a   b  "], ["x y z", "a b c d"], 5, 7,
     "Word Error Rate: 71.42857142857143%, accuracy=28.57142857142857%"),
    # an empty reference adds no words, its hypothesis words are insertions
    (["a b", "p q r s t"], ["a b", ""], 5, 2, "Word Error Rate: 250.0%, accuracy=-150.0%"),
    # (1 - wer) * 100, not 100 - wer * 100: the script's digits
    (["a b c d e f g"], ["a b c d e"], 2, 5, "Word Error Rate: 40.0%, accuracy=60.0%"),
    (["q r s t u v w"], ["a b c d e"], 7, 5, "Word Error Rate: 140.0%, accuracy=-39.99999999999999%"),
])
def test_word_errors_are_summed_edits_over_summed_reference_words(hypotheses, references, errors, words, line):
    result = wer.word_errors(hypotheses, references)
    assert (result.errors, result.words) == (errors, words)
    assert result.official_line() == line
    assert result.accuracy == (1 - errors / words) * 100


def test_no_reference_words_at_all_print_infinity_as_the_script_does():
    assert wer.word_errors([], []).official_line() == "Word Error Rate: inf%, accuracy=-inf%"
    assert wer.word_errors(["a"], [""]).official_line() == "Word Error Rate: inf%, accuracy=-inf%"


def test_the_checker_reads_the_accuracy_off_the_line():
    line = wer.word_errors(["the dog sat on"], ["the cat sat on"]).official_line()
    assert float(re.match(CHECKER_PATTERN, line).group(1)) == 75.0


def _levenshtein(a: list[str], b: list[str]) -> int:
    """The word edit distance, written out: the test's own oracle."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


_sentences = st.lists(st.sampled_from(["a", "b", "ab", "ba", "c"]), max_size=6).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_sentences, _sentences), min_size=1, max_size=5))
def test_jiwer_counts_are_the_minimal_edit_distance(pairs):
    hypotheses, references = [h for h, _ in pairs], [r for _, r in pairs]
    result = wer.word_errors(hypotheses, references)
    assert result.errors == sum(_levenshtein(h.split(), r.split()) for h, r in pairs)
    assert result.words == sum(len(r.split()) for r in references)


# ------------------------------------------------------------------ the scorer on LoadGen logs
@pytest.fixture
def truth(tmp_path):
    return truth_module.Transcripts(tmp_path / "dev-clean-wav.json", ("the cat sat", "on a mat"),
                                    ("dev-clean-wav/1/2/1-2-0000.wav", "dev-clean-wav/1/2/1-2-0001.wav"))


def _hex(transcript: str, dtype=np.int64) -> str:
    return np.array(text.to_ids(transcript), dtype=dtype).tobytes().hex().upper()


def _log(tmp_path: Path, entries) -> Path:
    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(json.dumps([{"seq_id": i, **e} for i, e in enumerate(entries)]))
    return path


def test_the_scorer_reads_int64_label_ids_and_prints_the_official_line(truth, tmp_path):
    log = _log(tmp_path, [{"qsl_idx": 1, "data": _hex("on mat")}, {"qsl_idx": 0, "data": _hex("the cat sat down")}])
    scored = scorer_module.WerScorer(truth).score(log)
    assert scored.lines == ("Word Error Rate: 33.33333333333333%, accuracy=66.66666666666667%",)
    assert scored.values == {"ACCURACY": 66.66666666666667}
    assert (scored.answered, scored.dataset_total) == (2, 2)


def test_an_empty_response_is_an_empty_transcript(truth, tmp_path):
    scored = scorer_module.WerScorer(truth).score(_log(tmp_path, [{"qsl_idx": 0, "data": ""}]))
    assert scored.lines[0] == "Word Error Rate: 100.0%, accuracy=0.0%"


def test_every_entry_counts_as_the_script_counts_it_even_a_repeated_index(truth, tmp_path):
    log = _log(tmp_path, [{"qsl_idx": 0, "data": _hex("the cat")}, {"qsl_idx": 0, "data": _hex("the cat")}])
    scored = scorer_module.WerScorer(truth).score(log)
    assert scored.lines[0].startswith("Word Error Rate: 33.33333333333333%")  # 2 deletions of 6 words
    assert scored.answered == 1


def test_int32_logs_are_read_as_int32(truth, tmp_path):
    log = _log(tmp_path, [{"qsl_idx": 0, "data": _hex("the cat sat", np.int32)}])
    assert scorer_module.WerScorer(truth, dtype="int32").score(log).values["ACCURACY"] == 100.0


@pytest.mark.parametrize("entries, expected", [
    ([{"qsl_idx": 2, "data": ""}], r"entry 0: qsl_idx 2 is outside the dataset's 2 utterances"),
    ([{"qsl_idx": "0", "data": ""}], r"entry 0: qsl_idx '0' is not an integer"),
    ([{"qsl_idx": 0, "data": "0102030405"}],
     r"entry 0 \(qsl_idx 0, dev-clean-wav/1/2/1-2-0000.wav\): data is not int64"),
    ([{"qsl_idx": 1, "data": np.array([28], np.int64).tobytes().hex()}],
     r"entry 0 \(qsl_idx 1, .*1-2-0001.wav\): label id 28 is outside the labels' 0..27"),
    ([], r"holds no entries"),
])
def test_bad_log_entries_are_errors_naming_the_file_and_entry(truth, tmp_path, entries, expected):
    log = _log(tmp_path, entries)
    with pytest.raises(AccuracyLogError, match=re.escape(str(log)) + ".*" + expected):
        scorer_module.WerScorer(truth).score(log)


def test_a_float_response_dtype_is_refused():
    with pytest.raises(AccuracyLogError, match="label ids, read as int64 or int32; the registry asks for float32"):
        scorer_module.WerScorer(truth_module.Transcripts(Path("m.json"), (), ()), dtype="float32")
