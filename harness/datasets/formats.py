"""Dataset formats: where a proxy dataset lives, how the real on-disk format is
staged for LoadGen, and how an accuracy log is scored against it.

One adapter per registry ``dataset_format``. ``prepare`` stages the samples
as one .npy in query-sample-index order (the dataset's own order) under the
content-keyed cache, built once across processes; ``evaluation`` builds what
scoring needs without staging anything (``python -m harness accuracy``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts.cache import ensure_artifact
from ..accuracy.scoring import GenerationEvaluation, SquadEvaluation, Top1Evaluation
from ..proxies import PROXY_DIR

SAMPLES_FILE = "samples.npy"


class DatasetFormatError(ValueError):
    """A dataset folder does not hold what its format needs."""


@dataclass
class Prepared:
    directory: Path  # the dataset as the user sees it (folder or file)
    samples_path: Path  # staged samples, .npy, query-sample-index order
    evaluation: object  # .score(log_path) -> Scored
    total: int


# What a tokenizer folder's output depends on; a model folder that holds its
# tokenizer also holds gigabytes of weights, which must not be hashed.
_TOKENIZER_NAMES = ("tokenizer", "vocab", "merges", "special_tokens_map", "added_tokens")


def _tokenizer_files(folder: Path) -> list[Path]:
    return sorted(f for f in Path(folder).iterdir() if f.is_file() and f.name.startswith(_TOKENIZER_NAMES))


def _digest(params: dict, *files: Path) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for file in files:
        data = file.read_bytes()
        h.update(f"\n{file.name}\n{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()[:16]


def _find(directory: Path, names: tuple[str, ...], what: str) -> Path:
    """The dataset file: ``directory`` itself, or the first of ``names`` in it."""
    directory = Path(directory)
    if directory.is_file():
        return directory
    for name in names:
        if (directory / name).is_file():
            return directory / name
    for pattern in names:
        found = sorted(directory.glob(pattern)) if "*" in pattern else []
        if found:
            return found[0]
    raise DatasetFormatError(f"{directory}: no {what} found (expected one of {', '.join(names)})")


def _stage(cache_dir: Path, prefix: str, key: str, build_samples, *, offline: bool = False) -> Path:
    """Stage ``build_samples()`` as ``preprocessed/<prefix>-<key>/samples.npy``, verified on every use.

    ``offline``: an entry that fails its manifest check is an error instead of being rebuilt.
    """
    def build(tmp: Path) -> None:
        tmp.mkdir()
        np.save(tmp / SAMPLES_FILE, build_samples())

    return ensure_artifact(cache_dir, f"preprocessed/{prefix}-{key}", build=build, offline=offline) / SAMPLES_FILE


class ImagenetFormat:
    name = "imagenet"
    real_hint = "pointing at the validation set (val_map.txt and the JPEG files)"

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        from ..proxies import digits_imagenet

        name = f"datasets/{bench.proxy.dataset}-v{digits_imagenet.GENERATOR_VERSION}"
        return ensure_artifact(cache_dir, name, build=lambda tmp: digits_imagenet.render_dataset(tmp, "val"),
                               offline=offline)

    def check(self, directory: Path, count: int | None) -> None:
        from .imagenet import read_val_map

        read_val_map(directory, count=count)  # clear errors before any long preprocessing

    def content_files(self, directory: Path) -> list[Path]:
        """What the dataset's content is: val_map.txt and the images it lists, in its order."""
        from .imagenet import VAL_MAP, read_val_map

        entries = read_val_map(directory, check_images=False)
        return [Path(directory) / VAL_MAP] + [Path(directory) / name for name, _ in entries]

    def prepare(self, directory: Path, *, cache_dir: Path, count=None, channel_order="RGB", tokenizer_dir=None,
                dtype="float32", offline: bool = False) -> Prepared:
        from .preprocessed import load_or_build

        samples, labels, _ = load_or_build(directory, cache_dir, count=count, channel_order=channel_order,
                                           offline=offline)
        labels = np.load(labels)
        return Prepared(directory, samples, Top1Evaluation(labels, dtype), len(labels))

    def evaluation(self, directory: Path, *, tokenizer_dir=None, dtype="float32"):
        from .imagenet import read_val_map

        labels = [label for _, label in read_val_map(directory, check_images=False)]
        return Top1Evaluation(labels, dtype)


class _OneFileFormat:
    """A dataset that is one file (the proxy's is committed under harness/proxies)."""
    FILES: tuple[str, ...] = ()
    WHAT = ""

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        return PROXY_DIR / bench.proxy.dataset  # committed: nothing cached

    def file(self, directory: Path) -> Path:
        return _find(directory, self.FILES, self.WHAT)

    def read(self, path: Path):
        raise NotImplementedError

    def content_files(self, directory: Path) -> list[Path]:
        return [self.file(directory)]

    def check(self, directory: Path, count: int | None) -> None:
        # The file must be there; its records are checked by prepare(), whose
        # first step is reading it (reading it here too parsed it twice).
        self.file(directory)


