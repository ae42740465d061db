"""SQuAD v1.1 reading and MLPerf BERT feature building, on hand-made files and vocabularies."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the BERT tokenizer comes from transformers")

from harness.benchmarks.bert.squad import (  # noqa: E402
    SquadError,
    SquadExample,
    SquadFeatures,
    build_features,
    load_tokenizer,
    read_squad,
    stack_samples,
)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(700)] + ["what", "is", "q", "the", "capital", "of", "zorvia", "melkar", "?", "."]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocab")
    (folder / "vocab.txt").write_text("\n".join(SPECIAL + WORDS) + "\n")
    return load_tokenizer(folder)


def _dev(tmp_path, qas=None, **top):
    qas = qas if qas is not None else [
        {"id": "q1", "question": "what is the capital of zorvia ?",
         "answers": [{"text": "melkar", "answer_start": 26}]}]
    document = {"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "the capital of zorvia is melkar .", "qas": qas}]}], **top}
    path = tmp_path / "dev-v1.1.json"
    path.write_text(json.dumps(document))
    return path


# ------------------------------------------------------------------ reading
def test_reads_examples_in_file_order(tmp_path):
    qas = [{"id": "b", "question": "q", "answers": [{"text": "melkar", "answer_start": 26},
                                                    {"text": "is melkar", "answer_start": 23}]},
           {"id": "a", "question": "what", "answers": [{"text": "zorvia", "answer_start": 15}]}]
    examples = read_squad(_dev(tmp_path, qas))
    assert examples == [
        SquadExample("b", "q", "the capital of zorvia is melkar .", ("melkar", "is melkar")),
        SquadExample("a", "what", "the capital of zorvia is melkar .", ("zorvia",)),
    ]


def test_missing_field_names_file_record_id_and_field(tmp_path):
    qas = [{"id": "ok", "question": "q", "answers": [{"text": "x", "answer_start": 0}]},
           {"id": "broken", "answers": [{"text": "x", "answer_start": 0}]}]
    with pytest.raises(SquadError) as info:
        read_squad(_dev(tmp_path, qas))
    message = str(info.value)
    for part in ("dev-v1.1.json", "data[0].paragraphs[0].qas[1]", "'broken'", "missing field 'question'"):
        assert part in message


def test_mistyped_answer_start_names_the_answer(tmp_path):
    qas = [{"id": "q1", "question": "q", "answers": [{"text": "x", "answer_start": 0},
                                                     {"text": "y", "answer_start": "3"}]}]
    with pytest.raises(SquadError, match=r"qas\[0\] \(id 'q1'\)\.answers\[1\].*'answer_start' is str, expected int"):
        read_squad(_dev(tmp_path, qas))


def test_a_question_without_answers_is_an_error(tmp_path):
    with pytest.raises(SquadError, match=r"'q1'.*'answers' is empty"):
        read_squad(_dev(tmp_path, [{"id": "q1", "question": "q", "answers": []}]))


def test_repeated_id_is_an_error(tmp_path):
    qa = {"id": "same", "question": "q", "answers": [{"text": "x", "answer_start": 0}]}
    with pytest.raises(SquadError, match=r"qas\[1\].*'same'.*repeats"):
        read_squad(_dev(tmp_path, [qa, qa]))


def test_squad_2_and_broken_json_are_refused(tmp_path):
    with pytest.raises(SquadError, match=r"'version' is '2.0', expected '1.1'"):
        read_squad(_dev(tmp_path, version="2.0"))
    bad = tmp_path / "broken.json"
    bad.write_text('{"version": "1.1", "data": [')
    with pytest.raises(SquadError, match="broken.json: not valid JSON"):
        read_squad(bad)
    with pytest.raises(SquadError, match="missing.json: no such file"):
        read_squad(tmp_path / "missing.json")


# ---------------------------------------------------------------- tokenizer
def test_tokenizer_really_uses_the_vocabulary(tokenizer):
    # The trap this guards: BertTokenizerFast(vocab_file=...) maps everything to [UNK].
    assert tokenizer.tokenize("What is the capital of Zorvia?") == ["what", "is", "the", "capital", "of", "zorvia", "?"]
    assert tokenizer.convert_tokens_to_ids("[PAD]") == 0


def test_folder_without_vocabulary_is_a_clear_error(tmp_path):
    with pytest.raises(SquadError, match=r"has no vocab\.txt"):
        load_tokenizer(tmp_path)
    with pytest.raises(SquadError, match="does not exist"):
        load_tokenizer(tmp_path / "nowhere")




# ----------------------------------------------------------------- features
def _example(n_words: int, question: str = "q") -> SquadExample:
    return SquadExample("x", question, " ".join(f"w{i}" for i in range(n_words)), ("w0",))


def test_short_context_is_one_feature_with_the_mlperf_layout(tokenizer):
    example = SquadExample("x", "what is q", "w5  w6 w7", ("w6",))
    features = build_features([example], tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    expected = [ids(t) for t in ("[CLS]", "what", "is", "q", "[SEP]", "w5", "w6", "w7", "[SEP]")]
    assert len(features) == 1
    assert features.input_ids.shape == (1, 384) and features.input_ids.dtype == np.int64
    assert features.input_ids[0, :9].tolist() == expected and not features.input_ids[0, 9:].any()
    assert features.input_mask[0].tolist() == [1] * 9 + [0] * 375
    assert features.segment_ids[0].tolist() == [0] * 5 + [1] * 4 + [0] * 375
    # character spans of the context tokens (two spaces before w6), -1 elsewhere
    assert features.token_start[0, :10].tolist() == [-1] * 5 + [0, 4, 7, -1, -1]
    assert features.token_end[0, :10].tolist() == [-1] * 5 + [2, 6, 9, -1, -1]
    assert features.max_context[0].sum() == 3


def test_long_context_windows_start_128_tokens_apart(tokenizer):
    features = build_features([_example(700)], tokenizer)
    # query "q": 384 - 1 - 3 = 380 context tokens fit; windows at 0, 128, 256, 384 (the last one reaches token 699)
    assert len(features) == 4
    assert features.doc_span_index.tolist() == [0, 1, 2, 3] and features.example_index.tolist() == [0, 0, 0, 0]
    first_word = [tokenizer.convert_ids_to_tokens(int(features.input_ids[f, 3])) for f in range(4)]
    assert first_word == ["w0", "w128", "w256", "w384"]
    assert features.input_mask.sum(axis=1).tolist() == [384, 384, 384, 3 + 316 + 1]


def test_max_context_marks_the_window_with_most_context_first_on_ties(tokenizer):
    # 10 tokens, room for 6 per window, stride 3: windows (0,6), (3,6), (6,4).
    features = build_features([_example(10)], tokenizer, max_seq_length=10, doc_stride=3)
    assert len(features) == 3
    # Token 4 scores 1.06 in windows 0 and 1: the first wins. Tokens 5-7 belong to window 1, 8-9 to window 2.
    assert features.max_context[0, 3:9].tolist() == [True, True, True, True, True, False]
    assert features.max_context[1, 3:9].tolist() == [False, False, True, True, True, False]
    assert features.max_context[2, 3:7].tolist() == [False, False, True, True]
    assert not features.max_context[:, :3].any()


def test_query_is_truncated_to_64_tokens(tokenizer):
    features = build_features([_example(400, question=" ".join(["q"] * 70))], tokenizer)
    q, sep = tokenizer.convert_tokens_to_ids("q"), tokenizer.convert_tokens_to_ids("[SEP]")
    assert features.input_ids[0, 1:65].tolist() == [q] * 64
    assert features.input_ids[0, 65] == sep
    assert features.segment_ids[0, :66].sum() == 0 and features.segment_ids[0, 66] == 1
    # 384 - 64 - 3 = 317 context tokens per window, so 400 tokens need two
    assert len(features) == 2 and features.input_mask[0].sum() == 384


def test_stack_samples_and_save_load_round_trip(tokenizer, tmp_path):
    features = build_features([_example(700), _example(3)], tokenizer)
    stacked = stack_samples(features)
    assert stacked.shape == (5, 3, 384) and stacked.dtype == np.int64 and stacked.flags.c_contiguous
    assert np.array_equal(stacked[:, 0], features.input_ids)
    assert np.array_equal(stacked[:, 1], features.input_mask)
    assert np.array_equal(stacked[:, 2], features.segment_ids)
    features.save(tmp_path / "features.npz")
    loaded = SquadFeatures.load(tmp_path / "features.npz")
    for name in ("input_ids", "token_start", "max_context", "example_index", "doc_span_index"):
        assert np.array_equal(getattr(loaded, name), getattr(features, name))
    assert loaded.example_index.tolist() == [0, 0, 0, 0, 1]


def test_feature_file_from_another_pipeline_is_refused(tmp_path):
    np.savez(tmp_path / "old.npz", pipeline_version=np.array("something-else/0"))
    with pytest.raises(SquadError, match="old.npz: built by pipeline 'something-else/0'"):
        SquadFeatures.load(tmp_path / "old.npz")


def test_vocabulary_without_bert_special_tokens_is_refused(tmp_path):
    (tmp_path / "vocab.txt").write_text("[UNK]\n[PAD]\n[CLS]\n[SEP]\nword\n")
    with pytest.raises(SquadError, match=r"\[PAD\] has id 1, expected 0"):
        load_tokenizer(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nword\n")
    with pytest.raises(SquadError, match=r"lacks \['\[CLS\]', '\[SEP\]'\]"):
        load_tokenizer(tmp_path)
