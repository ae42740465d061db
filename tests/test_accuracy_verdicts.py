"""The accuracy gate over several metrics: lower bounds, MLPerf's upper
limits (LLM tokens per sample) and dataset totals scored on a subset."""
from __future__ import annotations

import json

import pytest

from harness.accuracy.scoring import Scored
from harness.checks.accuracy import AccuracyVerdict, verdicts
from harness.datasets.vocabulary import VocabularyMismatch, check_model_vocabulary
from harness.registry import load_registry
from harness.registry.schema import AccuracySpec


def test_upper_limit_fails_above_and_passes_inside():
    inside = AccuracyVerdict("tokens_per_sample", 300.0, 294.45, 0.9, "log", upper_ratio=1.1)
    above = AccuracyVerdict("tokens_per_sample", 330.0, 294.45, 0.9, "log", upper_ratio=1.1)
    below = AccuracyVerdict("tokens_per_sample", 260.0, 294.45, 0.9, "log", upper_ratio=1.1)
    assert inside.passed and not above.passed and not below.passed
    assert "upper limit 323.8950" in above.message()
    assert "threshold 265.0050" in below.message()


def test_the_llama2_registry_gates_every_checker_metric():
    bench = load_registry()["llama2-70b-99"]
    specs = {s.metric: s for s in bench.accuracy_specs}
    assert set(specs) == {"rouge1", "rouge2", "rougeL", "tokens_per_sample"}
    assert specs["rouge1"].threshold() == pytest.approx(43.986888)
    assert specs["tokens_per_sample"].upper_ratio == 1.1


def test_a_dataset_total_is_compared_with_the_subset_share():
    spec = AccuracySpec("gen_len", "characters", 1000.0, 0.9, dataset_total=True)
    half = Scored({"gen_len": 460.0}, ("line",), answered=5, dataset_total=10)
    verdict, = verdicts([spec], half, {"gen_len": 1000.0}, "log")
    assert verdict.reference == pytest.approx(500.0)
    assert verdict.passed  # 460 >= 500 x 0.9
    short = Scored({"gen_len": 440.0}, ("line",), answered=5, dataset_total=10)
    assert not verdicts([spec], short, {"gen_len": 1000.0}, "log")[0].passed


def test_a_metric_the_script_did_not_compute_is_an_error():
    spec = AccuracySpec("rouge2", "percent", 20.0, 0.99)
    with pytest.raises(KeyError, match="rouge2"):
        verdicts([spec], Scored({"rouge1": 40.0}, ("line",), 1, 1), {"rouge2": 20.0}, "log")


def _model(tmp_path, rows):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"vocab_size": rows}))
    return folder


def _vocab(tmp_path, tokens):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(f"t{i}" for i in range(tokens)) + "\n")
    return folder


@pytest.mark.parametrize("rows, tokens, ok", [(100, 100, True), (104, 100, True), (100, 120, False), (200, 100, False)])
def test_a_tokenizer_must_belong_to_the_model(tmp_path, rows, tokens, ok):
    model, tokenizer = _model(tmp_path, rows), _vocab(tmp_path, tokens)
    if ok:
        check_model_vocabulary(model, tokenizer)
    else:
        with pytest.raises(VocabularyMismatch, match=f"{tokens} tokens but the model .* embeds {rows}"):
            check_model_vocabulary(model, tokenizer)
