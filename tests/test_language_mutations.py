"""Language benchmarks: deliberately broken pipelines fail the gates, bad
input fails with an error that names the file and the record, and the
accuracy command prints what the gate wrote. Real harness, end to end, on
the proxies (one child process per run)."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the BERT proxy runs on ONNX Runtime")
pytest.importorskip("torch", reason="the LLM proxies run on PyTorch")

from harness.accuracy.cli import main as accuracy_main  # noqa: E402
from harness.case_run import execute_case  # noqa: E402
from harness.datasets.base import DatasetFormatError  # noqa: E402
from harness.datasets.vocabulary import VocabularyMismatch  # noqa: E402
from harness.matrix import Case  # noqa: E402
from harness.options import RunOptions  # noqa: E402
from harness.provision import provision  # noqa: E402
from harness.proxies import PROXY_DIR  # noqa: E402
from harness.registry import load_registry  # noqa: E402

REGISTRY = load_registry()
F1_LINE = re.compile(r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}")
ROUGE1_LINE = re.compile(r".*'rouge1':\s+'?([\d.]+)'?.*")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.getbasetemp().parent / "mlperf-cache"


def _provision(name, backend, cache, **kwargs):
    return provision(REGISTRY[name], backend, "fp32", cache_dir=cache, **kwargs)


def _run(name, backend, prov, tmp_path, scenario="Offline", mode="accuracy", **options):
    case = Case(name, backend, "cpu", "fp32", scenario, mode)
    return execute_case(case, REGISTRY[name], prov, RunOptions(timeout_s=300, **options), tmp_path / case.id)


# ---------------------------------------------------------------- bert

def test_bert_passes_and_the_accuracy_command_prints_the_same_line(cache, tmp_path, capsys):
    prov = _provision("bert-99", "onnxruntime", cache)
    result = _run("bert-99", "onnxruntime", prov, tmp_path)
    assert result.passed, result.failures
    line = (result.log_dir / "accuracy.txt").read_text().splitlines()[0]
    assert float(F1_LINE.match(line)[1]) == pytest.approx(result.accuracy.value)
    code = accuracy_main(["--benchmark", "bert-99", "--log", str(result.log_dir / "mlperf_log_accuracy.json"),
                          "--dataset", str(PROXY_DIR / "bert")])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == line


def test_bert_off_by_one_span_positions_fail_the_gate(cache, tmp_path):
    prov = _provision("bert-99", "onnxruntime", cache)
    result = _run("bert-99", "onnxruntime", prov, tmp_path, task_options={"span_shift": 1})
    assert not result.passed
    assert result.accuracy.metric == "f1" and result.accuracy.value < result.accuracy.threshold
    assert "accuracy gate failed: f1" in "\n".join(result.failures)


def test_bert_tokenizer_of_another_model_is_refused_by_name(cache, tmp_path):
    folder = tmp_path / "vocab"
    folder.mkdir()
    lines = (PROXY_DIR / "bert" / "vocab.txt").read_text().splitlines()
    (folder / "vocab.txt").write_text("\n".join(lines + [f"extra{i}" for i in range(len(lines))]) + "\n")
    with pytest.raises(VocabularyMismatch, match=f"{folder}.*{2 * len(lines)} tokens"):
        _provision("bert-99", "onnxruntime", cache, tokenizer_path=folder)


# ---------------------------------------------------------------- LLMs

def _permuted_tokenizer(source, dest):
    """The same tokens under shuffled ids: same size, wrong mapping."""
    shutil.copytree(source, dest)
    data = json.loads((dest / "tokenizer.json").read_text())
    special = {t["id"] for t in data.get("added_tokens", [])}
    vocab = data["model"]["vocab"]
    movable = sorted(i for i in vocab.values() if i not in special)
    shuffled = np.random.default_rng(0).permutation(movable).tolist()
    mapping = dict(zip(movable, shuffled))
    data["model"]["vocab"] = {token: mapping.get(i, i) for token, i in vocab.items()}
    (dest / "tokenizer.json").write_text(json.dumps(data))
    return dest


@pytest.mark.parametrize("name", ["gptj-99", "llama2-70b-99"])
def test_llm_passes_and_the_accuracy_command_prints_the_same_dict(name, cache, tmp_path, capsys):
    prov = _provision(name, "pytorch", cache)
    result = _run(name, "pytorch", prov, tmp_path)
    assert result.passed, result.failures
    assert {v.metric for v in [result.accuracy, *result.accuracy_also]} >= {"rouge1", "rouge2", "rougeL"}
    written = (result.log_dir / "accuracy.txt").read_text().splitlines()
    assert float(ROUGE1_LINE.match(written[0])[1]) == pytest.approx(result.accuracy.value, abs=1e-4)
    code = accuracy_main(["--benchmark", name, "--log", str(result.log_dir / "mlperf_log_accuracy.json"),
                          "--dataset", str(prov.dataset_dir)])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == written


@pytest.mark.parametrize("name", ["gptj-99", "llama2-70b-99"])
def test_llm_tokenizer_mismatch_fails_the_gate(name, cache, tmp_path):
    bench = REGISTRY[name]
    permuted = _permuted_tokenizer(PROXY_DIR / bench.proxy.tokenizer, tmp_path / "permuted")
    prov = _provision(name, "pytorch", cache, tokenizer_path=permuted)
    result = _run(name, "pytorch", prov, tmp_path)
    assert not result.passed
    assert result.accuracy.value < result.accuracy.threshold
    assert "accuracy gate failed: rouge1" in "\n".join(result.failures)


def test_llama2_tokenizer_of_another_model_is_refused_by_name(cache):
    gptj_tokenizer = PROXY_DIR / REGISTRY["gptj-99"].proxy.tokenizer
    with pytest.raises(VocabularyMismatch, match="tokens but the model"):
        _provision("llama2-70b-99", "pytorch", cache, tokenizer_path=gptj_tokenizer)


def test_llama2_first_token_reported_late_fails_the_run(cache, tmp_path):
    prov = _provision("llama2-70b-99", "pytorch", cache)
    result = _run("llama2-70b-99", "pytorch", prov, tmp_path, scenario="Server", mode="performance",
                  task_options={"first_token_with_last": True})
    assert not result.passed
    assert "first_token_streamed" in "\n".join(result.failures)


def test_llama2_time_to_first_token_over_the_limit_is_invalid(cache, tmp_path):
    prov = _provision("llama2-70b-99", "pytorch", cache)
    conf = tmp_path / "user.conf"
    conf.write_text("llama2-70b.Server.ttft_latency = 0.001\n")  # 1 us: no token comes that fast
    result = _run("llama2-70b-99", "pytorch", prov, tmp_path, scenario="Server", mode="performance", user_conf=conf)
    assert not result.passed
    assert result.performance["result_validity"] == "INVALID"
    assert result.performance["result_perf_constraints_met"] is False


def test_llama2_prompt_longer_than_the_model_is_an_error_naming_the_row(cache, tmp_path):
    from harness.benchmarks.llama2.open_orca import read_open_orca, write_open_orca

    source = read_open_orca(PROXY_DIR / "llama2" / "open_orca.pkl")
    rows = [{"id": source.ids[i], "system_prompt": "", "question": "q", "input": "q", "output": source.targets[i],
             "tok_input": [int(t) for t in source.prompts[i]]} for i in range(3)]
    rows[1]["tok_input"] = rows[1]["tok_input"] * 400
    broken = tmp_path / "orca"
    broken.mkdir()
    write_open_orca(broken / "open_orca.pkl", rows)
    with pytest.raises(DatasetFormatError, match=r"open_orca.pkl: row 1 .*exceeds the model's \d+ positions"):
        _provision("llama2-70b-99", "pytorch", cache, dataset_path=broken)


def test_gptj_record_missing_a_field_is_an_error_naming_the_record(cache, tmp_path):
    records = json.loads((PROXY_DIR / "gptj" / "cnn_eval.json").read_text())[:3]
    del records[2]["output"]
    broken = tmp_path / "cnn"
    broken.mkdir()
    (broken / "cnn_eval.json").write_text(json.dumps(records))
    with pytest.raises(ValueError, match=r"cnn_eval.json.*2.*output"):
        _provision("gptj-99", "pytorch", cache, dataset_path=broken)
