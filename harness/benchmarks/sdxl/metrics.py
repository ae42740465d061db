"""CLIP score and FID with the formulas of MLPerf's text_to_image/tools accuracy code.

- CLIP score (``clip/clip_encoder.py``, ``accuracy_coco.py``): per picture,
  ``100 * cos(image features, caption features)``, each feature vector
  divided by its norm; the score is the mean over the pictures.
- FID (``fid/fid_score.py``): the pool features of the generated pictures
  (float64), their mean and covariance (``np.cov``, rows are pictures,
  N - 1 in the denominator), then the Frechet distance to the reference
  statistics ``(mu, sigma)``:
  ``|mu_ref - mu_gen|^2 + tr(S_ref) + tr(S_gen) - 2 tr(sqrtm(S_ref S_gen))``,
  with ``eps * I`` added to both covariances when the product's square root
  is not finite, and the imaginary part dropped when it is within 1e-3 of 0
  on the diagonal (an error otherwise).
"""
from __future__ import annotations

import numpy as np

FID_EPS = 1e-6  # calculate_frechet_distance's eps
IMAGINARY_TOLERANCE = 1e-3


def clip_scores(image_features: np.ndarray, text_features: np.ndarray) -> np.ndarray:
    """``100 * cos`` of each row pair ([N, D] each) -> float64 [N].

    As clip_encoder.py: the features in float32 (``.float()``), each divided
    by its norm, their dot product in float32, then ``100 * similarity.item()``.
    """
    images = np.array(image_features, dtype=np.float32)
    texts = np.array(text_features, dtype=np.float32)
    if images.shape != texts.shape or images.ndim != 2:
        raise ValueError(f"image features {images.shape} and caption features {texts.shape}: expected two [N, D]")
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    similarity = np.einsum("nd,nd->n", images, texts).astype(np.float32)
    return 100 * similarity.astype(np.float64)


def activation_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of pool features [N, D], as calculate_activation_statistics."""
    act = np.asarray(features, np.float64)
    if act.ndim != 2 or len(act) < 2:
        raise ValueError(f"pool features of shape {act.shape}: FID needs [N, D] with at least two pictures")
    return act.mean(axis=0), np.cov(act, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = FID_EPS) -> float:
    """The Frechet distance of N(mu1, sigma1) and N(mu2, sigma2) (module doc)."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors of lengths {mu1.shape} and {mu2.shape}: expected the same feature count")
    if sigma1.shape != sigma2.shape:
        raise ValueError(f"covariances of shapes {sigma1.shape} and {sigma2.shape}: expected the same feature count")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_TOLERANCE):
            raise ValueError(f"FID: the covariances' product has a square root with imaginary part "
                             f"{np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def official_line(fid: float, clip: float) -> str:
    """accuracy_coco.py's ``print(f"Accuracy Results: {result_dict}")``, FID first, values as Python floats."""
    return f"Accuracy Results: {({'FID_SCORE': float(fid), 'CLIP_SCORE': float(clip)})}"
