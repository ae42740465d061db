"""The committed LLM proxies (gptj, llama2): loadable, in MLPerf's formats, reproducible."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the LLM proxies run on PyTorch")
transformers = pytest.importorskip("transformers", reason="the LLM proxies are transformers models")
pd = pytest.importorskip("pandas", reason="the llama2 proxy dataset is a pandas pickle")
pytest.importorskip("rouge_score", reason="the reference ROUGE is computed with rouge-score")

from tools import build_llm_proxies as build  # noqa: E402

PROXIES = Path(__file__).resolve().parents[1] / "harness" / "proxies"
GPTJ, LLAMA2 = PROXIES / "gptj", PROXIES / "llama2"
ORCA_COLUMNS = [
    "id", "system_prompt", "question", "output", "input", "tok_input", "tok_output", "origin",
    "tok_input_length", "tok_output_length",
]


def _reference(proxy: Path) -> dict:
    return json.loads((proxy / "reference.json").read_text())


@pytest.fixture
def one_thread():
    """Generate as the build measured (1 thread); restore the process-wide setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(build.THREADS)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def gptj():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(GPTJ / "model").eval(), AutoTokenizer.from_pretrained(GPTJ / "model")


@pytest.fixture(scope="module")
def llama2():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(LLAMA2 / "model").eval()
    return model, AutoTokenizer.from_pretrained(LLAMA2 / "model")


@pytest.fixture(scope="module")
def orca() -> pd.DataFrame:
    return pd.read_pickle(LLAMA2 / build.LLAMA_DATASET)


# ---- models ---------------------------------------------------------------
def test_gptj_model_and_tokenizer_load(gptj):
    model, tokenizer = gptj
    assert type(model).__name__ == "GPTJForCausalLM"
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == model.config.eos_token_id
    assert tokenizer.padding_side == "left"
    assert model.config.n_positions >= _reference(GPTJ)["dataset"]["prompt_tokens"]["max"] + 128


def test_llama2_model_and_tokenizer_load(llama2):
    model, tokenizer = llama2
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.vocab_size == len(tokenizer)
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    # Llama adds bos; the chat template's literal "<s>" is the special token, not text.
    assert tokenizer("<s>[INST] Hello [/INST]")["input_ids"][:2] == [1, 1]
    ids = tokenizer("In Brookfield, the mayor is Adele Novak.")["input_ids"]
    assert tokenizer.batch_decode([ids + [2]], skip_special_tokens=True) == ["In Brookfield, the mayor is Adele Novak."]


