"""Blur against plain re-implementations of its definition."""

import math

import numpy as np
import pytest
from scipy import ndimage

import blur


def reference_gaussian(images, sigma):
    """Separable Gaussian written out: SciPy's kernel, 'reflect' = NumPy's 'symmetric' padding."""
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.empty(images.shape, dtype=np.float64)
    for n in range(images.shape[0]):
        for c in range(images.shape[3]):
            plane = images[n, :, :, c].astype(np.float64)
            padded = np.pad(plane, radius, mode="symmetric")
            rows = np.array([[np.dot(kernel, padded[i:i + 2 * radius + 1, j])
                              for j in range(padded.shape[1])] for i in range(plane.shape[0])])
            out[n, :, :, c] = [[np.dot(kernel, rows[i, j:j + 2 * radius + 1])
                                for j in range(plane.shape[1])] for i in range(plane.shape[0])]
    return out


def reference_heatmap_blur(images, heatmaps, keep_fraction, sigma):
    """One image at a time: sort importances, keep everything >= the k-th largest."""
    blurred = ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0))
    out = blurred.copy()
    for n in range(len(images)):
        scores = np.abs(heatmaps[n]).sum(axis=-1) if heatmaps.ndim == 4 else np.abs(heatmaps[n])
        k = math.ceil(round(keep_fraction * scores.size, 9))
        threshold = np.sort(scores.ravel())[::-1][k - 1]
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                if scores[i, j] >= threshold:
                    out[n, i, j, :] = images[n, i, j, :]
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("sigma", [0.7, 2.0, 4.0])
def test_gaussian_matches_written_out_filter(rng, sigma):
    images = rng.random((2, 12, 10, 3)).astype(np.float32)
    np.testing.assert_allclose(blur.gaussian(images, sigma), reference_gaussian(images, sigma), atol=2e-6)


def test_gaussian_is_scipy_over_spatial_axes_with_default_sigma_4(rng):
    images = rng.random((3, 32, 32, 3)).astype(np.float32)
    expected = np.stack([
        np.stack([ndimage.gaussian_filter(images[n, :, :, c], 4.0) for c in range(3)], axis=-1)
        for n in range(3)
    ])
    np.testing.assert_allclose(blur.gaussian(images), expected, atol=1e-6)


def test_gaussian_never_mixes_channels_or_images(rng):
    images = np.zeros((2, 16, 16, 3), dtype=np.float32)
    images[0, :, :, 1] = rng.random((16, 16))
    out = blur.gaussian(images, 2.0)
    assert np.all(out[0, :, :, 0] == 0) and np.all(out[0, :, :, 2] == 0)
    assert np.all(out[1] == 0)
    assert out[0, :, :, 1].std() > 0


def test_gaussian_matrix_is_scipy_1d_filter(rng):
    signal = rng.random((32, 5))
    matrix = blur.gaussian_matrix(32, 4.0)
    np.testing.assert_allclose(matrix @ signal, ndimage.gaussian_filter1d(signal, 4.0, axis=0), atol=1e-12)


@pytest.mark.parametrize("keep_fraction", [0.05, 0.15, 0.5, 1.0])
def test_heatmap_blur_matches_reference(rng, keep_fraction):
    images = rng.random((4, 12, 12, 3)).astype(np.float32)
    heatmaps = rng.normal(size=(4, 12, 12, 3)).astype(np.float32)
    out = blur.heatmap_blur(images, heatmaps, keep_fraction, sigma=2.0)
    expected = reference_heatmap_blur(images, heatmaps, keep_fraction, 2.0)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.dtype == np.float32


def test_kept_and_dropped_pixel_sets(rng):
    images = rng.random((1, 32, 32, 3)).astype(np.float32)
    order = rng.permutation(32 * 32).reshape(32, 32).astype(np.float32)  # distinct importances
    heatmaps = np.repeat(order[None, :, :, None], 3, axis=-1) * np.array([1.0, -2.0, 0.5])
    out = blur.heatmap_blur(images, heatmaps, 0.15, sigma=4.0)
    blurred = blur.gaussian(images, 4.0)
    k = math.ceil(0.15 * 1024)
    kept = order >= np.sort(order.ravel())[-k]
    assert kept.sum() == k == 154
    np.testing.assert_array_equal(out[0][kept], images[0][kept])
    np.testing.assert_array_equal(out[0][~kept], blurred[0][~kept])


def test_importance_sums_absolute_channels():
    heatmaps = np.zeros((1, 2, 2, 3), dtype=np.float32)
    heatmaps[0, 0, 0] = [5.0, -5.0, 0.0]   # sum 0, |.| sum 10
    heatmaps[0, 1, 1] = [3.0, 3.0, 3.0]    # sum 9, |.| sum 9
    np.testing.assert_array_equal(blur.importance(heatmaps)[0], [[10.0, 0.0], [0.0, 9.0]])
    mask = blur.keep_mask(heatmaps, 0.25)
    assert mask[0, 0, 0] and mask.sum() == 1


