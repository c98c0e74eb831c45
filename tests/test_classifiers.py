"""Architectures output logits; training learns; same seed, same weights."""

import keras
import numpy as np
import pytest

import classifiers


def test_resnet50_is_keras_resnet50_with_logits():
    model = classifiers.build("resnet50", num_classes=3)
    assert model.count_params() == 23_593_859
    assert model.layers[-1].activation is keras.activations.linear
    assert model.output_shape == (None, 3)


def test_small_cnn_outputs_logits_and_has_resnet_layer_types():
    model = classifiers.build("small_cnn", num_classes=4)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Conv2D", "BatchNormalization", "Add", "MaxPooling2D", "GlobalAveragePooling2D", "Dense"} <= kinds
    logits = model(np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)).numpy()
    assert logits.shape == (2, 4) and not np.allclose(logits.sum(1), 1.0)


def test_training_learns_a_separable_task_and_is_deterministic():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 64)
    x = rng.random((128, 32, 32, 3)).astype(np.float32) * 0.5
    x[y == 1, :, :, 0] += 0.5  # class 1 is redder

    def run():
        classifiers.make_deterministic(5)
        model = classifiers.build("small_cnn", num_classes=2, width=8)
        history = classifiers.train(model, x, y, epochs=6, batch_size=16, learning_rate=1e-2, verbose=0)
        return model, history

    model, history = run()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert (classifiers.predict_labels(model, x) == y).mean() > 0.9
    again, _ = run()
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "Received: epochs=0"),
        ({"batch_size": -2}, "Received: batch_size=-2"),
        ({"learning_rate": "fast"}, "Received: learning_rate='fast'"),
    ],
)
def test_bad_training_parameters_are_named(kwargs, message):
    model = classifiers.build("small_cnn", num_classes=2, width=4)
    x = np.zeros((4, 32, 32, 3), np.float32)
    params = {"epochs": 1, "batch_size": 2, "learning_rate": 1e-3, **kwargs}
    with pytest.raises(ValueError, match=message):
        classifiers.train(model, x, np.zeros(4, int), verbose=0, **params)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="Received: model='vgg16'"):
        classifiers.build("vgg16", num_classes=3)
