"""MLPerf's sliding-window inference over one preprocessed volume (``base_SUT.py``, ``inference_utils.py``).

Windows of the ROI side step by ``int(roi * (1 - overlap))`` from the volume's
origin, ``(side - roi) // step + 1`` per axis, in i, j, k order. Each window's
logits are multiplied by an importance patch and added into a result array;
the patches are added into a normalisation map; the result divided by the map
and argmaxed over the classes is the mask (uint8).

The patch is the reference's: a 1-D Gaussian window of ``n = roi`` points with
standard deviation ``0.125 * roi`` (scipy.signal's symmetric window), the
outer product of three of them, its cube root, divided by its maximum. The
cube root widens the Gaussian by sqrt(3) per axis; it is part of MLPerf's
arithmetic, so it is kept. All sums are float32, as the reference's arrays.

MLPerf's preprocessing makes every side at least ``roi`` and a whole number of
steps, so the windows tile the volume exactly and the mask has the volume's
shape. A volume that does not fit (preprocessed for another window) is padded
here with the preprocessing's padding value and the mask cropped back, so no
voxel is left without a window (the reference would divide by zero there).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from . import layout


def gaussian_window(n: int, std: float) -> np.ndarray:
    """scipy.signal.windows.gaussian(n, std, sym=True): exp(-(k - (n-1)/2)^2 / (2 std^2))."""
    k = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    return np.exp(-0.5 * (k / std) ** 2)


def importance_patch(roi: int, sigma_scale: float = layout.GAUSSIAN_SIGMA_SCALE) -> np.ndarray:
    """The reference's ``gaussian_kernel(roi, sigma_scale * roi)`` as float32 [roi, roi, roi]."""
    g = gaussian_window(roi, sigma_scale * roi)
    cube = np.cbrt(np.einsum("i,j,k->ijk", g, g, g))
    return (cube / cube.max()).astype(np.float32)


def uniform_patch(roi: int) -> np.ndarray:
    """Equal weight everywhere: plain averaging of overlapping windows (a mutation)."""
    return np.ones((roi, roi, roi), np.float32)


def window_origins(shape: tuple[int, int, int], roi: int, overlap: float) -> Iterator[tuple[int, int, int]]:
    step = layout.strides(roi, overlap)
    counts = [(side - roi) // step + 1 for side in shape]
    for i in range(0, step * counts[0], step):
        for j in range(0, step * counts[1], step):
            for k in range(0, step * counts[2], step):
                yield i, j, k


def fitting_padding(shape: tuple[int, ...], roi: int, overlap: float) -> list[tuple[int, int]]:
    """Padding per axis that makes ``shape`` at least ``roi`` and a whole number of steps past it."""
    step = layout.strides(roi, overlap)
    pads = []
    for side in shape:
        target = roi if side <= roi else roi + -(-(side - roi) // step) * step
        extra = target - side
        pads.append((extra // 2, extra - extra // 2))
    return pads


def segment(volume: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], *, roi: int,
            overlap: float = layout.SLIDE_OVERLAP_FACTOR, patch: np.ndarray | None = None,
            windows_per_call: int = 8, classes: int = len(layout.CLASSES)) -> np.ndarray:
    """The uint8 mask [D, H, W] of one volume ([1, D, H, W] or [D, H, W] float32).

    ``predict`` maps a float32 batch [n, 1, roi, roi, roi] to logits
    [n, classes, roi, roi, roi]; up to ``windows_per_call`` windows go in one call.
    """
    image = np.asarray(volume, dtype=np.float32)
    if image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError(f"expected one channel [1, D, H, W], got shape {image.shape}")
        image = image[0]
    if image.ndim != 3:
        raise ValueError(f"expected a 3-D volume [1, D, H, W] or [D, H, W], got shape {volume.shape}")
    if patch is None:
        patch = importance_patch(roi)
    shape = image.shape
    pads = fitting_padding(shape, roi, overlap)
    if any(p != (0, 0) for p in pads):
        image = np.pad(image, pads, mode="constant", constant_values=layout.PADDING_VAL)
    result = np.zeros((classes, *image.shape), np.float32)
    norm_map = np.zeros(image.shape, np.float32)
    origins = list(window_origins(image.shape, roi, overlap))
    batch = np.empty((min(windows_per_call, len(origins)), 1, roi, roi, roi), np.float32)
    for start in range(0, len(origins), windows_per_call):
        chunk = origins[start: start + windows_per_call]
        for n, (i, j, k) in enumerate(chunk):
            batch[n, 0] = image[i: i + roi, j: j + roi, k: k + roi]
        logits = np.asarray(predict(batch[: len(chunk)]), dtype=np.float32)
        if logits.shape != (len(chunk), classes, roi, roi, roi):
            raise ValueError(f"the model returned logits of shape {logits.shape} for {len(chunk)} windows; "
                             f"expected {(len(chunk), classes, roi, roi, roi)}")
        for n, (i, j, k) in enumerate(chunk):
            result[:, i: i + roi, j: j + roi, k: k + roi] += logits[n] * patch
            norm_map[i: i + roi, j: j + roi, k: k + roi] += patch
    result /= norm_map
    mask = np.argmax(result, axis=0).astype(np.uint8)
    if any(p != (0, 0) for p in pads):
        mask = mask[tuple(slice(lo, lo + side) for (lo, _), side in zip(pads, shape))]
    return np.ascontiguousarray(mask)