def test_ties_at_threshold_are_kept():
    heatmaps = np.zeros((1, 4, 4), dtype=np.float32)
    heatmaps[0, 0, :3] = 1.0  # three pixels tie for the top; k = ceil(0.125*16) = 2
    mask = blur.keep_mask(heatmaps, 0.125)
    assert mask.sum() == 3
    constant = np.ones((1, 4, 4), dtype=np.float32)
    assert blur.keep_mask(constant, 0.15).all()


def test_three_dimensional_heatmaps_accepted(rng):
    images = rng.random((2, 8, 8, 3)).astype(np.float32)
    heat3 = rng.normal(size=(2, 8, 8)).astype(np.float32)
    heat4 = np.repeat(np.abs(heat3)[..., None], 3, axis=-1)
    np.testing.assert_array_equal(
        blur.heatmap_blur(images, heat3, 0.2, 1.0), blur.heatmap_blur(images, heat4, 0.2, 1.0)
    )


def test_kept_pixel_count_ignores_float_noise():
    # 0.07 * 100 == 7.000000000000001: a plain ceil would keep 8 pixels of 100
    assert blur.kept_pixel_count(0.07, 10, 10) == 7
    assert blur.kept_pixel_count(0.15, 32, 32) == 154
    assert blur.kept_pixel_count(1.0, 32, 32) == 1024


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5, float("nan"), "abc"])
def test_bad_keep_fraction_is_named(rng, value):
    images = rng.random((1, 8, 8, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=f"Received: keep_fraction={value!r}".replace("(", r"\(")):
        blur.heatmap_blur(images, images, keep_fraction=value)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_sigma_is_named(rng, value):
    images = rng.random((1, 8, 8, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="Received: sigma="):
        blur.gaussian(images, value)
    with pytest.raises(ValueError, match="Received: sigma="):
        blur.heatmap_blur(images, images, 0.5, sigma=value)


def test_mismatched_shapes_and_bad_heatmaps_rejected(rng):
    images = rng.random((2, 8, 8, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="heatmaps.shape=\\(2, 8, 7, 3\\)"):
        blur.heatmap_blur(images, images[:, :, :7], 0.5)
    with pytest.raises(ValueError, match="heatmaps.shape=\\(1, 8, 8, 3\\)"):
        blur.heatmap_blur(images, images[:1], 0.5)
    with pytest.raises(ValueError, match="images.shape=\\(8, 8, 3\\)"):
        blur.gaussian(images[0])
    bad = images.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite values in image 1"):
        blur.heatmap_blur(images, bad, 0.5)


def test_tensorflow_blur_equals_numpy_and_has_the_adjoint_gradient(rng):
    import tensorflow as tf

    from blur.differentiable import gaussian_tf, heatmap_blur_tf

    images = rng.random((3, 16, 16, 3)).astype(np.float32)
    heatmaps = rng.normal(size=(3, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(gaussian_tf(images, 2.5).numpy(), blur.gaussian(images, 2.5), atol=1e-6)
    np.testing.assert_allclose(
        heatmap_blur_tf(images, heatmaps, 0.15, 2.5).numpy(),
        blur.heatmap_blur(images, heatmaps, 0.15, 2.5), atol=1e-6,
    )
    # BPDA: the mask is a constant, so d<w, T(x)>/dx = m*w + B^T((1-m)*w).
    weights = rng.normal(size=images.shape).astype(np.float32)
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = tf.reduce_sum(heatmap_blur_tf(x, heatmaps, 0.15, 2.5) * weights)
    grad = tape.gradient(value, x).numpy()
    mask = blur.keep_mask(heatmaps, 0.15)[..., None]
    b = blur.gaussian_matrix(16, 2.5)
    adjoint = np.einsum("ih,nijc,jw->nhwc", b, (1 - mask) * weights, b)
    np.testing.assert_allclose(grad, mask * weights + adjoint, atol=1e-5)


def test_keep_mask_iou_is_one_for_the_same_mask_and_zero_for_disjoint_ones():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 8, 8, 3))
    np.testing.assert_array_equal(blur.keep_mask_iou(maps, maps * 2.0, 0.25), [1.0, 1.0, 1.0])
    left = np.zeros((2, 8, 8, 1))
    left[:, :, :2] = 1.0  # keeps the two left columns (16 of 64 pixels = 25%)
    right = np.zeros((2, 8, 8, 1))
    right[:, :, -2:] = 1.0
    np.testing.assert_array_equal(blur.keep_mask_iou(left, right, 0.25), [0.0, 0.0])
    half = np.zeros((2, 8, 8, 1))
    half[:, :, 1:3] = 1.0  # one column shared: 8 / 24
    np.testing.assert_allclose(blur.keep_mask_iou(left, half, 0.25), [1 / 3, 1 / 3])
