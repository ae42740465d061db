"""Does a tokenizer belong to a model? Checked before anything is tokenized.

A tokenizer from another model produces ids the model never learned (or ids
past its embedding table): the run would finish and score near zero with no
hint why. The model's vocabulary size comes from its config.json (Hugging
Face folders) or its word-embedding table (ONNX); the tokenizer's is its
number of tokens. Embedding tables padded past the tokenizer (GPT-J: 50257
tokens, 50400 rows) are accepted; a tokenizer larger than the table, or
much smaller, is refused.
"""
from __future__ import annotations

import json
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "tokenizer.model")
# A table this much larger than the tokenizer is another vocabulary, not padding.
PADDING_SLACK = 0.05


class VocabularyMismatch(ValueError):
    """The tokenizer does not belong to the model."""


def model_vocab_size(model_path: Path) -> int | None:
    """Rows of the model's token embedding, or None when it cannot be told."""
    model_path = Path(model_path)
    config = model_path / "config.json" if model_path.is_dir() else None
    if config is not None and config.is_file():
        size = json.loads(config.read_text()).get("vocab_size")
        return int(size) if size else None
    if model_path.suffix == ".onnx":
        return _onnx_embedding_rows(model_path)
    return None


def _onnx_embedding_rows(path: Path) -> int | None:
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path), load_external_data=False)
    for init in model.graph.initializer:
        if "word_embeddings" in init.name and len(init.dims) == 2:
            return int(init.dims[0])
    return None


def tokenizer_size(tokenizer_dir: Path) -> int | None:
    tokenizer_dir = Path(tokenizer_dir)
    tokenizer_json = tokenizer_dir / "tokenizer.json"
    if tokenizer_json.is_file():
        data = json.loads(tokenizer_json.read_text())
        vocab = data.get("model", {}).get("vocab", {})
        ids = set(vocab.values()) if isinstance(vocab, dict) else set(range(len(vocab)))
        ids.update(token["id"] for token in data.get("added_tokens", []))
        return len(ids) if ids else None
    vocab_txt = tokenizer_dir / "vocab.txt"
    if vocab_txt.is_file():
        return sum(1 for _ in vocab_txt.open(encoding="utf-8"))
    return None


def check_model_vocabulary(model_path: Path, tokenizer_dir: Path) -> None:
    rows, tokens = model_vocab_size(model_path), tokenizer_size(tokenizer_dir)
    if rows is None or tokens is None:
        return  # nothing to compare against (e.g. an ONNX model without named embeddings)
    if tokens > rows or tokens < rows * (1 - PADDING_SLACK):
        raise VocabularyMismatch(
            f"the tokenizer in {tokenizer_dir} has {tokens} tokens but the model {model_path} embeds {rows}: "
            "they do not belong together (pass the model's own tokenizer with --mlperf-tokenizer-path)"
        )
