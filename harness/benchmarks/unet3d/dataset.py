"""The KiTS19 folder MLPerf's ``preprocess.py`` writes, staged as one volume per case.

MLPerf's QSL reads ``preprocessed_files.pkl`` for the case order and
``case_XXXXX.pkl`` for each image (float32 ``(1, D, H, W)``); the volumes are
already preprocessed, so staging copies them, in list order, into the volumes
layout (harness.staging): each sample its own shape. The ground truth is the
NIfTI segmentation of each case, which ``accuracy_kits.py`` scores against.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.artifacts.cache import ensure_artifact
from harness.datasets.base import DatasetRequest, Prepared, digest, stage_volumes

from . import kits_files, layout, phantom

# Bumped whenever the staged arrays could change for the same files.
STAGING_VERSION = "1"


class _CaseImages(Sequence):
    """The case images, read from their pickles one at a time, when asked for."""

    def __init__(self, case_list: kits_files.CaseList, cases):
        self._root, self._cases = case_list.root, cases

    def __len__(self) -> int:
        return len(self._cases)

    def __getitem__(self, index):
        return kits_files.read_case_image(self._root, self._cases[index])


class KiTS19Preprocessed:
    name = "kits19"
    real_hint = ("pointing at the folder MLPerf's preprocess.py wrote (build/preprocessed_data: "
                 "preprocessed_files.pkl, case_XXXXX.pkl, nifti/case_XXXXX/segmentation.nii.gz)")

    def proxy_directory(self, bench, cache_dir: Path, *, offline: bool = False) -> Path:
        """The rendered proxy cases, preprocessed for the proxy's window (the registry's proxy task option)."""
        roi = int(bench.proxy.task_options.get("roi_size", layout.ROI_SIZE))
        name = f"datasets/{bench.proxy.dataset}-v{phantom.GENERATOR_VERSION}-roi{roi}"

        def build(tmp: Path) -> None:
            tmp.mkdir()
            phantom.render_dataset(tmp, roi)

        return ensure_artifact(cache_dir, name, build=build, offline=offline) / phantom.PREPROCESSED_DIR

    def check(self, directory: Path, count: int | None) -> None:
        case_list = kits_files.read_case_list(directory)
        kits_files.check_case_files(case_list, case_list.first(count))

    def content_files(self, directory: Path) -> list[Path]:
        """The case list, then per case its pickle and its ground-truth segmentation."""
        case_list = kits_files.read_case_list(directory)
        files = [case_list.path]
        for entry in case_list.cases:
            files.append(layout.case_pickle(case_list.root, entry.name))
            files.append(layout.segmentation_nifti(case_list.root, entry.name))
        return files

    def prepare(self, directory: Path, request: DatasetRequest) -> Prepared:
        case_list = kits_files.read_case_list(directory)
        cases = case_list.first(request.count)
        kits_files.check_case_files(case_list, cases)
        params = {"format": "kits19-preprocessed", "staging": STAGING_VERSION, "cases": len(cases)}
        key = digest(params, case_list.path, *(layout.case_pickle(case_list.root, c.name) for c in cases))
        # save_volumes walks the sequence twice (shapes, then copies): each
        # case pickle is read twice rather than every volume held at once.
        samples = stage_volumes(request.cache_dir, "kits19", key, lambda: _CaseImages(case_list, cases),
                                offline=request.offline)
        return Prepared(Path(directory), samples, kits_files.KitsTruth(case_list.path, cases), len(cases))

    def ground_truth(self, directory: Path, request: DatasetRequest) -> kits_files.KitsTruth:
        """Where each case's segmentation lies, in the case list's order (the query-sample indices)."""
        case_list = kits_files.read_case_list(directory)
        cases = case_list.first(request.count)
        kits_files.check_case_files(case_list, cases, pickles=False)  # accuracy_kits.py reads no image
        return kits_files.KitsTruth(case_list.path, cases)
