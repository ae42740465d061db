"""Content-keyed on-disk cache of preprocessed ImageNet-layout datasets.

The key hashes what the output depends on (``val_map.txt``, every listed
image's bytes, the preprocessing parameters and the pipeline version), so an
edited image or a changed pipeline never reuses a stale array, while identical
inputs are shared by every process and session pointing at the same cache.

The entry is built through ``harness.artifacts.cache.ensure_artifact``: one
file lock per key, a temporary folder renamed into place (the final name never
holds a half-written array), and a manifest checked on every use, so arrays
truncated or altered in place after the build are caught and rebuilt (or, with
``offline=True``, reported) instead of being fed to a model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from harness.artifacts.cache import ensure_artifact
from . import imagenet

SAMPLES_FILE = "samples.npy"
LABELS_FILE = "labels.npy"


def cache_key(dataset_dir: str | Path, *, count: int | None = None, channel_order: str = "RGB") -> str:
    """sha256 hex digest identifying the preprocessed output for these inputs."""
    root = Path(dataset_dir)
    entries = imagenet.read_val_map(root, count)  # validates the layout first
    params = {
        "pipeline": imagenet.PIPELINE_VERSION,
        "count": len(entries),
        "channel_order": channel_order,
        "output_size": imagenet.OUTPUT_SIZE,
        "resize_short_side": imagenet.RESIZE_SHORT_SIDE,
        "mean_rgb": [float(m) for m in imagenet.MEAN_RGB],
        "dtype": "float32",
        "layout": "NCHW",
    }
    h = hashlib.sha256()
    h.update(json.dumps(params, sort_keys=True).encode())
    h.update((root / imagenet.VAL_MAP).read_bytes())
    for name, _ in entries:
        # Length-prefix each file so concatenations cannot collide.
        data = (root / name).read_bytes()
        h.update(f"\n{name}\n{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()


def load_or_build(
    dataset_dir: str | Path,
    cache_dir: str | Path,
    *,
    count: int | None = None,
    channel_order: str = "RGB",
    offline: bool = False,
) -> tuple[Path, Path, str]:
    """Return ``(samples .npy, labels .npy, key)``, building them on a cache miss.

    The files are plain ``.npy`` so callers can ``np.load(path, mmap_mode="r")``.
    A staged entry that fails its manifest check is rebuilt; with ``offline``
    it raises ``CacheEntryInvalid`` naming the entry and what differed.
    """
    key = cache_key(dataset_dir, count=count, channel_order=channel_order)

    def build(tmp: Path) -> None:
        samples, labels = imagenet.preprocess_dataset(dataset_dir, count=count, channel_order=channel_order)
        tmp.mkdir()
        np.save(tmp / SAMPLES_FILE, samples)
        np.save(tmp / LABELS_FILE, labels)
        (tmp / "key.txt").write_text(key + "\n")

    final = ensure_artifact(cache_dir, f"preprocessed/imagenet-{key[:16]}", build=build, offline=offline)
    return final / SAMPLES_FILE, final / LABELS_FILE, key
