"""CLIP score and FID of an SDXL accuracy log, printed as MLPerf's ``accuracy_coco.py`` prints them.

As the script: each entry's ``data`` is one picture's bytes in hex, uint8
[H, W, 3] (1024 x 1024 for MLPerf's model; here the side follows from the
byte count, every picture the same); a ``qsl_idx`` seen before is skipped;
the caption is row ``qsl_idx`` of captions.tsv. The CLIP score is the mean
of ``100 * cos`` over the pictures, FID the Frechet distance of their pool
features to the reference statistics (metrics.py). The pictures of sample 0
and of the sample ids (captions.py) are saved as ``images/<qsl_idx>.png``
beside the log, as the script's ``--compliance-images-path`` and the
checker ask. The printed line is the script's:
``Accuracy Results: {'FID_SCORE': ..., 'CLIP_SCORE': ...}``.

The feature extractors are the proxy's (features.py, ``proxy/``): MLPerf's
open_clip ViT-B/32 and Inception-v3 weights and its ``val2014.npz`` cannot
be had here, so the figures of another model on the real captions are not
comparable with MLPerf's 31.75 / 23.48; the second line of accuracy.txt says so.

An accuracy run answers every caption (unless ``subset``, a run over the
first N with --mlperf-count); anything the script would trip over is an
``AccuracyLogError`` naming the file and the entry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.accuracy.scoring import Scored
from harness.metrics.accuracy_log import AccuracyLogError, read_accuracy_log, sample_index

from . import metrics
from .dataset import CaptionTruth

CLIP_METRIC, FID_METRIC = "CLIP_SCORE", "FID_SCORE"
PROXY_DIR = Path(__file__).resolve().parent / "proxy"
CLIP_FILE, FID_FILE, STATISTICS_FILE = "clip_score.pt", "fid_features.pt", "fid_statistics.npz"
IMAGES_DIR = "images"
NOTE = ("CLIP score and FID computed with the proxy's feature extractors (proxy/clip_score.pt, "
        "proxy/fid_features.pt, proxy/fid_statistics.npz), not open_clip ViT-B/32, Inception-v3 and val2014.npz")


@dataclass(frozen=True)
class SdxlSummary:
    fid: float
    clip: float
    count: int
    saved: tuple[int, ...]  # the qsl_idx of the pictures saved

    def official_line(self) -> str:
        return metrics.official_line(self.fid, self.clip)


class Extractors:
    """The CLIP and FID feature extractors and the reference statistics, loaded once."""

    def __init__(self, folder: Path = PROXY_DIR):
        import torch

        from .clip_tokenizer import score_tokenizer
        from .features import TinyClip, TinyInception
        from .scene import ATTRIBUTE_CLASSES

        folder = Path(folder)
        self.clip = TinyClip().eval()
        self.clip.load_state_dict(torch.load(folder / CLIP_FILE, weights_only=True, map_location="cpu"))
        self.inception = TinyInception(ATTRIBUTE_CLASSES).eval()
        self.inception.load_state_dict(torch.load(folder / FID_FILE, weights_only=True, map_location="cpu"))
        with np.load(folder / STATISTICS_FILE) as stats:
            self.mu, self.sigma = stats["mu"][:], stats["sigma"][:]
        self.tokenizer = score_tokenizer(folder)

    def clip_scores(self, images: list[np.ndarray], texts: list[str]) -> np.ndarray:
        import torch

        from .clip_tokenizer import token_ids
        from .features import clip_pixels

        with torch.inference_mode():
            image_features = self.clip.encode_image(clip_pixels(images)).float().numpy()
            ids = torch.from_numpy(token_ids(self.tokenizer, texts))
            text_features = self.clip.encode_text(ids).float().numpy()
        return metrics.clip_scores(image_features, text_features)

    def pool_features(self, images: list[np.ndarray]) -> np.ndarray:
        import torch

        from .features import fid_pixels

        with torch.inference_mode():
            return self.inception.pool_features(fid_pixels(images)).numpy().astype(np.float64)

    def fid(self, images: list[np.ndarray]) -> float:
        mu, sigma = metrics.activation_statistics(self.pool_features(images))
        return metrics.frechet_distance(self.mu, self.sigma, mu, sigma)  # compute_fid's order: reference first


_EXTRACTORS: dict[Path, Extractors] = {}


def extractors(folder: Path = PROXY_DIR) -> Extractors:
    folder = Path(folder).resolve()
    if folder not in _EXTRACTORS:
        _EXTRACTORS[folder] = Extractors(folder)
    return _EXTRACTORS[folder]


class ClipFidScorer:
    def __init__(self, truth: CaptionTruth, *, dtype: str = "uint8", tokenizer_dir=None, subset: bool = False,
                 extractors_dir: Path = PROXY_DIR):
        if dtype != "uint8":
            raise AccuracyLogError(f"response dtype {dtype!r}: accuracy_coco.py decodes uint8 pictures only")
        self.truth, self.subset, self.extractors_dir = truth, bool(subset), Path(extractors_dir)

    def pictures(self, log_path: Path) -> dict[int, np.ndarray]:
        """qsl_idx -> uint8 [H, W, 3], the first entry of each, in log order."""
        log_path = Path(log_path)
        entries = read_accuracy_log(log_path)
        if not entries:
            raise AccuracyLogError(f"{log_path}: holds no entries; expected one picture per caption")
        total = len(self.truth)
        found: dict[int, np.ndarray] = {}
        side = None
        for position, entry in enumerate(entries):
            where = f"{log_path}: entry {position}"
            index = sample_index(entry, where, total, f"the {total} captions of {self.truth.path}")
            if index in found:
                continue  # accuracy_coco.py: `if idx in seen: continue`
            try:
                data = bytes.fromhex(entry["data"])
            except (ValueError, TypeError) as exc:
                raise AccuracyLogError(f"{where} (qsl_idx {index}): data is not hex: {exc}") from None
            pixels = len(data) // 3
            this_side = math.isqrt(pixels)
            if not data or len(data) != 3 * this_side * this_side:
                raise AccuracyLogError(f"{where} (qsl_idx {index}): {len(data)} bytes; expected a square uint8 "
                                       "RGB picture, 3 x side x side bytes (1024 x 1024 for MLPerf's model)")
            if side is not None and this_side != side:
                raise AccuracyLogError(f"{where} (qsl_idx {index}): a {this_side}x{this_side} picture; the first "
                                       f"was {side}x{side}")
            side = this_side
            found[index] = np.frombuffer(data, np.uint8).reshape(side, side, 3)
        if not self.subset and len(found) != total:
            missing = sorted(set(range(total)) - set(found))
            shown = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise AccuracyLogError(f"{log_path}: answers {len(found)} of the {total} captions; missing qsl_idx {shown}")
        return found

    def save_pictures(self, pictures: dict[int, np.ndarray], folder: Path) -> tuple[int, ...]:
        """``images/<qsl_idx>.png`` for sample 0 and the sample ids that were answered."""
        from PIL import Image

        wanted = [0] + [i for i in self.truth.sample_ids if i != 0]
        saved = tuple(i for i in wanted if i in pictures)
        if saved:
            folder.mkdir(parents=True, exist_ok=True)
            for index in saved:
                Image.fromarray(pictures[index]).save(folder / f"{index}.png")
        return saved

    def summary(self, log_path: Path) -> SdxlSummary:
        pictures = self.pictures(log_path)
        order = list(pictures)
        images = [pictures[i] for i in order]
        texts = [self.truth.captions[i] for i in order]
        tools = extractors(self.extractors_dir)
        clip = float(np.mean(tools.clip_scores(images, texts)))
        fid = tools.fid(images)
        saved = self.save_pictures(pictures, Path(log_path).parent / IMAGES_DIR)
        return SdxlSummary(fid, clip, len(images), saved)

    def score(self, log_path: Path) -> Scored:
        result = self.summary(log_path)
        return Scored({CLIP_METRIC: result.clip, FID_METRIC: result.fid}, (result.official_line(), NOTE),
                      result.count, len(self.truth), (NOTE,))