class SquadFormat(_OneFileFormat):
    name = "squad"
    real_hint = "pointing at the SQuAD v1.1 dev set (dev-v1.1.json) and --mlperf-tokenizer-path at the model's vocab.txt folder"
    FILES = ("dev-v1.1.json", "*.json")
    WHAT = "SQuAD v1.1 JSON"

    def read(self, path: Path):
        from .squad import read_squad

        return read_squad(path)

    def _features(self, directory: Path, tokenizer_dir: Path, cache_dir: Path | None, offline: bool = False):
        from . import squad

        path = self.file(directory)
        examples = self.read(path)
        tokenizer = squad.load_tokenizer(tokenizer_dir)
        if cache_dir is None:
            return examples, squad.build_features(examples, tokenizer), None
        key = _digest({"format": "squad-features-v1"}, path, *_tokenizer_files(tokenizer_dir))

        def build(tmp: Path) -> None:
            tmp.mkdir()
            features = squad.build_features(examples, tokenizer)
            features.save(tmp / "features.npz")
            np.save(tmp / SAMPLES_FILE, squad.stack_samples(features))

        folder = ensure_artifact(cache_dir, f"preprocessed/squad-{key}", build=build, offline=offline)
        return examples, squad.SquadFeatures.load(folder / "features.npz"), folder / SAMPLES_FILE

    def prepare(self, directory: Path, *, cache_dir: Path, count=None, channel_order="RGB", tokenizer_dir=None,
                dtype="float32", offline: bool = False) -> Prepared:
        examples, features, samples = self._features(directory, _required(tokenizer_dir, self.name), cache_dir,
                                                     offline)
        evaluation = SquadEvaluation(examples, features, questions="logged" if count else "dataset")
        return Prepared(directory, samples, evaluation, len(features.input_ids))

    def evaluation(self, directory: Path, *, tokenizer_dir=None, dtype="float32"):
        examples, features, _ = self._features(directory, _required(tokenizer_dir, self.name), None)
        return SquadEvaluation(examples, features)


class CnnDailyMailFormat(_OneFileFormat):
    name = "cnn-dailymail"
    real_hint = "pointing at MLPerf's cnn_eval.json and --mlperf-tokenizer-path at the model's tokenizer folder"
    FILES = ("cnn_eval.json", "*.json")
    WHAT = "cnn_eval.json"

    def read(self, path: Path):
        from .cnn_dailymail import read_cnn_eval

        return read_cnn_eval(path)

    def _examples(self, directory: Path):
        path = self.file(directory)
        return path, self.read(path)

    def prepare(self, directory: Path, *, cache_dir: Path, count=None, channel_order="RGB", tokenizer_dir=None,
                dtype="int64", max_positions: int = 0, max_new_tokens: int = 0, offline: bool = False) -> Prepared:
        from ..tasks.text_generation import pad_prompts
        from . import cnn_dailymail
        from .tokenizers import load_tokenizer

        tokenizer_dir = _required(tokenizer_dir, self.name)
        path, examples = self._examples(directory)
        key = _digest({"format": "cnn-prompts-v1", "max_positions": max_positions, "max_new_tokens": max_new_tokens},
                      path, *_tokenizer_files(tokenizer_dir))

        def samples():
            tokenizer = load_tokenizer(tokenizer_dir)
            return pad_prompts(cnn_dailymail.tokenize_prompts(examples, tokenizer, max_positions, max_new_tokens, path))

        staged = _stage(cache_dir, "cnn", key, samples, offline=offline)
        targets = cnn_dailymail.targets(examples)
        return Prepared(directory, staged, GenerationEvaluation("gptj", targets, Path(tokenizer_dir), dtype), len(targets))

    def evaluation(self, directory: Path, *, tokenizer_dir=None, dtype="int64"):
        from .cnn_dailymail import targets

        _, examples = self._examples(directory)
        return GenerationEvaluation("gptj", targets(examples), Path(_required(tokenizer_dir, self.name)), dtype)


class OpenOrcaFormat(_OneFileFormat):
    name = "open-orca"
    real_hint = "pointing at MLPerf's processed OpenOrca pickle and --mlperf-tokenizer-path at the Llama 2 tokenizer folder"
    FILES = ("open_orca.pkl", "*.pkl")
    WHAT = "OpenOrca pickle"

    def read(self, path: Path):
        from .open_orca import read_open_orca

        return read_open_orca(path)

    def prepare(self, directory: Path, *, cache_dir: Path, count=None, channel_order="RGB", tokenizer_dir=None,
                dtype="int32", max_positions: int = 0, max_new_tokens: int = 0, offline: bool = False) -> Prepared:
        from ..tasks.text_generation import pad_prompts

        path = self.file(directory)
        dataset = self.read(path)
        if max_positions:
            for row, prompt in enumerate(dataset.prompts):
                if len(prompt) + max_new_tokens > max_positions:
                    raise DatasetFormatError(
                        f"{path}: row {row} (id {dataset.ids[row]!r}): tok_input has {len(prompt)} tokens; with "
                        f"{max_new_tokens} new tokens that exceeds the model's {max_positions} positions"
                    )
        key = _digest({"format": "orca-prompts-v1"}, path)
        staged = _stage(cache_dir, "orca", key, lambda: pad_prompts(dataset.prompts), offline=offline)
        evaluation = GenerationEvaluation("llama2", list(dataset.targets), Path(_required(tokenizer_dir, self.name)), dtype)
        return Prepared(directory, staged, evaluation, len(dataset.targets))

    def evaluation(self, directory: Path, *, tokenizer_dir=None, dtype="int32"):
        dataset = self.read(self.file(directory))
        return GenerationEvaluation("llama2", list(dataset.targets), Path(_required(tokenizer_dir, self.name)), dtype)


def _required(tokenizer_dir, fmt: str) -> Path:
    if tokenizer_dir is None:
        raise DatasetFormatError(f"the {fmt} format needs a tokenizer folder (--tokenizer / --mlperf-tokenizer-path)")
    return Path(tokenizer_dir)


FORMATS = {f.name: f for f in (ImagenetFormat(), SquadFormat(), CnnDailyMailFormat(), OpenOrcaFormat())}


def dataset_format(name: str):
    try:
        return FORMATS[name]
    except KeyError:
        raise DatasetFormatError(f"unknown dataset format {name!r}; known: {', '.join(sorted(FORMATS))}") from None
