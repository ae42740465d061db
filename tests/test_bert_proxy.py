"""The committed bert-99 proxy: its measured reference reproduces, and a pipeline bug fails the 99% gate."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="the ONNX proxy runs on ONNX Runtime")
pytest.importorskip("transformers", reason="the BERT tokenizer comes from transformers")

from harness.benchmarks.bert import squad  # noqa: E402
from harness.datasets.vocabulary import model_vocab_size, tokenizer_size  # noqa: E402
from harness.benchmarks.bert import squad_metric as metrics  # noqa: E402

PROXY = Path(__file__).resolve().parents[1] / "harness" / "proxies" / "bert"
INPUTS = ("input_ids", "input_mask", "segment_ids")
OUTPUTS = ("output_start_logits", "output_end_logits")
GATE = 0.99  # bert-99
CHECKER_F1 = re.compile(r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}")


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((PROXY / "reference.json").read_text())


@pytest.fixture(scope="module")
def dev():
    examples = squad.read_squad(PROXY / "dev-v1.1.json")
    features = squad.build_features(examples, squad.load_tokenizer(PROXY))
    return examples, features


@pytest.fixture(scope="module")
def fp32_logits(dev) -> dict[int, np.ndarray]:
    """ONNX Runtime fp32 responses, [384, 2] per feature, as the harness would log them."""
    _, features = dev
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(PROXY / "bert_proxy.onnx"), options, providers=["CPUExecutionProvider"])
    samples = squad.stack_samples(features)
    logits: dict[int, np.ndarray] = {}
    for begin in range(0, len(samples), 32):
        chunk = samples[begin:begin + 32]
        start, end = session.run(list(OUTPUTS), {name: chunk[:, i] for i, name in enumerate(INPUTS)})
        for i, row in enumerate(np.stack([start, end], axis=-1)):
            logits[begin + i] = row
    return logits


def test_reference_describes_the_committed_dataset(reference, dev):
    examples, features = dev
    assert reference["dataset"]["examples"] == len(examples)
    assert reference["dataset"]["features"] == len(features)
    # the doc-stride path is exercised: some questions span several windows
    assert reference["dataset"]["multi_feature_examples"] == int(np.sum(np.bincount(features.example_index) > 1)) > 0
    # the ONNX model's word-embedding table and the committed vocabulary agree
    assert model_vocab_size(PROXY / "bert_proxy.onnx") == reference["model_config"]["vocab_size"] == tokenizer_size(PROXY)


def test_committed_files_are_small_and_match_their_checksums(reference):
    for name, meta in reference["files"].items():
        data = (PROXY / name).read_bytes()
        assert len(data) < 5 * 2**20, f"{name} is {len(data)} bytes"
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], f"{name} differs from the build's"


def test_onnx_keeps_the_mlperf_contract():
    session = ort.InferenceSession(str(PROXY / "bert_proxy.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape[1]) for i in session.get_inputs()}
    outputs = {o.name: (o.type, o.shape[1]) for o in session.get_outputs()}
    assert inputs == {name: ("tensor(int64)", 384) for name in INPUTS}
    assert outputs == {name: ("tensor(float)", 384) for name in OUTPUTS}
    assert all(isinstance(i.shape[0], str) for i in session.get_inputs())  # dynamic batch


def test_fp32_reproduces_the_reference_f1(reference, dev, fp32_logits):
    examples, features = dev
    result = metrics.evaluate(examples, metrics.predictions_from_logits(examples, features, fp32_logits))
    assert result["f1"] == pytest.approx(reference["reference"]["f1"], abs=1e-6)
    assert result["exact_match"] == pytest.approx(reference["reference"]["exact_match"], abs=1e-6)
    assert result["f1"] >= 80.0  # far above chance, so the 99% gate can fail


def test_off_by_one_span_shift_fails_the_gate(reference, dev, fp32_logits):
    examples, features = dev
    shifted = {}
    for index, logits in fp32_logits.items():
        moved = np.full_like(logits, -10000.0)
        moved[1:] = logits[:-1]  # every start and end logit one position later
        shifted[index] = moved
    result = metrics.evaluate(examples, metrics.predictions_from_logits(examples, features, shifted))
    assert result["f1"] < GATE * reference["reference"]["f1"]


def test_accuracy_log_of_a_subset_scores_only_the_questions_it_covers(tmp_path, dev, fp32_logits):
    examples, features = dev
    logged = range(40)  # the first 40 query samples, as a --count 40 run logs them
    rows = [{"seq_id": i, "qsl_idx": i, "data": fp32_logits[i].astype(np.float32).tobytes().hex().upper()}
            for i in logged]
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(json.dumps(rows))
    score = metrics.score_accuracy_log(log, examples, features, questions="logged")
    covered = sorted({int(features.example_index[i]) for i in logged})
    predictions = metrics.predictions_from_logits(examples, features, {i: fp32_logits[i] for i in logged})
    expected = metrics.evaluate([examples[i] for i in covered], predictions)
    assert (score.questions, score.features_logged) == (len(covered), 40)
    assert (score.exact_match, score.f1) == (expected["exact_match"], expected["f1"])
    assert float(CHECKER_F1.match(score.official_line()).group(1)) == pytest.approx(score.f1)


def test_pytorch_module_matches_the_onnx_proxy(dev, fp32_logits):
    torch = pytest.importorskip("torch", reason="the PyTorch proxy needs torch")
    from harness.models.torch_bert import BertQA

    _, features = dev
    model = BertQA.from_dir(PROXY / "torch")
    staged = torch.from_numpy(squad.stack_samples(features)[:8])
    with torch.inference_mode():
        start, end = model(staged[:, 0], staged[:, 1], staged[:, 2])
        stacked_start, _ = model(staged)  # the harness's staged [N, 3, 384] array alone
    expected = np.stack([fp32_logits[i] for i in range(8)])
    assert np.allclose(start.numpy(), expected[..., 0], atol=1e-4)
    assert np.allclose(end.numpy(), expected[..., 1], atol=1e-4)
    assert torch.equal(stacked_start, start)
    with pytest.raises(TypeError, match="input_ids is torch.bfloat16"):
        model(staged[:, 0].to(torch.bfloat16), staged[:, 1], staged[:, 2])
