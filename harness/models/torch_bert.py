"""BERT for SQuAD question answering in PyTorch, with MLPerf's input and output contract.

A thin nn.Module around transformers' ``BertForQuestionAnswering``: its
submodules are that model's own (``bert``, ``qa_outputs``), so state-dict keys
are exactly the Hugging Face ones (``bert.embeddings.word_embeddings.weight``,
..., ``qa_outputs.weight``) and a ``save_pretrained`` folder or a plain state
dict of the same model loads without renaming.

forward(input_ids, input_mask, segment_ids), each int64 [N, L], returns
``(start_logits, end_logits)``, float [N, L]: the MLPerf ONNX model's
``output_start_logits`` and ``output_end_logits``. The harness stages BERT
samples as one int64 [N, 3, L] array (ids, mask, segments); passing that array
alone as ``input_ids`` is accepted too.

Token ids must stay integers: a backend that casts its input to the model's
float dtype would round ids above 256 in bfloat16, so float inputs are refused
rather than silently answered.

Only torch and transformers are imported here; the harness imports this module
by name (through the pytorch backend's ``architecture`` option) when a run starts.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# MLPerf's BERT-Large (bert_tf_v1_1_large_fp32_384_v2), the default when no config is given.
MLPERF_BERT_LARGE = dict(vocab_size=30522, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                         intermediate_size=4096, hidden_act="gelu", max_position_embeddings=512,
                         type_vocab_size=2, layer_norm_eps=1e-12)


def _config(config):
    from transformers import BertConfig

    if config is None:
        return BertConfig(**MLPERF_BERT_LARGE)
    if isinstance(config, BertConfig):
        return config
    if isinstance(config, dict):
        return BertConfig(**config)
    path = Path(config)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ValueError(f"BertQA: no BERT config at {path} (expected a folder with config.json, or the file)")
    return BertConfig.from_json_file(str(path))


class BertQA(nn.Module):
    """forward(input_ids, input_mask, segment_ids) -> (start_logits [N, L], end_logits [N, L])."""

    def __init__(self, config=None):
        super().__init__()
        from transformers import BertForQuestionAnswering

        config = _config(config)
        hf = BertForQuestionAnswering(config)
        self.config = config
        self.bert = hf.bert
        self.qa_outputs = hf.qa_outputs

    @classmethod
    def from_dir(cls, path: str | Path) -> "BertQA":
        """A ``save_pretrained`` folder: config.json and model.safetensors."""
        from safetensors.torch import load_file

        path = Path(path)
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise ValueError(f"BertQA.from_dir: {weights} does not exist (expected save_pretrained's output)")
        model = cls(path)
        state = load_file(str(weights))
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(f"{weights}: not a BertForQuestionAnswering state dict for {path / 'config.json'}; "
                             f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
        return model.eval()

    def forward(self, input_ids: torch.Tensor, input_mask: torch.Tensor | None = None,
                segment_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if input_mask is None and segment_ids is None:
            if input_ids.dim() != 3 or input_ids.shape[1] != 3:
                shape = list(input_ids.shape)
                raise ValueError(f"BertQA: a single input must be the staged [N, 3, L] array, got {shape}")
            input_ids, input_mask, segment_ids = input_ids.unbind(1)
        for name, tensor in (("input_ids", input_ids), ("input_mask", input_mask), ("segment_ids", segment_ids)):
            if tensor is None or tensor.is_floating_point():
                kind = "missing" if tensor is None else f"{tensor.dtype}"
                raise TypeError(f"BertQA: {name} is {kind}; token ids, mask and segments must be integer tensors")
        hidden = self.bert(input_ids=input_ids, attention_mask=input_mask, token_type_ids=segment_ids).last_hidden_state
        start, end = self.qa_outputs(hidden).split(1, dim=-1)
        return start.squeeze(-1), end.squeeze(-1)
