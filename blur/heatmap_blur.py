"""Heatmap-based blur: keep the most important pixels, blur the rest.

For every image, the importance of a pixel is the sum over colour channels of
the absolute heatmap value (a heatmap shaped (N, H, W) is used as is, after
taking its absolute value). The ``k = ceil(keep_fraction * H * W)`` most
important pixels keep all their channels; ties at the threshold are kept too,
so at least ``k`` pixels survive. Every other pixel is replaced by the same
pixel of the Gaussian-blurred image.
"""

from __future__ import annotations

import math

import numpy as np

from blur.gaussian import DEFAULT_SIGMA, _gaussian, check_images, check_sigma

DEFAULT_KEEP_FRACTION = 0.15


def check_keep_fraction(keep_fraction: float) -> float:
    """Return ``keep_fraction`` as a float in (0, 1], or raise ``ValueError`` naming it."""
    try:
        value = float(keep_fraction)
    except (TypeError, ValueError):
        raise ValueError(
            f"keep_fraction must be a number in (0, 1]. Received: keep_fraction={keep_fraction!r}"
        ) from None
    if not (0.0 < value <= 1.0):  # also False for NaN
        raise ValueError(
            f"keep_fraction must be in (0, 1]. Received: keep_fraction={keep_fraction!r}"
        )
    return value


def kept_pixel_count(keep_fraction: float, height: int, width: int) -> int:
    """``ceil(keep_fraction * H * W)``, immune to float noise such as 0.3*10=3.0000000000000004."""
    return _kept_pixel_count(check_keep_fraction(keep_fraction), height, width)


def _kept_pixel_count(keep_fraction: float, height: int, width: int) -> int:
    return max(1, math.ceil(round(keep_fraction * height * width, 9)))


def importance(heatmaps: np.ndarray) -> np.ndarray:
    """Per-pixel importance (N, H, W): sum over channels of |heatmap|."""
    array = np.asarray(heatmaps)
    if array.ndim == 4:
        return np.abs(array).sum(axis=-1)
    if array.ndim == 3:
        return np.abs(array)
    raise ValueError(
        f"heatmaps must be shaped (N, H, W, C) or (N, H, W). Received: heatmaps.shape={array.shape}"
    )


def keep_mask(heatmaps: np.ndarray, keep_fraction: float = DEFAULT_KEEP_FRACTION) -> np.ndarray:
    """Boolean (N, H, W) mask of the pixels kept unblurred.

    True for every pixel whose importance is at least the k-th largest
    importance of its image, k = ``kept_pixel_count(keep_fraction, H, W)``.
    """
    return _keep_mask(importance(heatmaps), check_keep_fraction(keep_fraction))


def _keep_mask(scores: np.ndarray, keep_fraction: float) -> np.ndarray:
    """:func:`keep_mask` on per-pixel scores (N, H, W) and a checked keep fraction."""
    if not np.all(np.isfinite(scores)):
        bad = int(np.argmax(~np.isfinite(scores).reshape(len(scores), -1).all(axis=1)))
        raise ValueError(f"heatmaps must be finite. Received: non-finite values in image {bad}")
    n, height, width = scores.shape
    k = _kept_pixel_count(keep_fraction, height, width)
    flat = scores.reshape(n, height * width)
    threshold = np.partition(flat, height * width - k, axis=1)[:, height * width - k]
    return scores >= threshold[:, None, None]


def heatmap_blur(
    images: np.ndarray,
    heatmaps: np.ndarray,
    keep_fraction: float = DEFAULT_KEEP_FRACTION,
    sigma: float = DEFAULT_SIGMA,
) -> np.ndarray:
    """Keep the top ``keep_fraction`` pixels of each image, blur the others.

    Args:
        images: (N, H, W, C) float images.
        heatmaps: (N, H, W, C) or (N, H, W) relevance of each input value.
        keep_fraction: fraction of pixels kept, in (0, 1].
        sigma: Gaussian standard deviation in pixels, > 0.

    Returns:
        (N, H, W, C) array, dtype of ``images``.
    """
    keep_fraction = check_keep_fraction(keep_fraction)
    sigma = check_sigma(sigma)
    images = check_images(images)
    heatmaps = np.asarray(heatmaps)
    if heatmaps.shape[:3] != images.shape[:3] or (
        heatmaps.ndim == 4 and heatmaps.shape != images.shape
    ):
        raise ValueError(
            "heatmaps must match images in (N, H, W) and, if 4-D, in channels. "
            f"Received: images.shape={images.shape}, heatmaps.shape={heatmaps.shape}"
        )
    mask = _keep_mask(importance(heatmaps), keep_fraction)
    return np.where(mask[..., None], images, _gaussian(images, sigma)).astype(images.dtype, copy=False)


def keep_mask_iou(heatmaps_a: np.ndarray, heatmaps_b: np.ndarray,
                  keep_fraction: float = DEFAULT_KEEP_FRACTION) -> np.ndarray:
    """Per image, intersection over union of the two heatmaps' keep masks (1.0: the same pixels kept)."""
    a, b = keep_mask(heatmaps_a, keep_fraction), keep_mask(heatmaps_b, keep_fraction)
    if a.shape != b.shape:
        raise ValueError(f"Heatmaps must cover the same images. Received: masks {a.shape} and {b.shape}")
    intersection = (a & b).reshape(len(a), -1).sum(axis=1)
    union = (a | b).reshape(len(a), -1).sum(axis=1)
    return intersection / np.maximum(union, 1)
