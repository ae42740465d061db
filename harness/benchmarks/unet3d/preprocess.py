"""MLPerf's KiTS19 preprocessing (``preprocess.py`` of the 3d-unet reference), step by step.

Per case: read ``imaging.nii.gz`` and ``segmentation.nii.gz`` with nibabel,
resample both to the common spacing (1.6, 1.2, 1.2) mm (linear for the
image, nearest for the labels, ``scipy.ndimage.zoom`` with the reference's
arguments), clip the image to [-79, 304] HU and normalise with mean 101.0 and
std 76.9, edge-pad every side shorter than the window, then crop or pad so a
window stepping by half its side tiles the volume exactly: a remainder under
half a step is cropped, a larger one padded (image with -2.2, labels with 0).
The results are written as the reference writes them (``layout``).

The window side is a parameter: the real model's is 128, the proxy's 32.
Everything here is deterministic (no randomness, fixed pickle protocol).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from . import layout

# The reference calls pickle.dump without a protocol: Python 3.8+'s default, 4.
PICKLE_PROTOCOL = 4


def load_and_resample(case_dir: Path, target_spacing=layout.TARGET_SPACING):
    """``(image [1,D,H,W] float32, label [1,D,H,W] uint8, aux)`` on the target spacing."""
    import nibabel
    from scipy.ndimage import zoom

    case_dir = Path(case_dir)
    image_file = nibabel.load(case_dir / layout.IMAGING_NIFTI)
    label_file = nibabel.load(case_dir / layout.SEGMENTATION_NIFTI)
    spacings = image_file.header["pixdim"][1:4].tolist()
    original_affine = image_file.affine
    image = image_file.get_fdata().astype(np.float32)
    label = label_file.get_fdata().astype(np.uint8)

    target = np.array(target_spacing)
    zoom_factor = np.array(spacings) / target
    # The reshaped affine keeps each axis's direction and sets its step to the
    # target spacing of the voxel axis it maps (the non-zero column of the row).
    reshaped_affine = original_affine.copy()
    for row in range(3):
        column = np.where(original_affine[row][:-1] != 0)
        sign = -1 if original_affine[row][column] < 0 else 1
        reshaped_affine[row][column] = target[column] * sign
    # The reference compares the header's float32 spacings, as Python floats,
    # with the target list: equal only when stored exactly, else it resamples.
    if spacings != list(target_spacing):
        image = zoom(image, zoom_factor, order=1, mode="constant", cval=image.min(), grid_mode=False)
        label = zoom(label, zoom_factor, order=0, mode="constant", cval=label.min(), grid_mode=False)
    aux = {
        "original_affine": original_affine,
        "reshaped_affine": reshaped_affine,
        "zoom_factor": zoom_factor,
        "case": case_dir.name,
    }
    return image[np.newaxis], label[np.newaxis], aux


def normalize_intensity(image: np.ndarray) -> np.ndarray:
    image = np.clip(image, layout.MIN_CLIP_VAL, layout.MAX_CLIP_VAL)
    return (image - layout.MEAN_VAL) / layout.STDDEV_VAL


def pad_to_min_shape(image: np.ndarray, label: np.ndarray, roi_size: int):
    """Edge-pad each side shorter than the window up to it, split as the reference splits it."""
    short = [max(0, roi_size - side) for side in image.shape[1:]]
    paddings = [(0, 0)] + [(s // 2, s - s // 2) for s in short]
    return np.pad(image, paddings, mode="edge"), np.pad(label, paddings, mode="edge")


def constant_pad_volume(volume: np.ndarray, roi_size: int, stride: int, value: float) -> np.ndarray:
    """Pad to a whole number of steps, and to at least the window, with ``value``."""
    bounds = [(stride - side % stride) % stride for side in volume.shape[1:]]
    bounds = [b if side + b >= roi_size else b + stride for side, b in zip(volume.shape[1:], bounds)]
    paddings = [(0, 0)] + [(b // 2, b - b // 2) for b in bounds]
    return np.pad(volume, paddings, mode="constant", constant_values=[value])


def adjust_shape_for_sliding_window(image: np.ndarray, label: np.ndarray, roi_size: int,
                                    overlap: float = layout.SLIDE_OVERLAP_FACTOR):
    """Crop a remainder under half a step, then pad to whole steps (image -2.2, labels 0)."""
    stride = layout.strides(roi_size, overlap)
    shape = image.shape[1:]
    crop = [side % stride for side in shape]
    crop = [c if c < stride // 2 else 0 for c in crop]
    window = (Ellipsis,) + tuple(slice(c // 2, side - (c - c // 2)) for c, side in zip(crop, shape))
    image, label = image[window], label[window]
    image = constant_pad_volume(image, roi_size, stride, layout.PADDING_VAL)
    label = constant_pad_volume(label, roi_size, stride, 0)
    return image, label


def preprocess_case(case_dir: Path, roi_size: int, overlap: float = layout.SLIDE_OVERLAP_FACTOR):
    """One raw KiTS19 case folder -> ``(image, label, aux)`` as ``Preprocessor.preprocess_case``."""
    image, label, aux = load_and_resample(case_dir)
    image = normalize_intensity(image.copy())
    image, label = pad_to_min_shape(image, label, roi_size)
    image, label = adjust_shape_for_sliding_window(image, label, roi_size, overlap)
    image, label = image.astype(np.float32), label.astype(np.uint8)
    aux["image_shape"] = tuple(int(d) for d in image.shape)
    return image, label, aux


def save_case(results_dir: Path, image: np.ndarray, label: np.ndarray, aux: dict) -> None:
    """``case_XXXXX.pkl`` and ``nifti/case_XXXXX/{imaging,segmentation}.nii.gz``."""
    import nibabel

    case = aux["case"]
    with open(layout.case_pickle(results_dir, case), "wb") as f:
        pickle.dump([image, label], f, protocol=PICKLE_PROTOCOL)
    nifti_dir = layout.segmentation_nifti(results_dir, case).parent
    nifti_dir.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(image[0], affine=aux["reshaped_affine"]), nifti_dir / layout.IMAGING_NIFTI)
    nibabel.save(nibabel.Nifti1Image(label[0], affine=aux["reshaped_affine"]), nifti_dir / layout.SEGMENTATION_NIFTI)


def save_preprocessed_info(results_dir: Path, file_list: list[str], cases: dict) -> None:
    with open(Path(results_dir) / layout.PREPROCESSED_LIST, "wb") as f:
        pickle.dump({"file_list": list(file_list), "cases": cases}, f, protocol=PICKLE_PROTOCOL)


def preprocess_dataset(raw_dir: Path, results_dir: Path, cases: list[str], roi_size: int) -> None:
    """Preprocess ``cases`` (folders of ``raw_dir``) into ``results_dir`` in the reference's layout."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    auxes = {}
    for case in cases:
        image, label, aux = preprocess_case(Path(raw_dir) / case, roi_size)
        save_case(results_dir, image, label, aux)
        auxes[case] = aux
    save_preprocessed_info(results_dir, cases, auxes)
