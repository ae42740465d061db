"""Dataset format adapters: finding the dataset file, and cache keys that
follow what the staged samples depend on (never a model's weights)."""
from __future__ import annotations

import pytest

from harness.datasets.formats import DatasetFormatError, FORMATS, _digest, _find, _tokenizer_files, dataset_format


def test_a_folder_without_the_dataset_file_names_what_was_expected(tmp_path):
    with pytest.raises(DatasetFormatError, match=rf"{tmp_path}: no cnn_eval.json found \(expected one of cnn_eval.json"):
        _find(tmp_path, FORMATS["cnn-dailymail"].FILES, "cnn_eval.json")


def test_the_dataset_file_itself_is_accepted(tmp_path):
    path = tmp_path / "my_squad.json"
    path.write_text("{}")
    assert _find(path, FORMATS["squad"].FILES, "SQuAD") == path


def test_a_model_folder_keys_on_its_tokenizer_not_its_weights(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": {}}')
    (tmp_path / "tokenizer_config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 1024)
    files = _tokenizer_files(tmp_path)
    assert [f.name for f in files] == ["tokenizer.json", "tokenizer_config.json"]
    before = _digest({"v": 1}, *files)
    (tmp_path / "model.safetensors").write_bytes(b"\1" * 1024)
    assert _digest({"v": 1}, *_tokenizer_files(tmp_path)) == before
    (tmp_path / "tokenizer.json").write_text('{"model": {"changed": 1}}')
    assert _digest({"v": 1}, *_tokenizer_files(tmp_path)) != before


def test_an_unknown_format_lists_the_known_ones():
    with pytest.raises(DatasetFormatError, match="cnn-dailymail, imagenet, open-orca, squad"):
        dataset_format("coco")
