"""Synthetic KiTS19-like CT cases: a kidney with a tumour in it, rendered deterministically.

Why they look like this:
- Each case has its own raw voxel spacing (slice thickness 1-3 mm, in-plane
  0.7-1.4 mm) and extent, so MLPerf's resampling to 1.6 x 1.2 x 1.2 mm does
  real work and the preprocessed volumes have different shapes (40-72 voxels
  per side before the window padding, 48-80 after).
- Kidneys (label 1, one or two), a tumour in or bulging out of a kidney
  (label 2) and unlabelled look-alikes ("bowel" blobs exactly as grey as a
  tumour) share intensity ranges under noise of a third to a half of the
  contrasts: a grey blob is a tumour only if it sits on a kidney. So the
  model needs context, which it lacks near a window border, where its view is
  cut: that is what MLPerf's Gaussian weighting of overlapping windows is for.
- Intensities are Hounsfield units stored as int16, with soft tissue, fat
  below the -79 HU clip and bright "bone" above the 304 HU clip, so the clip
  and normalisation constants matter.

Everything is drawn from ``numpy.random.default_rng((SEED, split, index))``:
rendering a case twice gives identical arrays, and nibabel writes its gzip
streams without a timestamp, so the files are identical too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import layout

# Bump when the cases could change: the proxy model and its reference DICE were measured on this.
GENERATOR_VERSION = "1"
SEED = 20260903
SPLITS = {"val": 0, "train": 1}
VAL_CASES = 12  # the proxy dataset (MLPerf's has 43)
PREPROCESSED_SIDES = (40, 73)  # voxels per axis at the target spacing, before window padding
SLICE_THICKNESS_MM = (1.0, 3.0)
IN_PLANE_MM = (0.7, 1.4)
KIDNEY_MARGIN_MM = 10.0
RAW_DIR = "kits19/data"  # where the KiTS19 repository keeps its cases
PREPROCESSED_DIR = "preprocessed_data"  # MLPerf's build/preprocessed_data


@dataclass(frozen=True)
class RawCase:
    imaging: np.ndarray  # int16 HU, (slices, rows, columns)
    segmentation: np.ndarray  # uint8 labels 0/1/2, same shape
    affine: np.ndarray  # 4x4, KiTS19's axis order (voxel axis 0 is the slice axis)


def case_name(index: int) -> str:
    return f"case_{index:05d}"


def _ellipsoid(grids, centre, radii, rotation) -> np.ndarray:
    """Squared normalised distance of every voxel centre from an ellipsoid's centre."""
    offsets = [g - c for g, c in zip(grids, centre)]
    total = 0.0
    for axis in range(3):
        along = sum(rotation[axis, k] * offsets[k] for k in range(3))
        total = total + (along / radii[axis]) ** 2
    return total


def _rotation(rng) -> np.ndarray:
    """A random rotation, mostly in-plane (kidneys lie roughly along the body axis)."""
    a, b = rng.uniform(-np.pi, np.pi), rng.uniform(-0.4, 0.4)
    in_plane = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    tilt = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return tilt @ in_plane


