"""What MLPerf's 3d-unet reference writes and reads, by name, and its constants.

``vision/medical_imaging/3d-unet-kits19`` (mlcommons/inference): ``preprocess.py``
turns the raw KiTS19 cases into a folder holding

- ``preprocessed_files.pkl``: ``{"file_list": [case, ...], "cases": {case: aux}}``,
  where ``aux`` has ``original_affine``, ``reshaped_affine``, ``zoom_factor``,
  ``case`` and ``image_shape`` (``(1, D, H, W)``, the staged volume's shape);
  ``file_list`` order is the query-sample index order;
- ``case_XXXXX.pkl``: a pickled ``[image, label]``, float32 and uint8 ``(1, D, H, W)``;
- ``nifti/case_XXXXX/imaging.nii.gz`` and ``segmentation.nii.gz``: the same
  volumes as NIfTI with the reshaped affine; ``accuracy_kits.py`` scores
  against the segmentation.

The constants are ``global_vars.py``'s; the window (ROI) side is a task
option because the proxy uses a smaller window than the real model's 128.
"""
from __future__ import annotations

from pathlib import Path

PREPROCESSED_LIST = "preprocessed_files.pkl"
NIFTI_DIR = "nifti"
IMAGING_NIFTI = "imaging.nii.gz"
SEGMENTATION_NIFTI = "segmentation.nii.gz"

MEAN_VAL = 101.0
STDDEV_VAL = 76.9
MIN_CLIP_VAL = -79.0
MAX_CLIP_VAL = 304.0
PADDING_VAL = -2.2  # in normalised units: what the volumes are padded with
TARGET_SPACING = (1.6, 1.2, 1.2)  # mm per voxel axis after resampling
ROI_SIZE = 128  # the real model's window side (ROI_SHAPE = [128, 128, 128])
SLIDE_OVERLAP_FACTOR = 0.5
# sigma of the importance window as a fraction of its side (inference_utils.prepare_arrays)
GAUSSIAN_SIGMA_SCALE = 0.125

CLASSES = ("background", "kidney", "tumor")
BACKGROUND, KIDNEY, TUMOUR = 0, 1, 2


def case_pickle(directory: Path, case: str) -> Path:
    return Path(directory) / f"{case}.pkl"


def segmentation_nifti(directory: Path, case: str) -> Path:
    return Path(directory) / NIFTI_DIR / case / SEGMENTATION_NIFTI


def imaging_nifti(directory: Path, case: str) -> Path:
    return Path(directory) / NIFTI_DIR / case / IMAGING_NIFTI


def strides(roi_size: int, overlap: float = SLIDE_OVERLAP_FACTOR) -> int:
    """The window step: ``int(roi * (1 - overlap))``, as the reference computes it."""
    return int(roi_size * (1 - overlap))
