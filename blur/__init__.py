"""Blur transforms of image batches (NumPy/SciPy), with TensorFlow twins.

A leaf package: it takes heatmap arrays and never computes them.

    blur.gaussian(images, sigma=4.0)
    blur.heatmap_blur(images, heatmaps, keep_fraction=0.15, sigma=4.0)

The TensorFlow versions (``blur.differentiable``) are imported lazily so
that NumPy-only users do not pay for TensorFlow.
"""

from blur.gaussian import DEFAULT_SIGMA, check_sigma, gaussian, gaussian_matrix
from blur.heatmap_blur import (
    DEFAULT_KEEP_FRACTION,
    check_keep_fraction,
    heatmap_blur,
    importance,
    keep_mask,
    keep_mask_iou,
    kept_pixel_count,
)

__all__ = [
    "DEFAULT_KEEP_FRACTION",
    "DEFAULT_SIGMA",
    "check_keep_fraction",
    "check_sigma",
    "gaussian",
    "gaussian_matrix",
    "heatmap_blur",
    "importance",
    "keep_mask",
    "keep_mask_iou",
    "kept_pixel_count",
]
