"""TensorFlow versions of the blurs, for attacks that differentiate through them.

``gaussian_tf`` applies SciPy's exact separable operator (see
:func:`blur.gaussian.gaussian_matrix`) as two matrix products, so its forward
pass equals :func:`blur.gaussian.gaussian` up to float32 rounding and its
gradient is the exact adjoint.

``heatmap_blur_tf`` is ``mask * x + (1 - mask) * gaussian(x)`` with the keep
mask computed from the given heatmaps and held constant in the backward pass.
That is the BPDA treatment of the non-differentiable top-k selection
(Athalye et al., 2018): the mask is recomputed on every forward call, and the
gradient flows through the kept pixels and the linear blur.
"""

from __future__ import annotations

import tensorflow as tf

from blur.gaussian import DEFAULT_SIGMA, check_sigma, gaussian_matrix
from blur.heatmap_blur import DEFAULT_KEEP_FRACTION, _kept_pixel_count, check_keep_fraction


def gaussian_tf(images: tf.Tensor, sigma: float = DEFAULT_SIGMA) -> tf.Tensor:
    """Differentiable Gaussian blur over H and W of an (N, H, W, C) float32 tensor."""
    return _gaussian_tf(images, check_sigma(sigma))


def _gaussian_tf(images: tf.Tensor, sigma: float) -> tf.Tensor:
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(f"gaussian_tf needs static H and W. Received: shape={images.shape}")
    rows = tf.constant(gaussian_matrix(height, sigma), dtype=tf.float32)
    cols = tf.constant(gaussian_matrix(width, sigma), dtype=tf.float32)
    return tf.einsum("hi,nijc,wj->nhwc", rows, images, cols)


def keep_mask_tf(heatmaps: tf.Tensor, keep_fraction: float = DEFAULT_KEEP_FRACTION) -> tf.Tensor:
    """Float (N, H, W, 1) keep mask; same rule as :func:`blur.heatmap_blur.keep_mask`."""
    return _keep_mask_tf(heatmaps, check_keep_fraction(keep_fraction))


def _keep_mask_tf(heatmaps: tf.Tensor, keep_fraction: float) -> tf.Tensor:
    heatmaps = tf.convert_to_tensor(heatmaps, dtype=tf.float32)
    scores = tf.abs(heatmaps)
    if scores.shape.rank == 4:
        scores = tf.reduce_sum(scores, axis=-1)
    elif scores.shape.rank != 3:
        raise ValueError(
            f"heatmaps must be shaped (N, H, W, C) or (N, H, W). Received: shape={heatmaps.shape}"
        )
    height, width = scores.shape[1], scores.shape[2]
    k = _kept_pixel_count(keep_fraction, height, width)
    flat = tf.reshape(scores, [-1, height * width])
    threshold = tf.math.top_k(flat, k=k, sorted=True).values[:, k - 1]
    mask = tf.cast(scores >= threshold[:, None, None], tf.float32)
    return tf.stop_gradient(mask[..., None])


def heatmap_blur_tf(
    images: tf.Tensor,
    heatmaps: tf.Tensor,
    keep_fraction: float = DEFAULT_KEEP_FRACTION,
    sigma: float = DEFAULT_SIGMA,
) -> tf.Tensor:
    """Heatmap blur whose gradient treats the keep mask as a constant (BPDA)."""
    keep_fraction, sigma = check_keep_fraction(keep_fraction), check_sigma(sigma)
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    mask = _keep_mask_tf(tf.stop_gradient(heatmaps), keep_fraction)
    return mask * images + (1.0 - mask) * _gaussian_tf(images, sigma)
