"""Gaussian blur over the two spatial axes of NHWC image batches.

The reference is SciPy's ``scipy.ndimage.gaussian_filter`` with ``sigma=0`` on
the batch and channel axes, SciPy's default boundary mode (``"reflect"``) and
default truncation (4 sigma). Colour channels are never mixed.

``gaussian_matrix`` expresses the same separable filter as an explicit
``(size, size)`` linear operator: it is SciPy's 1-D filter applied to the
identity, so it reproduces SciPy's boundary handling exactly. The
differentiable TensorFlow blur in :mod:`blur.differentiable` is built on it.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage

DEFAULT_SIGMA = 4.0


def check_sigma(sigma: float) -> float:
    """Return ``sigma`` as a float, or raise ``ValueError`` naming it."""
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a positive number. Received: sigma={sigma!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"sigma must be a positive, finite number. Received: sigma={sigma!r}")
    return value


def check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """Return ``images`` as a float array of rank 4 (N, H, W, C), or raise."""
    array = np.asarray(images)
    if array.ndim != 4:
        raise ValueError(
            f"{name} must be a batch shaped (N, H, W, C). Received: {name}.shape={array.shape}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    return array


def gaussian(images: np.ndarray, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """Blur every image of an (N, H, W, C) batch over H and W only.

    Args:
        images: float array shaped (N, H, W, C).
        sigma: standard deviation of the Gaussian in pixels, > 0.

    Returns:
        Array of the same shape and dtype as ``images``.
    """
    return _gaussian(check_images(images), check_sigma(sigma))


def _gaussian(images: np.ndarray, sigma: float) -> np.ndarray:
    """:func:`gaussian` on checked arguments."""
    return ndimage.gaussian_filter(images, sigma=(0.0, sigma, sigma, 0.0))


@functools.lru_cache(maxsize=64)
def _gaussian_matrix_cached(size: int, sigma: float) -> np.ndarray:
    identity = np.eye(size, dtype=np.float64)
    # Filtering each column of the identity gives the operator's columns:
    # out = M @ signal for every 1-D signal of this length.
    matrix = ndimage.gaussian_filter1d(identity, sigma=sigma, axis=0)
    matrix.setflags(write=False)
    return matrix


def gaussian_matrix(size: int, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """The 1-D Gaussian filter of SciPy on signals of length ``size`` as a matrix.

    ``gaussian_matrix(H, s) @ x`` equals ``ndimage.gaussian_filter1d(x, s, axis=0)``
    (up to float rounding) for any ``x`` with ``H`` rows. Read-only float64.
    """
    if int(size) != size or size <= 0:
        raise ValueError(f"size must be a positive integer. Received: size={size!r}")
    return _gaussian_matrix_cached(int(size), check_sigma(sigma))
