"""The OpenImages MLPerf layout, staged as MLPerf's retinanet preprocessing makes it.

Layout, query-sample order and category ids: annotations.py; preprocessing:
preprocess.py; the proxy dataset: proxy_shapes.py.
"""
from __future__ import annotations

from pathlib import Path

from harness.artifacts.cache import ensure_artifact
from harness.datasets.base import DatasetFormatError, DatasetRequest, Prepared, digest, stage

from .annotations import (LAYOUT, annotation_path, check_images_exist, first, image_entries, image_path,
                          read_annotations)
from .truth import DetectionTruth

STAGE_PREFIX = "openimages-retinanet"


class OpenImagesFormat:
    name = "openimages-mlperf"
    real_hint = f"pointing at the OpenImages MLPerf folder (accuracy-openimages.py's --openimages-dir): {LAYOUT}"

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        from . import proxy_shapes

        name = f"datasets/{bench.proxy.dataset}-v{proxy_shapes.GENERATOR_VERSION}"
        return ensure_artifact(cache_dir, name, build=lambda tmp: proxy_shapes.render_dataset(tmp), offline=offline)

    def _listed(self, directory: Path, count: int | None):
        path = annotation_path(directory)
        entries = image_entries(read_annotations(path))
        return path, entries, first(entries, count, path)

    def check(self, directory: Path, count: int | None) -> None:
        """The annotation file parses and every image a run would read is there."""
        path, _, used = self._listed(directory, count)
        check_images_exist(self._root(directory, path), used, path)

    @staticmethod
    def _root(directory: Path, path: Path) -> Path:
        # Given the annotation file itself, the dataset root is two levels up.
        return path.parents[1] if Path(directory).is_file() else Path(directory)

    def content_files(self, directory: Path) -> list[Path]:
        """The annotation file, then every image it lists, in its order."""
        path, entries, _ = self._listed(directory, None)
        root = self._root(directory, path)
        return [path] + [image_path(root, entry) for entry in entries]

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        from .preprocess import INPUT_SIZE, PIPELINE_VERSION, preprocess_files

        if request.cache_dir is None:
            raise DatasetFormatError(f"{directory}: staging needs a cache folder (DatasetRequest.cache_dir is None)")
        path, entries, used = self._listed(directory, request.count)
        files = check_images_exist(self._root(directory, path), used, path)
        params = {"pipeline": PIPELINE_VERSION, "size": INPUT_SIZE, "channel_order": request.channel_order,
                  "count": len(used)}
        key = digest(params, path, *files)
        samples = stage(request.cache_dir, STAGE_PREFIX, key,
                        lambda: preprocess_files(files, channel_order=request.channel_order), offline=request.offline)
        return Prepared(Path(directory), samples, DetectionTruth(path, entries, len(used)), len(used))

    def ground_truth(self, directory: Path, request: DatasetRequest) -> DetectionTruth:
        """The annotation file and its image list: the accuracy script needs no image file."""
        path, entries, used = self._listed(directory, request.count)
        return DetectionTruth(path, entries, len(used))
