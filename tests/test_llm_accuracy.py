"""gptj / llama2-70b accuracy from a LoadGen accuracy log, and the official result line."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("rouge_score", reason="ROUGE needs the rouge-score package")
pytest.importorskip("transformers", reason="decoding needs a transformers tokenizer")

from harness.benchmarks.gptj.scorer import gptj_accuracy  # noqa: E402
from harness.benchmarks.llama2.scorer import llama2_accuracy  # noqa: E402
from harness.metrics.llm_accuracy import (  # noqa: E402
    LlmAccuracyError,
    LlmScore,
    read_token_log,
)
from harness.metrics.rouge import splitter_note  # noqa: E402

VOCAB = ["[UNK]", "<eos>", "The", "cat", "sat.", "A", "dog", "ran.", "the", "sat", "on", "mat", "is"]
ID = {word: i for i, word in enumerate(VOCAB)}
EOS = ID["<eos>"]
TARGETS = ["The cat sat. A dog ran.", "the cat is on the mat"]

# The submission checker's patterns (re.match per line of accuracy.txt).
CHECKER_PATTERNS = {
    "ROUGE1": r".*'rouge1':\s+'?([\d.]+)'?.*",
    "ROUGE2": r".*'rouge2':\s+'?([\d.]+)'?.*",
    "ROUGEL": r".*'rougeL':\s+'?([\d.]+)'?.*",
    "GEN_LEN": r".*'gen_len':\s([\d.]+).*",
    "TOKENS_PER_SAMPLE": r".*'tokens_per_sample':\s([\d.]+).*",
}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from harness.datasets.tokenizers import load_tokenizer

    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path_factory.mktemp("tok")
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="<eos>").save_pretrained(folder)
    return load_tokenizer(folder)


def _ids(text, eos=False):
    return [ID[word] for word in text.split()] + ([EOS] if eos else [])


def _write_log(path, entries, dtype):
    rows = [
        {"seq_id": seq, "qsl_idx": qsl, "data": np.asarray(tokens, dtype=dtype).tobytes().hex().upper()}
        for seq, (qsl, tokens) in enumerate(entries)
    ]
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")
    return path


def _entries():
    return [
        (1, _ids("the cat sat on the mat", eos=True)),  # 7 tokens, eos is skipped when decoding
        (0, _ids("A dog ran. The cat sat.")),  # 6 tokens
        (0, _ids("the the")),  # a second entry of qsl 0: ignored, the first wins
    ]


# Hand-computed (see test_rouge_metrics for the per-sample values):
# sample 0: "A dog ran.\nThe cat sat." vs "The cat sat.\nA dog ran.": R1 1, R2 4/5, RL 1/2, RLsum 1
# sample 1: "the cat sat on the mat" vs "the cat is on the mat": R1 5/6, R2 3/5, RL 5/6, RLsum 5/6
# gen_len = 23 + 22 characters; gen_tok_len = 6 + 7 tokens.
GPTJ_LINE = "{'rouge1': 91.6667, 'rouge2': 70.0, 'rougeL': 66.6667, 'rougeLsum': 91.6667, 'gen_len': 45, 'gen_num': 2}"
LLAMA2_LINE = GPTJ_LINE[:-1] + ", 'gen_tok_len': 13, 'tokens_per_sample': 6.5}"


def test_gptj_accuracy_by_hand(tmp_path, tokenizer):
    score = gptj_accuracy(_write_log(tmp_path / "acc.json", _entries(), np.int64), TARGETS, tokenizer)
    assert score.official_line() == GPTJ_LINE
    assert (score.gen_tok_len, score.tokens_per_sample) == (13, 6.5)
    assert score.official_output() == "\nResults\n\n" + GPTJ_LINE + "\n"
    assert score.note == splitter_note()
    assert score.checker_values() == {"ROUGE1": 91.6667, "ROUGE2": 70.0, "ROUGEL": 66.6667, "GEN_LEN": 45}


def test_llama2_accuracy_by_hand(tmp_path, tokenizer):
    score = llama2_accuracy(_write_log(tmp_path / "acc.json", _entries(), np.int32), TARGETS, tokenizer)
    assert score.official_line() == LLAMA2_LINE
    assert score.checker_values()["TOKENS_PER_SAMPLE"] == 6.5


def test_wrong_dtype_is_caught_not_scored(tmp_path, tokenizer):
    # A llama2-style int32 log scored as gptj's int64: one id is 4 bytes, not a
    # whole int64, so the reader refuses instead of pairing ids into garbage.
    log = _write_log(tmp_path / "acc.json", [(0, [ID["A"]])], np.int32)
    with pytest.raises(LlmAccuracyError, match=r"acc\.json: entry 0 \(qsl_idx 0\): data holds 4 bytes, not a multiple of 8"):
        gptj_accuracy(log, TARGETS, tokenizer)


def test_official_line_parses_with_the_checker_patterns():
    from harness.benchmarks.gptj.scorer import CHECKER_METRICS as GPTJ_CHECKER
    from harness.benchmarks.llama2.scorer import CHECKER_METRICS as LLAMA2_CHECKER, PRINTED as LLAMA2_PRINTED
    from harness.metrics.llm_accuracy import ROUGE_KEYS

    gptj = LlmScore(ROUGE_KEYS, GPTJ_CHECKER, 43.1201, 20.1783, 29.9726, 40.2841, 4121372, 13368, 1700000, 127.2, "n")
    llama = LlmScore(LLAMA2_PRINTED, LLAMA2_CHECKER, 44.5105, 22.0812, 28.727, 42.075, 28345358, 24576, 7194444, 292.7, "n")
    # Byte for byte the dicts in published v4.1 accuracy.txt files (Intel gptj-99, AMD llama2-70b-99).
    assert gptj.official_line() == (
        "{'rouge1': 43.1201, 'rouge2': 20.1783, 'rougeL': 29.9726, 'rougeLsum': 40.2841, "
        "'gen_len': 4121372, 'gen_num': 13368}"
    )
    assert llama.official_line() == (
        "{'rouge1': 44.5105, 'rouge2': 22.0812, 'rougeL': 28.727, 'rougeLsum': 42.075, 'gen_len': 28345358, "
        "'gen_num': 24576, 'gen_tok_len': 7194444, 'tokens_per_sample': 292.7}"
    )
    expected = {"ROUGE1": "43.1201", "ROUGE2": "20.1783", "ROUGEL": "29.9726", "GEN_LEN": "4121372"}
    for metric, value in expected.items():
        assert re.match(CHECKER_PATTERNS[metric], gptj.official_line()).group(1) == value
    assert re.match(CHECKER_PATTERNS["TOKENS_PER_SAMPLE"], gptj.official_line()) is None  # gptj has none
    assert re.match(CHECKER_PATTERNS["TOKENS_PER_SAMPLE"], llama.official_line()).group(1) == "292.7"
    assert re.match(CHECKER_PATTERNS["ROUGEL"], llama.official_line()).group(1) == "28.727"


def test_scores_are_plain_python_numbers(tmp_path, tokenizer):
    # numpy 2 prints np.float64(…) / np.int64(…) inside a dict, which the checker cannot read.
    score = llama2_accuracy(_write_log(tmp_path / "acc.json", _entries(), np.int32), TARGETS, tokenizer)
    assert all(type(v) in (int, float) for v in score.as_dict().values())
    assert "np." not in score.official_line()
    for metric, pattern in CHECKER_PATTERNS.items():
        assert re.match(pattern, score.official_line()), metric


# ---------------------------------------------------------------- the token log reader


def test_read_token_log_keeps_first_entry_in_log_order(tmp_path):
    log = _write_log(tmp_path / "acc.json", [(3, [7, 8]), (1, [5]), (3, [9]), (0, [])], np.int64)
    decoded = read_token_log(log, "int64")
    assert [(i, t.tolist()) for i, t in decoded] == [(3, [7, 8]), (1, [5]), (0, [])]
    assert all(t.dtype == np.int64 for _, t in decoded)


def test_int32_and_int64_decode_the_same_bytes_differently(tmp_path):
    log = _write_log(tmp_path / "acc.json", [(0, [5, 7])], np.int64)
    assert read_token_log(log, "int64")[0][1].tolist() == [5, 7]
    assert read_token_log(log, "int32")[0][1].tolist() == [5, 0, 7, 0]  # little-endian halves
    log32 = _write_log(tmp_path / "acc32.json", [(0, [5, 7])], np.int32)
    assert read_token_log(log32, "int64")[0][1].tolist() == [5 + (7 << 32)]


@pytest.mark.parametrize(
    "data, expected",
    [
        ("ZZ000000", r"entry 1 \(qsl_idx 4\): data is not a hex string"),
        ("0500000", r"entry 1 \(qsl_idx 4\): data is not a hex string"),  # odd number of hex digits
        ("050000", r"entry 1 \(qsl_idx 4\): data holds 3 bytes, not a multiple of 4"),
        (17, r"entry 1 \(qsl_idx 4\): data is int, expected a hex string"),
    ],
)
def test_bad_data_names_file_and_entry(tmp_path, data, expected):
    path = tmp_path / "acc.json"
    path.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0, "data": "05000000"}, {"seq_id": 1, "qsl_idx": 4, "data": data}]))
    with pytest.raises(LlmAccuracyError, match=re.escape(str(path)) + ": " + expected):
        read_token_log(path, "int32")


def test_malformed_json_and_bad_fields_name_the_file(tmp_path):
    path = tmp_path / "acc.json"
    path.write_text('[{"seq_id": 0, "qsl_idx": 0, "data": "00"}')
    with pytest.raises(LlmAccuracyError, match=re.escape(str(path)) + ": not valid JSON"):
        read_token_log(path, "int64")
    path.write_text('[{"seq_id": 0, "data": "00"}]')
    with pytest.raises(LlmAccuracyError, match=r"entry 0 lacks field\(s\) \['qsl_idx'\]"):
        read_token_log(path, "int64")
    path.write_text('[{"seq_id": 0, "qsl_idx": "3", "data": "00"}]')
    with pytest.raises(LlmAccuracyError, match=r"entry 0: qsl_idx '3' is not a non-negative integer"):
        read_token_log(path, "int64")
    with pytest.raises(LlmAccuracyError, match="no such accuracy log"):
        read_token_log(tmp_path / "missing.json", "int64")
    with pytest.raises(LlmAccuracyError, match="unknown token dtype 'float32'"):
        read_token_log(path, "float32")


def test_scoring_errors_name_the_sample(tmp_path, tokenizer):
    log = _write_log(tmp_path / "acc.json", [(5, [2])], np.int64)
    with pytest.raises(LlmAccuracyError, match=r"qsl_idx 5 is outside the dataset's 2 samples"):
        gptj_accuracy(log, TARGETS, tokenizer)
    log = _write_log(tmp_path / "acc.json", [(1, [2, len(VOCAB)])], np.int64)
    with pytest.raises(LlmAccuracyError, match=rf"qsl_idx 1: token {len(VOCAB)} at position 1 is outside the tokenizer's {len(VOCAB)} ids"):
        gptj_accuracy(log, TARGETS, tokenizer)
    log = _write_log(tmp_path / "acc.json", [], np.int64)
    with pytest.raises(LlmAccuracyError, match="holds no responses"):
        llama2_accuracy(log, TARGETS, tokenizer)
