"""MLPerf's processed OpenOrca pickle, staged as its token ids: int64 [N, longest], PAD-padded."""
from __future__ import annotations

from pathlib import Path

from harness.datasets.base import DatasetFormatError, DatasetRequest, OneFileFormat, Prepared, digest, stage


class OpenOrcaFormat(OneFileFormat):
    name = "open-orca"
    real_hint = "pointing at MLPerf's processed OpenOrca pickle and --mlperf-tokenizer-path at the Llama 2 tokenizer folder"
    FILES = ("open_orca.pkl", "*.pkl")
    WHAT = "OpenOrca pickle"

    def read(self, path: Path):
        from .open_orca import read_open_orca

        return read_open_orca(path)

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        from harness.tasks.text_generation import pad_prompts

        path = self.file(directory)
        dataset = self.read(path)
        if request.max_positions:
            for row, prompt in enumerate(dataset.prompts):
                if len(prompt) + request.max_new_tokens > request.max_positions:
                    raise DatasetFormatError(
                        f"{path}: row {row} (id {dataset.ids[row]!r}): tok_input has {len(prompt)} tokens; with "
                        f"{request.max_new_tokens} new tokens that exceeds the model's {request.max_positions} positions"
                    )
        key = digest({"format": "orca-prompts-v1"}, path)
        staged = stage(request.cache_dir, "orca", key, lambda: pad_prompts(dataset.prompts), offline=request.offline)
        return Prepared(directory, staged, list(dataset.targets), len(dataset.targets))

    def ground_truth(self, directory: Path, request: DatasetRequest):
        """The reference answers (column ``output``), in row order."""
        return list(self.read(self.file(directory)).targets)
