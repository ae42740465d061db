"""MLPerf's cnn_eval.json (CNN-DailyMail), staged as tokenized prompts: int64 [N, longest], PAD-padded."""
from __future__ import annotations

from pathlib import Path

from harness.datasets.base import (
    DatasetRequest, OneFileFormat, Prepared, digest, required_tokenizer, stage, tokenizer_files,
)


class CnnDailyMailFormat(OneFileFormat):
    name = "cnn-dailymail"
    real_hint = "pointing at MLPerf's cnn_eval.json and --mlperf-tokenizer-path at the model's tokenizer folder"
    FILES = ("cnn_eval.json", "*.json")
    WHAT = "cnn_eval.json"

    def read(self, path: Path):
        from .cnn_dailymail import read_cnn_eval

        return read_cnn_eval(path)

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        from harness.datasets.tokenizers import load_tokenizer
        from harness.tasks.text_generation import pad_prompts

        from . import cnn_dailymail

        tokenizer_dir = required_tokenizer(request, self.name)
        path = self.file(directory)
        examples = self.read(path)
        key = digest({"format": "cnn-prompts-v1", "max_positions": request.max_positions,
                      "max_new_tokens": request.max_new_tokens}, path, *tokenizer_files(tokenizer_dir))

        def samples():
            tokenizer = load_tokenizer(tokenizer_dir)
            return pad_prompts(cnn_dailymail.tokenize_prompts(examples, tokenizer, request.max_positions,
                                                              request.max_new_tokens, path))

        staged = stage(request.cache_dir, "cnn", key, samples, offline=request.offline)
        targets = cnn_dailymail.targets(examples)
        return Prepared(directory, staged, targets, len(targets))

    def ground_truth(self, directory: Path, request: DatasetRequest):
        """The reference summaries, in record order."""
        from .cnn_dailymail import targets

        return targets(self.read(self.file(directory)))
