"""Heatmap methods against finite differences, identities and a written-out LRP."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import blur
import heatmaps
from classifiers import small_cnn
from tests import lrp_reference


@pytest.fixture(scope="module")
def smooth_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((5, 5, 2))
    x = keras.layers.Conv2D(3, 3, activation="tanh")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(2)
    return small_cnn(3, width=8)


@pytest.fixture(scope="module")
def resnet50():
    keras.utils.set_random_seed(3)
    return keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3, classifier_activation=None)


def images(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_gradient_matches_finite_differences(smooth_model):
    x = images((3, 5, 5, 2))
    targets = np.array([0, 2, 1])
    grad = heatmaps.compute(smooth_model, x, "gradient", labels=targets)
    h = 1e-2
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape[1:]):
        for n in range(3):
            up, down = x[n:n + 1].copy(), x[n:n + 1].copy()
            up[(0, *index)] += h
            down[(0, *index)] -= h
            diff = smooth_model(up).numpy()[0, targets[n]] - smooth_model(down).numpy()[0, targets[n]]
            numeric[(n, *index)] = diff / (2 * h)
    np.testing.assert_allclose(grad, numeric, atol=2e-3)
    assert np.abs(grad).max() > 0.05


def test_input_x_gradient_is_input_times_gradient(cnn):
    x = images((5, 32, 32, 3))
    np.testing.assert_allclose(
        heatmaps.compute(cnn, x, "input_x_gradient"), x * heatmaps.compute(cnn, x, "gradient"), rtol=1e-6, atol=1e-9
    )


def test_labels_none_explains_the_predicted_class(cnn):
    x = images((6, 32, 32, 3))
    predicted = cnn(x, training=False).numpy().argmax(1)
    np.testing.assert_array_equal(
        heatmaps.compute(cnn, x, "gradient"), heatmaps.compute(cnn, x, "gradient", labels=predicted)
    )
    other = (predicted + 1) % 3
    assert not np.allclose(heatmaps.compute(cnn, x, "gradient", labels=other), heatmaps.compute(cnn, x, "gradient"))


def test_softmax_head_is_explained_at_its_logits(cnn):
    probabilities = keras.Model(cnn.inputs, keras.layers.Activation("softmax")(cnn.outputs[0]))
    x = images((4, 32, 32, 3))
    for method in ("gradient", "lrp_eps"):
        np.testing.assert_allclose(
            heatmaps.compute(probabilities, x, method), heatmaps.compute(cnn, x, method), rtol=1e-5, atol=1e-7
        )


def test_lrp_epsilon_to_zero_is_input_x_gradient(cnn):
    x = images((5, 32, 32, 3))
    lrp = heatmaps.compute(cnn, x, "lrp_eps", epsilon=1e-9)
    ixg = heatmaps.compute(cnn, x, "input_x_gradient")
    np.testing.assert_allclose(lrp, ixg, atol=1e-4 * np.abs(ixg).max())


@pytest.mark.parametrize("eps", [1e-3, 0.1, 1.0])
def test_lrp_epsilon_equals_written_out_numpy_lrp(eps):
    model = lrp_reference.build_model()
    x = images((3, 6, 6, 2), seed=4)
    logits = model(x, training=False).numpy()
    targets = np.array([0, 1, 2])
    ours = heatmaps.compute(model, x, "lrp_eps", labels=targets, epsilon=eps)
    for n in range(3):
        expected, reference_logits = lrp_reference.relevance(model, x[n], targets[n], eps)
        np.testing.assert_allclose(reference_logits, logits[n], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours[n], expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())
    if eps >= 0.1:  # the rule must actually matter at this epsilon
        ixg = heatmaps.compute(model, x, "input_x_gradient", labels=targets)
        assert np.abs(ours - ixg).max() > 0.05 * np.abs(ixg).max()


def test_lrp_epsilon_runs_on_resnet50_and_is_close_to_input_x_gradient(resnet50):
    x = images((4, 32, 32, 3))
    lrp = heatmaps.compute(resnet50, x, "lrp_eps")
    ixg = heatmaps.compute(resnet50, x, "input_x_gradient")
    assert lrp.shape == x.shape and lrp.dtype == np.float32 and np.all(np.isfinite(lrp))
    relative = np.abs(lrp - ixg).sum() / np.abs(ixg).sum()
    assert 0 < relative < 0.05
    large = heatmaps.compute(resnet50, x, "lrp_eps", epsilon=1.0)
    assert np.abs(large - ixg).sum() / np.abs(ixg).sum() > 0.1


def test_lrp_rejects_unsupported_layers_by_name():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.LayerNormalization(name="my_layer_norm")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match="my_layer_norm.*LayerNormalization"):
        heatmaps.compute(model, images((1, 4, 4, 2)), "lrp_eps")


def test_compiled_explainer_does_not_retrace(cnn):
    fn = heatmaps.explainer(cnn, "lrp_eps", epsilon=0.01)
    heatmaps.compute(cnn, images((7, 32, 32, 3)), "lrp_eps", epsilon=0.01, batch_size=4)
    traces = fn.experimental_get_tracing_count()
    heatmaps.compute(cnn, images((9, 32, 32, 3), seed=5), "lrp_eps", epsilon=0.01, batch_size=5)
    assert traces == 1 and fn.experimental_get_tracing_count() == 1
    assert heatmaps.explainer(cnn, "lrp_eps", epsilon=0.01) is fn


@pytest.mark.parametrize("norm,eps", [("2", 0.5), ("inf", 8 / 255)])
def test_pgd_heatmap_is_a_bounded_loss_increasing_perturbation(cnn, norm, eps):
    from heatmaps.gradient import logits_forward
    from heatmaps.pgd import pgd_perturbation

    x = images((6, 32, 32, 3))
    predicted = cnn(x, training=False).numpy().argmax(1)
    delta = pgd_perturbation(logits_forward(cnn), tf.constant(x), tf.constant(predicted, tf.int32),
                             norm=norm, eps=eps, eps_step=eps / 4, max_iter=5).numpy()
    flat = delta.reshape(6, -1)
    bound = np.abs(flat).max(1) if norm == "inf" else np.linalg.norm(flat, axis=1)
    assert np.all(bound <= eps * (1 + 1e-5)) and np.all(bound > 0)
    assert np.all(x + delta >= -1e-7) and np.all(x + delta <= 1 + 1e-7)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    assert np.all(loss(predicted, cnn(x + delta)).numpy() > loss(predicted, cnn(x)).numpy())
    heat = heatmaps.compute(cnn, x, "pgd", norm=norm, eps=eps, eps_step=eps / 4, max_iter=5)
    np.testing.assert_allclose(heat, np.abs(delta), atol=1e-6)


def test_unknown_method_and_parameters_are_named(cnn):
    x = images((1, 32, 32, 3))
    with pytest.raises(ValueError, match="Received: method='saliency'"):
        heatmaps.compute(cnn, x, "saliency")
    with pytest.raises(ValueError, match="'alpha'.*lrp_eps"):
        heatmaps.compute(cnn, x, "lrp_eps", alpha=2)
    with pytest.raises(ValueError, match="Received: epsilon=-1"):
        heatmaps.compute(cnn, x, "lrp_eps", epsilon=-1)
    with pytest.raises(ValueError, match="Received: norm='1'"):
        heatmaps.compute(cnn, x, "pgd", norm=1)
    with pytest.raises(ValueError, match=r"images.shape=\(1, 16, 16, 3\)"):
        heatmaps.compute(cnn, images((1, 16, 16, 3)), "gradient")


def test_random_control_scores_are_seeded_per_image_uniform_and_ignore_the_model():
    from heatmaps.random_scores import random_scores

    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype(np.float32)
    model, other = small_cnn(3, width=8), small_cnn(3, width=4)
    first = heatmaps.compute(model, x, "random")
    np.testing.assert_array_equal(first, heatmaps.compute(other, x, "random"))  # same images, same scores
    np.testing.assert_array_equal(first[1:2], random_scores(x[1:2], 1).numpy())  # per image, batch-independent
    assert not np.array_equal(first, heatmaps.compute(model, x, "random", seed=2))  # the seed matters
    assert not np.array_equal(first[0], first[1])  # different images, different masks
    assert 0.0 <= first.min() and first.max() < 1.0
    assert abs(first.mean() - 0.5) < 0.01 and abs(first.std() - 12 ** -0.5) < 0.01  # uniform on [0, 1)
    # the keep mask is a random 15%: its overlap with a fixed mask is what chance gives (15% of it kept)
    kept = blur.keep_mask(first, 0.15)
    assert abs(kept.mean() - 0.15) < 0.01 and abs(kept[:, :16].mean() - 0.15) < 0.03
    assert not np.array_equal(first, heatmaps.compute(model, x, "random", seed=0))  # 0 is a seed like any other
    with pytest.raises(ValueError, match="must be a non-negative integer. Received: seed=-1"):
        heatmaps.compute(model, x, "random", seed=-1)
