"""SQuAD v1.1 (dev-v1.1.json), staged as MLPerf's BERT features: int64 [N, 3, 384]."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.artifacts.cache import ensure_artifact
from harness.datasets.base import (
    DatasetRequest, OneFileFormat, Prepared, digest, required_tokenizer, tokenizer_files,
)
from harness.staging import SAMPLES_FILE


class SquadFormat(OneFileFormat):
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
        key = digest({"format": "squad-features-v1"}, path, *tokenizer_files(tokenizer_dir))

        def build(tmp: Path) -> None:
            tmp.mkdir()
            features = squad.build_features(examples, tokenizer)
            features.save(tmp / "features.npz")
            np.save(tmp / SAMPLES_FILE, squad.stack_samples(features))

        folder = ensure_artifact(cache_dir, f"preprocessed/squad-{key}", build=build, offline=offline)
        return examples, squad.SquadFeatures.load(folder / "features.npz"), folder / SAMPLES_FILE

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        examples, features, samples = self._features(directory, required_tokenizer(request, self.name),
                                                     request.cache_dir, request.offline)
        return Prepared(directory, samples, (examples, features), len(features.input_ids))

    def ground_truth(self, directory: Path, request: DatasetRequest):
        """(examples, features): the questions and their doc-stride windows, in feature order."""
        examples, features, _ = self._features(directory, required_tokenizer(request, self.name), None)
        return examples, features
