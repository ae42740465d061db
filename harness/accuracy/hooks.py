"""Accuracy-command hooks a family's registry entry may name (``accuracy_command``).

A hook fills in what ``python -m harness accuracy`` needs beyond the log and
the dataset: ``hook(bench, dataset: Path, given: dict) -> dict`` of
harness.datasets.base.DatasetRequest fields (``given`` holds the command's
options, e.g. ``tokenizer``). Raise DatasetFormatError naming the option.
"""
from __future__ import annotations

from pathlib import Path

from ..datasets.base import DatasetFormatError
from ..datasets.vocabulary import TOKENIZER_FILES


def tokenizer_request(bench, dataset: Path, given: dict) -> dict:
    """The tokenizer: --tokenizer, else the dataset folder's own, else the proxy's beside the proxy dataset."""
    if given.get("tokenizer"):
        return {"tokenizer_dir": Path(given["tokenizer"])}
    dataset = Path(dataset).resolve()
    folder = dataset if dataset.is_dir() else dataset.parent
    if any((folder / name).is_file() for name in TOKENIZER_FILES):
        return {"tokenizer_dir": folder}
    if bench.proxy.tokenizer and folder == (bench.proxy_dir / bench.proxy.dataset).resolve():
        return {"tokenizer_dir": (bench.proxy_dir / bench.proxy.tokenizer).resolve()}
    raise DatasetFormatError(f"{bench.name} decodes with the model's tokenizer: pass --tokenizer DIR")
