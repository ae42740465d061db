"""Reading and checking the folder MLPerf's KiTS19 ``preprocess.py`` writes (see ``layout``).

Every problem is a ``DatasetFormatError`` naming the file and what was
expected, found before any long work where it can be: the case list and
every NIfTI header are checked up front (headers are a few hundred bytes);
the volumes themselves are read one at a time when staged or scored.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError, find_file

from . import kits_pickle, layout

# A NIfTI header stores spacings as float32: 1.6 comes back as 1.6000000238.
SPACING_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class CaseEntry:
    name: str  # "case_00042"
    shape: tuple[int, int, int]  # D, H, W: ``image_shape`` without its channel axis


@dataclass(frozen=True)
class CaseList:
    path: Path  # preprocessed_files.pkl
    cases: tuple[CaseEntry, ...]  # in file_list order: the query-sample indices

    @property
    def root(self) -> Path:
        return self.path.parent

    def first(self, count: int | None) -> tuple[CaseEntry, ...]:
        if count is None:
            return self.cases
        if count < 1:
            raise DatasetFormatError(f"{self.path}: count must be a positive number of cases, got {count}")
        if count > len(self.cases):
            raise DatasetFormatError(f"{self.path}: count={count} but the file lists only {len(self.cases)} cases")
        return self.cases[:count]


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def read_case_list(directory: Path) -> CaseList:
    """``preprocessed_files.pkl`` of ``directory`` (or that file itself), checked entry by entry."""
    path = find_file(Path(directory), (layout.PREPROCESSED_LIST,), "KiTS19 case list of MLPerf's preprocess.py")
    what = "the dict {'file_list': [case, ...], 'cases': {case: aux}} that MLPerf's preprocess.py writes"
    content = kits_pickle.load(path, what)
    if not isinstance(content, dict) or not {"file_list", "cases"} <= set(content):
        keys = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
        raise DatasetFormatError(f"{path}: holds {keys}; expected {what}")
    file_list, auxes = content["file_list"], content["cases"]
    if not isinstance(file_list, (list, tuple)) or not file_list:
        raise DatasetFormatError(f"{path}: 'file_list' is {type(file_list).__name__} {file_list!r:.80}; "
                                 "expected a non-empty list of case names")
    if not isinstance(auxes, dict):
        raise DatasetFormatError(f"{path}: 'cases' is {type(auxes).__name__}; expected a dict of case name -> aux")
    entries, seen = [], {}
    for position, case in enumerate(file_list):
        where = f"{path}: file_list[{position}]"
        if not isinstance(case, str) or not case or "/" in case or case.startswith("."):
            raise DatasetFormatError(f"{where} is {case!r}; expected a case name such as 'case_00000'")
        if case in seen:
            raise DatasetFormatError(f"{where} lists {case} again (first at file_list[{seen[case]}]); "
                                     "expected each case once")
        seen[case] = position
        aux = auxes.get(case)
        if not isinstance(aux, dict):
            raise DatasetFormatError(f"{where} lists {case}, but 'cases' has no aux dict for it "
                                     f"(expected one per listed case, as preprocess.py saves them)")
        shape = aux.get("image_shape")
        if (not isinstance(shape, (tuple, list)) or len(shape) != 4 or shape[0] != 1
                or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape)):
            raise DatasetFormatError(f"{path}: cases[{case!r}]['image_shape'] is {shape!r}; "
                                     "expected (1, D, H, W), the preprocessed image's shape")
        entries.append(CaseEntry(case, tuple(int(d) for d in shape[1:])))
    return CaseList(path=path, cases=tuple(entries))


def check_segmentation_header(path: Path, entry: CaseEntry):
    """The NIfTI image of ``path`` when its header is what the scorer needs; else the error."""
    import nibabel

    if not path.is_file():
        raise DatasetFormatError(f"{path}: missing (expected the ground truth of {entry.name}, written by "
                                 "MLPerf's preprocess.py under nifti/<case>/)")
    try:
        image = nibabel.load(path)
    except Exception as exc:  # nibabel raises several classes for a damaged file
        raise DatasetFormatError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    shape = tuple(int(d) for d in image.shape)
    if shape != entry.shape:
        raise DatasetFormatError(f"{path}: segmentation is {_shape_text(shape)}; expected {_shape_text(entry.shape)}, "
                                 f"the image_shape the case list records for {entry.name}")
    dtype = np.dtype(image.get_data_dtype())
    if dtype.kind not in "ui":
        raise DatasetFormatError(f"{path}: stores {dtype} voxels; expected integer labels (preprocess.py writes uint8: "
                                 "0 background, 1 kidney, 2 tumor)")
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    if any(abs(z - t) > SPACING_TOLERANCE_MM for z, t in zip(zooms, layout.TARGET_SPACING)):
        raise DatasetFormatError(
            f"{path}: voxel spacing {'x'.join(f'{z:g}' for z in zooms)} mm; expected the preprocessed spacing "
            f"{'x'.join(f'{t:g}' for t in layout.TARGET_SPACING)} mm "
            "(a raw KiTS19 case rather than preprocess.py's output?)")
    return image


def read_segmentation(path: Path, entry: CaseEntry) -> np.ndarray:
    """The uint8 labels [D, H, W] of one case, each 0, 1 or 2."""
    image = check_segmentation_header(path, entry)
    labels = np.asanyarray(image.dataobj)
    top = labels.max(initial=0)
    if labels.min(initial=0) < 0 or top > layout.TUMOUR or not np.array_equal(labels, np.rint(labels)):
        bad = labels[(labels < 0) | (labels > layout.TUMOUR) | (labels != np.rint(labels))].flat[0]
        raise DatasetFormatError(f"{path}: holds the label value {bad}; expected only 0 (background), "
                                 "1 (kidney) and 2 (tumor)")
    return np.ascontiguousarray(labels, dtype=np.uint8)


def read_case_image(root: Path, entry: CaseEntry) -> np.ndarray:
    """The preprocessed image float32 [1, D, H, W] of ``case_XXXXX.pkl``."""
    path = layout.case_pickle(root, entry.name)
    what = f"the pickled [image, label] of {entry.name} (float32 and uint8, (1, D, H, W))"
    content = kits_pickle.load(path, what)
    if not isinstance(content, (list, tuple)) or len(content) < 1 or not isinstance(content[0], np.ndarray):
        raise DatasetFormatError(f"{path}: holds {type(content).__name__}; expected {what}")
    image = content[0]
    expected = (1, *entry.shape)
    if image.dtype != np.float32:
        raise DatasetFormatError(f"{path}: the image is {image.dtype}; expected float32 (as preprocess.py saves it)")
    if image.shape != expected:
        raise DatasetFormatError(f"{path}: the image is {_shape_text(image.shape)}; expected {_shape_text(expected)}, "
                                 f"the image_shape the case list records for {entry.name}")
    if not np.isfinite(image).all():
        raise DatasetFormatError(f"{path}: the image holds NaN or infinite values; expected normalised intensities")
    return image


def check_case_files(case_list: CaseList, cases: tuple[CaseEntry, ...], *, pickles: bool = True) -> None:
    """Every listed case has a ground truth whose header fits, and (``pickles``) its image pickle."""
    for entry in cases:
        pickle_path = layout.case_pickle(case_list.root, entry.name)
        if pickles and not pickle_path.is_file():
            raise DatasetFormatError(f"{pickle_path}: missing; {case_list.path} lists {entry.name} "
                                     "(expected its preprocessed case_XXXXX.pkl beside the list)")
        check_segmentation_header(layout.segmentation_nifti(case_list.root, entry.name), entry)


@dataclass(frozen=True)
class KitsTruth:
    """Ground truth of the scored cases: where each segmentation lies and its shape.

    Paths, not arrays: MLPerf's real cases are tens of MB each, so they are
    read one at a time while scoring.
    """
    list_file: Path
    cases: tuple[CaseEntry, ...]  # query-sample index order

    def __len__(self) -> int:
        return len(self.cases)

    def segmentation_path(self, index: int) -> Path:
        return layout.segmentation_nifti(self.list_file.parent, self.cases[index].name)

    def segmentation(self, index: int) -> np.ndarray:
        return read_segmentation(self.segmentation_path(index), self.cases[index])
