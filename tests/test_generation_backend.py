"""The PyTorch generation backend on a tiny random Llama built here."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the generation backend needs torch")
transformers = pytest.importorskip("transformers", reason="the generation backend needs transformers")

from harness.backends import BackendConfig, BackendError, ModelLoadError  # noqa: E402
from harness.backends.pytorch_generate import TorchGenerator, _until_eos  # noqa: E402

EOS = 2


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=EOS, pad_token_id=0,
    )
    model = transformers.LlamaForCausalLM(config)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    return folder


def _load(folder, precision="fp32"):
    generator = TorchGenerator()
    generator.load(BackendConfig(model_path=folder, precision=precision, threads=1))
    return generator


GREEDY = {"num_beams": 1, "min_new_tokens": 1, "max_new_tokens": 6}
PROMPTS = [np.array([1, 5, 9, 13], dtype=np.int64), np.array([1, 7], dtype=np.int64),
           np.array([1, 3, 4, 5, 6, 8, 10], dtype=np.int64)]


def test_a_batch_decodes_like_each_prompt_alone(tiny_llama):
    generator = _load(tiny_llama)
    together = generator.generate(PROMPTS, GREEDY)
    alone = [generator.generate([p], GREEDY)[0] for p in PROMPTS]
    assert [t.tolist() for t in together] == [a.tolist() for a in alone]
    assert all(1 <= len(t) <= GREEDY["max_new_tokens"] for t in together)


def test_first_tokens_are_streamed_once_and_match_the_outputs(tiny_llama):
    generator = _load(tiny_llama)
    seen = []
    outputs = generator.generate(PROMPTS, GREEDY, on_first_tokens=seen.append)
    assert len(seen) == 1
    assert seen[0].tolist() == [int(o[0]) for o in outputs]


def test_beam_search_honours_min_new_tokens_and_refuses_streaming(tiny_llama):
    generator = _load(tiny_llama)
    beam = {"num_beams": 3, "min_new_tokens": 4, "max_new_tokens": 6}
    outputs = generator.generate(PROMPTS, beam)
    assert all(len(o) >= 4 for o in outputs)
    with pytest.raises(BackendError, match="greedy"):
        generator.generate(PROMPTS, beam, on_first_tokens=lambda tokens: None)


@pytest.mark.parametrize("precision, dtype", [("bf16", "bfloat16"), ("int8", None)])
def test_reduced_precisions_report_what_ran(tiny_llama, precision, dtype):
    generator = _load(tiny_llama, precision)
    info = generator.info()
    assert info["precision"] == precision
    if dtype:
        assert info["parameter_dtype"] == dtype
    else:
        assert info["int8_dynamic_linear"] is True
    assert len(generator.generate(PROMPTS[:1], GREEDY)[0]) >= 1


def test_a_folder_without_a_model_is_refused_by_name(tmp_path):
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        _load(tmp_path)


def test_tokens_after_the_first_eos_are_dropped():
    assert _until_eos(np.array([5, 6, EOS, 0, 0]), EOS).tolist() == [5, 6, EOS]
    assert _until_eos(np.array([5, 6, 7]), EOS).tolist() == [5, 6, 7]
