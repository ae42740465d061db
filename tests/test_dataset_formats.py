"""Dataset format adapters: finding the dataset file, and cache keys that
follow what the staged samples depend on (never a model's weights)."""
from __future__ import annotations

import pytest

from harness.benchmarks.bert.dataset import SquadFormat
from harness.benchmarks.gptj.dataset import CnnDailyMailFormat
from harness.datasets.base import DatasetFormatError
from harness.datasets.base import digest as _digest
from harness.datasets.base import find_file as _find
from harness.datasets.base import tokenizer_files as _tokenizer_files
from harness.registry import load_registry
from harness.registry.parts import PartError, dataset_format


def test_a_folder_without_the_dataset_file_names_what_was_expected(tmp_path):
    with pytest.raises(DatasetFormatError, match=rf"{tmp_path}: no cnn_eval.json found \(expected one of cnn_eval.json"):
        _find(tmp_path, CnnDailyMailFormat.FILES, "cnn_eval.json")


def test_the_dataset_file_itself_is_accepted(tmp_path):
    path = tmp_path / "my_squad.json"
    path.write_text("{}")
    assert _find(path, SquadFormat.FILES, "SQuAD") == path


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


def test_a_format_the_family_folder_lacks_names_the_registry_file():
    import dataclasses

    bench = dataclasses.replace(load_registry()["resnet50"], dataset_format="dataset:CocoFormat")
    with pytest.raises(PartError, match=r"resnet50/benchmark.toml: dataset_format 'dataset:CocoFormat': .* has no 'CocoFormat'"):
        dataset_format(bench)


def test_every_family_names_parts_that_resolve():
    from harness.registry.parts import scorer, task_class
    from harness.tasks.kinds import INPUT_KINDS, RESPONSE_KINDS

    for bench in load_registry().values():
        fmt = dataset_format(bench)
        assert fmt.name and fmt.real_hint, bench.name
        task = task_class(bench)
        assert task.input_kind in INPUT_KINDS and task.response_kind in RESPONSE_KINDS, bench.name
        assert callable(getattr(scorer.__globals__["resolve"](bench.scorer, bench.home_dir), "score")), bench.name
