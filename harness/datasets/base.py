"""What every dataset format shares: the request it answers, what it returns, staging helpers.

A format (one per benchmark family, in ``harness/benchmarks/<family>/``)
reads the real on-disk layout, stages samples for LoadGen under the
content-keyed cache and returns the ground truth its family's scorer reads.
It never scores: the dataset layer does not import the scoring layer.

Interface of a format object (the registry's ``dataset_format`` names its class):
- ``name``, ``real_hint`` (what --mlperf-dataset-path must point at);
- ``proxy_directory(bench, cache_dir, *, offline=False) -> Path``: the proxy dataset, built once;
- ``check(directory, count) -> None``: fast layout checks, errors naming the file, before any long work;
- ``content_files(directory) -> list[Path]``: what the dataset's content is (to recognise the proxy by content);
- ``prepare(directory, request) -> Prepared``: staged samples and ground truth;
- ``ground_truth(directory, request) -> object``: the ground truth alone (``python -m harness accuracy``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..artifacts.cache import ensure_artifact
from ..staging import SAMPLES_FILE, save_volumes


class DatasetFormatError(ValueError):
    """A dataset folder does not hold what its format needs."""


@dataclass(frozen=True)
class DatasetRequest:
    """Everything a format may need; each format reads the fields it uses."""
    cache_dir: Path | None = None  # None: read only, stage nothing (the accuracy command)
    count: int | None = None  # --mlperf-count: the first N samples
    channel_order: str = "RGB"
    tokenizer_dir: Path | None = None
    dtype: str = "float32"  # the registry's response dtype
    max_positions: int = 0  # the model's position limit (0: unknown)
    max_new_tokens: int = 0
    offline: bool = False  # a damaged cache entry is an error, not rebuilt
    task_options: dict = field(default_factory=dict)


@dataclass
class Prepared:
    directory: Path  # the dataset as the user sees it (folder or file)
    samples_path: Path  # staged samples (harness.staging), query-sample-index order
    truth: object  # ground truth, as the family's scorer reads it
    total: int


def digest(params: dict, *files: Path) -> str:
    """A short content key: the parameters and each file's name, length and bytes."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for file in files:
        data = Path(file).read_bytes()
        h.update(f"\n{Path(file).name}\n{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()[:16]


def find_file(directory: Path, names: tuple[str, ...], what: str) -> Path:
    """The dataset file: ``directory`` itself, or the first of ``names`` (globs allowed) in it."""
    directory = Path(directory)
    if directory.is_file():
        return directory
    if not directory.exists():
        raise DatasetFormatError(f"{directory}: no such file or folder (expected {what})")
    for name in names:
        if (directory / name).is_file():
            return directory / name
    for pattern in names:
        found = sorted(directory.glob(pattern)) if "*" in pattern else []
        if found:
            return found[0]
    raise DatasetFormatError(f"{directory}: no {what} found (expected one of {', '.join(names)})")


def stage(cache_dir: Path, prefix: str, key: str, build_samples, *, offline: bool = False) -> Path:
    """Stage ``build_samples()`` (one ``[N, ...]`` array) as ``preprocessed/<prefix>-<key>/samples.npy``.

    Built once across processes, verified by its manifest on every use.
    """
    def build(tmp: Path) -> None:
        tmp.mkdir()
        np.save(tmp / SAMPLES_FILE, build_samples())

    return ensure_artifact(cache_dir, f"preprocessed/{prefix}-{key}", build=build, offline=offline) / SAMPLES_FILE


def stage_volumes(cache_dir: Path, prefix: str, key: str, build_volumes, *, offline: bool = False) -> Path:
    """Stage ``build_volumes()`` (a list of arrays of different shapes) in the volumes layout."""
    def build(tmp: Path) -> None:
        tmp.mkdir()
        save_volumes(tmp / SAMPLES_FILE, build_volumes())

    return ensure_artifact(cache_dir, f"preprocessed/{prefix}-{key}", build=build, offline=offline) / SAMPLES_FILE


class OneFileFormat:
    """A dataset that is one file (a proxy's is committed in the family's proxy folder)."""
    FILES: tuple[str, ...] = ()
    WHAT = ""

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        return bench.proxy_dir / bench.proxy.dataset  # committed: nothing cached

    def file(self, directory: Path) -> Path:
        return find_file(directory, self.FILES, self.WHAT)

    def content_files(self, directory: Path) -> list[Path]:
        return [self.file(directory)]

    def check(self, directory: Path, count: int | None) -> None:
        # The file must be there; its records are checked by prepare(), whose
        # first step is reading it (reading it here too parsed it twice).
        self.file(directory)


# What a tokenizer folder's output depends on; a model folder that holds its
# tokenizer also holds gigabytes of weights, which must not be hashed.
_TOKENIZER_NAMES = ("tokenizer", "vocab", "merges", "special_tokens_map", "added_tokens")


def tokenizer_files(folder: Path) -> list[Path]:
    return sorted(f for f in Path(folder).iterdir() if f.is_file() and f.name.startswith(_TOKENIZER_NAMES))


def required_tokenizer(request: DatasetRequest, fmt: str) -> Path:
    if request.tokenizer_dir is None:
        raise DatasetFormatError(f"the {fmt} format needs a tokenizer folder (--tokenizer / --mlperf-tokenizer-path)")
    return Path(request.tokenizer_dir)