def render_case(split: str, index: int) -> RawCase:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng((SEED, SPLITS[split], index))
    sides = rng.integers(*PREPROCESSED_SIDES, size=3)
    extent = sides * np.array(layout.TARGET_SPACING)  # mm
    spacing = np.array([rng.uniform(*SLICE_THICKNESS_MM), *[rng.uniform(*IN_PLANE_MM)] * 2]).round(3)
    shape = np.maximum(np.rint(extent / spacing).astype(int), 8)
    grids = np.meshgrid(*[(np.arange(n) + 0.5) * s for n, s in zip(shape, spacing)], indexing="ij", sparse=True)

    hu = np.full(tuple(shape), rng.uniform(30, 50), np.float32)
    hu += gaussian_filter(rng.normal(0, 12, tuple(shape)), 4.0 / spacing.mean()).astype(np.float32)
    label = np.zeros(tuple(shape), np.uint8)

    # fat pockets (clipped at -79 HU) and a bright bone bar (clipped at 304 HU)
    for _ in range(rng.integers(1, 4)):
        d = _ellipsoid(grids, rng.uniform(0, 1, 3) * extent, rng.uniform(6, 16, 3), _rotation(rng))
        hu[d < 1] = rng.uniform(-120, -85)
    if rng.random() < 0.6:
        d = _ellipsoid(grids, rng.uniform(0.1, 0.9, 3) * extent, np.array([60.0, 5.0, 5.0]), _rotation(rng))
        hu[d < 1] = rng.uniform(400, 700)

    # one or two kidneys, each possibly with a tumour
    kidney_hu = rng.uniform(150, 190)
    kidneys = 1 + int(rng.random() < 0.35)
    inside_any = np.zeros(tuple(shape), bool)
    for k in range(kidneys):
        radii = np.array([rng.uniform(12, 20), rng.uniform(9, 15), rng.uniform(9, 15)])
        # kidneys lie inside the scan: keep the kidney and most of a tumour clear of the faces
        low, high = radii + KIDNEY_MARGIN_MM, extent - radii - KIDNEY_MARGIN_MM
        centre = np.where(low < high, low + rng.uniform(0, 1, 3) * (high - low), extent / 2)
        rot = _rotation(rng)
        inside = _ellipsoid(grids, centre, radii, rot) < 1
        hu[inside] = kidney_hu + rng.uniform(-10, 10)
        label[inside] = layout.KIDNEY
        inside_any |= inside
        if k == 0 or rng.random() < 0.3:
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            t_centre = centre + direction * radii.min() * rng.uniform(0.2, 0.9)
            t_radii = rng.uniform(7, 12) * rng.uniform(0.8, 1.2, 3)
            tumour = _ellipsoid(grids, t_centre, t_radii, _rotation(rng)) < 1
            hu[tumour] = rng.uniform(80, 115)
            label[tumour] = layout.TUMOUR

    # unlabelled look-alikes outside the kidneys: blobs as grey as a tumour
    for _ in range(rng.integers(1, 4)):
        centre = rng.uniform(0.1, 0.9, 3) * extent
        blob = (_ellipsoid(grids, centre, rng.uniform(5, 12, 3), _rotation(rng)) < 1) & ~inside_any
        hu[blob] = rng.uniform(80, 115)

    # partial volume, then correlated noise
    hu = gaussian_filter(hu, 0.6)
    noise = gaussian_filter(rng.normal(0, 1, tuple(shape)), 0.7)
    hu += (noise / noise.std() * rng.uniform(16, 26)).astype(np.float32)
    imaging = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)

    # KiTS19's affine: voxel axis 0 (slices) runs along -z, axes 1 and 2 along -y and -x
    affine = np.zeros((4, 4))
    affine[0, 2], affine[1, 1], affine[2, 0], affine[3, 3] = -spacing[2], -spacing[1], -spacing[0], 1.0
    return RawCase(imaging=imaging, segmentation=label, affine=affine)


def write_raw_case(case_dir: Path, case: RawCase) -> None:
    """``imaging.nii.gz`` and ``segmentation.nii.gz`` as the KiTS19 repository stores a case."""
    import nibabel

    case_dir = Path(case_dir)
    case_dir.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(case.imaging, case.affine), case_dir / layout.IMAGING_NIFTI)
    nibabel.save(nibabel.Nifti1Image(case.segmentation, case.affine), case_dir / layout.SEGMENTATION_NIFTI)


def render_dataset(out_dir: Path, roi_size: int, *, split: str = "val", count: int = VAL_CASES) -> Path:
    """Raw cases under ``kits19/data/`` and MLPerf's preprocessing of them; returns the preprocessed folder."""
    from .preprocess import preprocess_dataset

    out_dir = Path(out_dir)
    cases = [case_name(i) for i in range(count)]
    for index, case in enumerate(cases):
        write_raw_case(out_dir / RAW_DIR / case, render_case(split, index))
    preprocess_dataset(out_dir / RAW_DIR, out_dir / PREPROCESSED_DIR, cases, roi_size)
    return out_dir / PREPROCESSED_DIR
