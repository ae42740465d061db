"""Content-keyed on-disk cache of preprocessed ImageNet-layout datasets.

The key hashes what the output depends on (``val_map.txt``, every listed
image's bytes, the preprocessing parameters and the pipeline version), so an
edited image or a changed pipeline never reuses a stale array, while identical
inputs are shared by every process and session pointing at the same cache.

Building is safe under pytest-xdist: one file lock per key, a re-check after
acquiring it, and the arrays written to a temporary folder that is renamed into
place, so the final name never holds a half-written array.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from filelock import FileLock

from harness.datasets import imagenet

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
) -> tuple[Path, Path, str]:
    """Return ``(samples .npy, labels .npy, key)``, building them on a cache miss.

    The files are plain ``.npy`` so callers can ``np.load(path, mmap_mode="r")``.
    """
    key = cache_key(dataset_dir, count=count, channel_order=channel_order)
    base = Path(cache_dir) / "preprocessed"
    final = base / f"imagenet-{key[:16]}"
    samples_path, labels_path = final / SAMPLES_FILE, final / LABELS_FILE
    if _complete(final):
        return samples_path, labels_path, key

    base.mkdir(parents=True, exist_ok=True)
    with FileLock(str(base / f"imagenet-{key[:16]}.lock")):
        # Another process may have built it while we waited for the lock.
        if not _complete(final):
            _build(dataset_dir, base, final, key, count=count, channel_order=channel_order)
    return samples_path, labels_path, key


def _complete(folder: Path) -> bool:
    return (folder / SAMPLES_FILE).is_file() and (folder / LABELS_FILE).is_file()


def _build(dataset_dir, base: Path, final: Path, key: str, *, count, channel_order) -> None:
    samples, labels = imagenet.preprocess_dataset(dataset_dir, count=count, channel_order=channel_order)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=base))
    try:
        np.save(tmp / SAMPLES_FILE, samples)
        np.save(tmp / LABELS_FILE, labels)
        (tmp / "key.txt").write_text(key + "\n")
        if final.exists():  # a leftover without both arrays (e.g. emptied by hand)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
