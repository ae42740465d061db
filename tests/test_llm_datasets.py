"""The gptj (cnn_eval.json) and llama2-70b (OpenOrca pickle) readers and the tokenizer loader."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from harness.benchmarks.gptj.cnn_dailymail import (
    INSTRUCTION,
    MAX_INPUT_TOKENS,
    CnnDailyMailError,
    CnnExample,
    build_prompt,
    read_cnn_eval,
    targets,
    tokenize_prompts,
    write_cnn_eval,
)
from harness.benchmarks.llama2.open_orca import OpenOrcaError, llama_prompt, read_open_orca, write_open_orca
from harness.datasets.tokenizers import TokenizerError, load_tokenizer

WORDS = ["the", "cat", "sat.", "a", "dog", "ran."]


def _save_word_tokenizer(directory, words=WORDS):
    """A WordLevel tokenizer: one token per whitespace-separated word, unknown words -> [UNK]."""
    pytest.importorskip("transformers", reason="the tokenizer tests need transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<eos>": 1, **{word: i + 2 for i, word in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="<eos>").save_pretrained(directory)
    return directory


# ---------------------------------------------------------------- tokenizers


def test_load_tokenizer(tmp_path):
    tokenizer = load_tokenizer(_save_word_tokenizer(tmp_path / "tok"))
    assert len(tokenizer) == len(WORDS) + 2
    assert tokenizer("the cat sat.")["input_ids"] == [2, 3, 4]


def test_folder_without_tokenizer_files_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match="holds no tokenizer files"):
        load_tokenizer(tmp_path / "empty")
    with pytest.raises(TokenizerError, match="does not exist"):
        load_tokenizer(tmp_path / "missing")


def test_broken_tokenizer_file_names_the_folder(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match=str(folder)):
        load_tokenizer(folder)


# ---------------------------------------------------------------- cnn_eval.json


def _examples():
    return [
        CnnExample(INSTRUCTION, "the cat sat. a dog ran.", "the cat sat."),
        CnnExample(INSTRUCTION, "a dog {ran.}", "a dog ran."),  # braces stay literal
    ]


def test_cnn_round_trip_and_targets(tmp_path):
    path = tmp_path / "cnn_eval.json"
    write_cnn_eval(path, _examples())
    assert json.loads(path.read_text())[1] == {"instruction": INSTRUCTION, "input": "a dog {ran.}", "output": "a dog ran."}
    assert read_cnn_eval(path) == _examples()
    assert targets(read_cnn_eval(path)) == ["the cat sat.", "a dog ran."]


def test_prompt_is_the_alpaca_template():
    prompt = build_prompt(CnnExample("Summarize:", "Body {x}", "ignored"))
    assert prompt == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nSummarize:\n\n### Input:\nBody {x}\n\n### Response:"
    )


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", r"cnn_eval\.json: not valid JSON at line 1"),
        ('{"instruction": "x"}', r"cnn_eval\.json: expected a JSON array"),
        ("[]", r"cnn_eval\.json: the array holds no records"),
        ('[{"instruction": "i", "input": "a", "output": "o"}, 7]', r"cnn_eval\.json: record 1 is a JSON int"),
        ('[{"instruction": "i", "output": "o"}]', r"cnn_eval\.json: record 0 lacks field 'input'"),
        ('[{"instruction": "i", "input": "a", "output": 3}]', r"cnn_eval\.json: record 0 field 'output' is a JSON int"),
    ],
)
def test_cnn_errors_name_file_record_and_field(tmp_path, content, expected):
    path = tmp_path / "cnn_eval.json"
    path.write_text(content)
    with pytest.raises(CnnDailyMailError, match=expected):
        read_cnn_eval(path)


def test_missing_cnn_file_is_named(tmp_path):
    with pytest.raises(CnnDailyMailError, match="no such file"):
        read_cnn_eval(tmp_path / "nope.json")


def test_tokenize_prompts_gives_int64_ids(tmp_path):
    tokenizer = load_tokenizer(_save_word_tokenizer(tmp_path / "tok"))
    examples = _examples()
    prompts = tokenize_prompts(examples, tokenizer, max_positions=2048, max_new_tokens=128, path="cnn_eval.json")
    # WhitespaceSplit + WordLevel: one id per whitespace-separated word of the prompt.
    assert [p.size for p in prompts] == [len(build_prompt(e).split()) for e in examples]
    assert all(p.dtype == np.int64 and p.ndim == 1 for p in prompts)
    # The article "the cat sat. a dog ran." sits just before "### Response:" (2 words).
    assert prompts[0][-8:-2].tolist() == [2, 3, 4, 5, 6, 7]


def test_long_prompts_are_truncated_before_the_fit_check(tmp_path):
    tokenizer = load_tokenizer(_save_word_tokenizer(tmp_path / "tok"))
    long_example = CnnExample(INSTRUCTION, "the cat sat. " * 2000, "the cat sat.")
    assert len(build_prompt(long_example).split()) > MAX_INPUT_TOKENS
    (prompt,) = tokenize_prompts([long_example], tokenizer, max_positions=2048, max_new_tokens=128, path="x")
    assert prompt.size == MAX_INPUT_TOKENS  # right-side truncation, as MLPerf's dataset.py
    (short,) = tokenize_prompts([long_example], tokenizer, 64, 16, "x", max_input_tokens=48)
    assert short.size == 48


def test_prompt_that_cannot_fit_names_the_record(tmp_path):
    tokenizer = load_tokenizer(_save_word_tokenizer(tmp_path / "tok"))
    examples = [CnnExample(INSTRUCTION, "a dog", "x"), CnnExample(INSTRUCTION, "the cat sat. " * 30, "y")]
    first_len = len(build_prompt(examples[0]).split())
    with pytest.raises(CnnDailyMailError) as info:
        tokenize_prompts(examples, tokenizer, max_positions=first_len + 10, max_new_tokens=10, path="data/cnn_eval.json")
    message = str(info.value)
    assert "data/cnn_eval.json: record 1:" in message
    assert f"exceeds the model's {first_len + 10} positions" in message


# ---------------------------------------------------------------- OpenOrca pickle


def _rows():
    return [
        {"id": "flan.1", "system_prompt": "Be brief.", "question": "Cat?", "input": llama_prompt("Be brief.", "Cat?"),
         "output": "The cat sat.", "tok_input": [2, 3, 4]},
        {"id": "cot.7", "system_prompt": "", "question": "Dog?", "input": llama_prompt("", "Dog?"),
         "output": "A dog ran.", "tok_input": np.array([5, 6, 7], dtype=np.int32)},
    ]


def test_llama_prompt_templates():
    assert llama_prompt("Be brief.", "Cat?") == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nCat? [/INST]"
    assert llama_prompt("", "Dog?") == "<s>[INST] Dog? [/INST]"


def test_open_orca_round_trip(tmp_path):
    pd = pytest.importorskip("pandas", reason="the OpenOrca format is a pandas pickle")
    path = tmp_path / "open_orca.pkl"
    write_open_orca(path, _rows())
    data = read_open_orca(path)
    assert len(data) == 2 and data.ids == ["flan.1", "cot.7"]
    assert data.targets == ["The cat sat.", "A dog ran."]
    assert [p.tolist() for p in data.prompts] == [[2, 3, 4], [5, 6, 7]]
    assert all(p.dtype == np.int64 for p in data.prompts)
    frame = pd.read_pickle(path)
    for column in ("id", "system_prompt", "question", "input", "output", "tok_input", "origin", "tok_input_length"):
        assert column in frame.columns
    assert frame["origin"].tolist() == ["flan", "cot"]
    assert frame["tok_input"][1] == [5, 6, 7] and type(frame["tok_input"][1][0]) is int


def test_open_orca_writer_is_deterministic(tmp_path):
    pytest.importorskip("pandas", reason="the OpenOrca format is a pandas pickle")
    write_open_orca(tmp_path / "a.pkl", _rows())
    write_open_orca(tmp_path / "b.pkl", _rows())
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()


def _pickle_frame(path, **columns):
    pd = pytest.importorskip("pandas", reason="the OpenOrca format is a pandas pickle")
    pd.DataFrame(columns).to_pickle(path)
    return path


def test_open_orca_missing_column_is_named(tmp_path):
    path = _pickle_frame(tmp_path / "orca.pkl", id=["a.1"], output=["x"])
    with pytest.raises(OpenOrcaError, match=r"orca\.pkl: missing column\(s\) \['tok_input'\]"):
        read_open_orca(path)


@pytest.mark.parametrize(
    "tok_input, output, expected",
    [
        ([[1, 2], [3, 2.5]], ["x", "y"], r"row 1 \(id 'b\.2'\) column 'tok_input' holds non-integer token 2\.5"),
        ([[1, 2], []], ["x", "y"], r"row 1 \(id 'b\.2'\) column 'tok_input' is empty"),
        ([[1, 2], "1 2"], ["x", "y"], r"row 1 \(id 'b\.2'\) column 'tok_input' is str"),
        ([[1, -4], [3]], ["x", "y"], r"row 0 \(id 'a\.1'\) column 'tok_input' holds negative token id -4"),
        ([[1, 2], [3]], ["x", 7], r"row 1 \(id 'b\.2'\) column 'output' is int 7"),
    ],
)
def test_open_orca_bad_rows_name_file_row_and_column(tmp_path, tok_input, output, expected):
    path = _pickle_frame(tmp_path / "orca.pkl", id=["a.1", "b.2"], tok_input=tok_input, output=output)
    with pytest.raises(OpenOrcaError, match=r"orca\.pkl: " + expected):
        read_open_orca(path)


def test_open_orca_rejects_a_shuffled_index(tmp_path):
    pd = pytest.importorskip("pandas", reason="the OpenOrca format is a pandas pickle")
    frame = pd.DataFrame({"id": ["a.1", "b.2"], "tok_input": [[1], [2]], "output": ["x", "y"]}, index=[1, 0])
    frame.to_pickle(tmp_path / "orca.pkl")
    with pytest.raises(OpenOrcaError, match="index is not 0..1"):
        read_open_orca(tmp_path / "orca.pkl")


def test_open_orca_not_a_dataframe_or_not_a_pickle(tmp_path):
    pytest.importorskip("pandas", reason="the OpenOrca format is a pandas pickle")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(OpenOrcaError, match=r"list\.pkl: the pickle holds a list"):
        read_open_orca(tmp_path / "list.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(OpenOrcaError, match=r"junk\.pkl: not a readable pandas pickle"):
        read_open_orca(tmp_path / "junk.pkl")
    with pytest.raises(OpenOrcaError, match="no such file"):
        read_open_orca(tmp_path / "missing.pkl")


def test_open_orca_writer_checks_rows(tmp_path):
    pytest.importorskip("pandas", reason="the OpenOrca format is a pandas pickle")
    rows = _rows()
    del rows[1]["question"]
    with pytest.raises(OpenOrcaError, match=r"row 1 to write lacks field 'question'"):
        write_open_orca(tmp_path / "o.pkl", rows)
    rows = _rows()
    rows[0]["tok_input"] = []
    with pytest.raises(OpenOrcaError, match=r"row 0 field 'tok_input' is empty"):
        write_open_orca(tmp_path / "o.pkl", rows)
    assert not (tmp_path / "o.pkl").exists()