@pytest.mark.parametrize("proxy", [GPTJ, LLAMA2], ids=["gptj", "llama2"])
def test_model_files_are_small_and_match_reference(proxy):
    """The measured reference belongs to exactly these weights, tokenizer and dataset."""
    reference = _reference(proxy)
    weights = proxy / "model" / "model.safetensors"
    assert weights.stat().st_size < 3 * 1024 * 1024
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        data = (proxy / "model" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == reference["model"]["files"][name]["sha256"], name
    dataset = (proxy / reference["dataset"]["file"]).read_bytes()
    assert hashlib.sha256(dataset).hexdigest() == reference["dataset"]["sha256"]


# ---- datasets -------------------------------------------------------------
def test_cnn_eval_has_mlperf_fields():
    records = json.loads((GPTJ / build.GPTJ_DATASET).read_text())
    assert isinstance(records, list) and len(records) == build.EVAL_SIZE
    for index, record in enumerate(records):
        assert set(record) == {"instruction", "input", "output"}, index
        assert record["instruction"] == "Summarize the following news article:"
        assert record["input"].startswith(record["output"]), index  # the summary is the lead
    prompt = build.gptj_prompt(records[0])
    assert prompt.startswith("Below is an instruction that describes a task, paired with an input")
    assert prompt.endswith(f"### Input:\n{records[0]['input']}\n\n### Response:")


def test_open_orca_has_processorca_columns(orca, llama2):
    _, tokenizer = llama2
    assert list(orca.columns) == ORCA_COLUMNS
    assert len(orca) == build.EVAL_SIZE
    init_id = tokenizer.convert_tokens_to_ids("▁")
    for row in orca.itertuples():
        assert row.tok_input == list(tokenizer(row.input)["input_ids"]) + [init_id], row.id
        assert row.tok_input[:2] == [1, 1], row.id
        assert row.tok_input_length == len(row.tok_input), row.id
        assert row.tok_output == list(tokenizer(row.output)["input_ids"]), row.id
        assert row.tok_output_length == len(row.tok_output), row.id
        assert all(isinstance(i, int) for i in row.tok_input), row.id


def test_open_orca_prompt_templates(orca):
    with_sys = orca[orca["system_prompt"] != ""].iloc[0]
    no_sys = orca[orca["system_prompt"] == ""].iloc[0]
    assert with_sys["input"] == f"<s>[INST] <<SYS>>\n{with_sys['system_prompt']}\n<</SYS>>\n\n{with_sys['question']} [/INST]"
    assert no_sys["input"] == f"<s>[INST] {no_sys['question']} [/INST]"


def test_datasets_regenerate_byte_identically(tmp_path):
    gptj_file = build.write_gptj_dataset(tmp_path / "gptj")
    assert gptj_file.read_bytes() == (GPTJ / build.GPTJ_DATASET).read_bytes()
    orca_file = build.write_llama2_dataset(tmp_path / "llama2", LLAMA2 / "model")
    assert orca_file.read_bytes() == (LLAMA2 / build.LLAMA_DATASET).read_bytes()
    assert pickle.loads(orca_file.read_bytes()).equals(pd.read_pickle(LLAMA2 / build.LLAMA_DATASET))


def test_tokenizers_retrain_identically(gptj, llama2):
    retrained = build.train_gptj_tokenizer(build.gptj_tokenizer_texts())
    assert retrained.get_vocab() == gptj[1].get_vocab()
    retrained = build.train_llama_tokenizer(build.llama_tokenizer_texts())
    assert retrained.get_vocab() == llama2[1].get_vocab()


# ---- recorded reference ---------------------------------------------------
@pytest.mark.parametrize("proxy", [GPTJ, LLAMA2], ids=["gptj", "llama2"])
def test_reference_is_far_above_a_broken_pipeline(proxy):
    reference = _reference(proxy)
    fp32 = reference["accuracy"]["fp32"]
    assert fp32["rouge1"] >= 60.0
    assert fp32["gen_num"] == build.EVAL_SIZE
    # Feeding another tokenizer's ids must fail the 99% gate by a wide margin.
    assert reference["tokenizer_mismatch"]["rouge1"] < 0.5 * fp32["rouge1"]


def test_first_samples_reproduce_gptj(gptj, one_thread):
    model, tokenizer = gptj
    reference = _reference(GPTJ)
    assert reference["decode"]["num_beams"] == 4 and reference["decode"]["min_new_tokens"] == 30
    records = json.loads((GPTJ / build.GPTJ_DATASET).read_text())[: build.FIRST_N]
    prompts = [tokenizer(build.gptj_prompt(r))["input_ids"] for r in records]
    eos = tokenizer.eos_token_id
    responses = build.generate(model, prompts, build.GPTJ_DECODE, eos, eos, batch_size=build.FIRST_N)
    assert responses == reference["first_samples"]["response_ids"]
    assert all(30 < len(r) <= 128 and r[-1] == eos for r in responses)


def test_first_samples_reproduce_llama2(llama2, orca, one_thread):
    model, tokenizer = llama2
    reference = _reference(LLAMA2)
    prompts = [list(ids) for ids in orca["tok_input"][: build.FIRST_N]]
    eos = tokenizer.eos_token_id
    responses = build.generate(model, prompts, build.LLAMA_DECODE, eos, eos, batch_size=build.FIRST_N)
    assert responses == reference["first_samples"]["response_ids"]


# ---- helpers --------------------------------------------------------------
def test_rouge_metrics_hand_computed():
    # pred "the cat sat" vs ref "the cat ran": unigrams 2/3 match, bigrams 1/2; 11 characters.
    result = build.rouge_metrics(["the cat sat"], ["the cat ran"], [4])
    assert result["rouge1"] == pytest.approx(200 / 3)
    assert result["rouge2"] == pytest.approx(50.0)
    assert result["rougeL"] == pytest.approx(200 / 3)
    assert (result["gen_len"], result["gen_num"], result["gen_tok_len"], result["tokens_per_sample"]) == (11, 1, 4, 4.0)


def test_llama_prompt_omits_empty_system_block():
    assert build.llama_prompt("", "Q?") == "<s>[INST] Q? [/INST]"
    assert build.llama_prompt("Be brief.", "Q?") == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nQ? [/INST]"


def test_bad_inputs_raise_named_errors():
    with pytest.raises(build.ProxyBuildError, match="unknown record kind 'nope'"):
        build.make_records("nope", 1, 1)
    with pytest.raises(build.ProxyBuildError, match="unknown precision 'fp8'"):
        build.with_precision(torch.nn.Linear(2, 2), "fp8")
    with pytest.raises(build.ProxyBuildError, match="gptj eval record 1: prompt of 500 tokens"):
        build._check_lengths("gptj", [[0] * 10, [0] * 500], 128, 512)
