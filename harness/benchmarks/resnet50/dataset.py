"""The ImageNet validation layout (val_map.txt and JPEG files), staged as MLPerf preprocesses it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.artifacts.cache import ensure_artifact
from harness.datasets.base import DatasetRequest, Prepared


class ImagenetFormat:
    name = "imagenet"
    real_hint = "pointing at the validation set (val_map.txt and the JPEG files)"

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        from harness.proxies import digits_imagenet

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

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        from .preprocessed import load_or_build

        samples, labels, _ = load_or_build(directory, request.cache_dir, count=request.count,
                                           channel_order=request.channel_order, offline=request.offline)
        labels = np.load(labels)
        return Prepared(directory, samples, labels, len(labels))

    def ground_truth(self, directory: Path, request: DatasetRequest):
        """The labels, in val_map.txt's line order (the query-sample indices)."""
        from .imagenet import read_val_map

        return [label for _, label in read_val_map(directory, check_images=False)]
