"""The COCO-2014 caption folder (captions.py), staged as MLPerf's QSL hands samples to its SUT.

MLPerf's ``coco.py`` tokenizes every caption with both of the pipeline's
tokenizers (padded to 77) and hands the SUT each row with the shared
latent; its SUT tokenizes the negative prompt once. Staged here, one
float32 row per caption (``STAGED_LAYOUT``): the caption's ids from
tokenizer and tokenizer_2, the negative prompt's from both (token ids are
exact in float32 below 2^24; CLIP's vocabulary has 49,408), then the latent.
The ground truth is the captions themselves (the CLIP score compares with
them) and the sample ids of the pictures to save.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.artifacts.cache import ensure_artifact
from harness.datasets.base import DatasetFormatError, DatasetRequest, Prepared, digest, stage

from . import captions as layout
from .clip_tokenizer import CONTEXT_LENGTH, PIPELINE_FOLDERS, pipeline_tokenizers, token_ids

STAGING_VERSION = "1"
STAGE_PREFIX = "coco2014-sdxl"
# MLPerf's negative prompt (backend_pytorch.py), the task option's default.
NEGATIVE_PROMPT = "normal quality, low quality, worst quality, low res, blurry, nsfw, nude"
# What one staged row holds, in order: (name, values).
STAGED_LAYOUT = ("input_ids", "input_ids_2", "negative_input_ids", "negative_input_ids_2")
TOKEN_VALUES = len(STAGED_LAYOUT) * CONTEXT_LENGTH


@dataclass(frozen=True)
class CaptionTruth:
    """What accuracy_coco.py reads besides the log: the captions by qsl_idx, and which pictures to save."""
    path: Path  # captions.tsv
    captions: tuple[str, ...]
    sample_ids: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.captions)


def _tokenizer_files(folder: Path) -> list[Path]:
    """The files the staged ids depend on: the vocabulary, or both pipeline tokenizer folders' files."""
    folder = Path(folder)
    if all((folder / name).is_dir() for name in PIPELINE_FOLDERS):
        return sorted(f for name in PIPELINE_FOLDERS for f in (folder / name).iterdir() if f.is_file())
    return sorted(f for f in folder.iterdir() if f.is_file() and f.name in ("vocab.json", "merges.txt"))


def staged_rows(rows, latents: np.ndarray, tokenizers, negative_prompt: str) -> np.ndarray:
    """float32 [N, 4 * 77 + latent size] (module doc)."""
    texts = [row.caption for row in rows]
    first, second = tokenizers
    ids = token_ids(first, texts), token_ids(second, texts)
    negative = token_ids(first, [negative_prompt]), token_ids(second, [negative_prompt])
    n = len(texts)
    flat_latent = latents.reshape(-1)
    out = np.empty((n, TOKEN_VALUES + flat_latent.size), np.float32)
    for k, block in enumerate((ids[0], ids[1], np.repeat(negative[0], n, 0), np.repeat(negative[1], n, 0))):
        out[:, k * CONTEXT_LENGTH:(k + 1) * CONTEXT_LENGTH] = block
    out[:, TOKEN_VALUES:] = flat_latent
    return out


class Coco2014Captions:
    name = "coco2014-captions"
    real_hint = f"pointing at MLPerf's COCO-2014 caption folder (text_to_image/coco2014: {layout.LAYOUT})"

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        from . import proxy_data, scene

        name = f"datasets/{bench.proxy.dataset}-v{scene.GENERATOR_VERSION}"
        return ensure_artifact(cache_dir, name, build=proxy_data.render_dataset, offline=offline)

    def check(self, directory: Path, count: int | None) -> None:
        caption_set = layout.read_captions(directory)
        caption_set.first(count)
        layout.read_latents(caption_set.root)

    def content_files(self, directory: Path) -> list[Path]:
        caption_set = layout.read_captions(directory)
        return [caption_set.path, layout.latents_path(caption_set.root)]

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        if request.cache_dir is None:
            raise DatasetFormatError(f"{directory}: staging needs a cache folder (DatasetRequest.cache_dir is None)")
        if request.tokenizer_dir is None:
            raise DatasetFormatError("the coco2014-captions format tokenizes with the pipeline's two CLIP tokenizers: "
                                     "pass the model's tokenizer folder (--mlperf-tokenizer-path)")
        caption_set = layout.read_captions(directory)
        rows = caption_set.first(request.count)
        image_size = request.task_options.get("image_size")
        latents = layout.read_latents(caption_set.root, image_size)
        tokenizers = pipeline_tokenizers(request.tokenizer_dir)
        negative = str(request.task_options.get("negative_prompt", NEGATIVE_PROMPT))
        params = {"format": self.name, "staging": STAGING_VERSION, "count": len(rows), "negative_prompt": negative}
        key = digest(params, caption_set.path, layout.latents_path(caption_set.root),
                     *_tokenizer_files(request.tokenizer_dir))
        samples = stage(request.cache_dir, STAGE_PREFIX, key,
                        lambda: staged_rows(rows, latents, tokenizers, negative), offline=request.offline)
        return Prepared(caption_set.root, samples, self._truth(caption_set, rows), len(rows))

    def ground_truth(self, directory: Path, request: DatasetRequest) -> CaptionTruth:
        """The captions alone: the accuracy script reads no picture and no latent."""
        caption_set = layout.read_captions(directory)
        return self._truth(caption_set, caption_set.first(request.count))

    @staticmethod
    def _truth(caption_set: layout.CaptionSet, rows) -> CaptionTruth:
        return CaptionTruth(caption_set.path, tuple(row.caption for row in rows), layout.sample_ids(caption_set.root))
