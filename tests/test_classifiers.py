"""Architectures output logits; training learns; same seed, same weights."""

import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import classifiers


def test_resnet50_is_keras_resnet50_with_logits():
    model = classifiers.build("resnet50", num_classes=3)
    backbone = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert model.count_params() == backbone.count_params() + 2048 * 3 + 3  # Keras' backbone + a 3-logit head
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

    recipes = [classifiers.Recipe(epochs=6, batch_size=16, learning_rate=1e-2),
               classifiers.Recipe(epochs=6, batch_size=16, learning_rate=1e-2, optimizer="adamw", weight_decay=0.05,
                                  warmup_epochs=1, schedule="cosine", label_smoothing=0.1, augment=True,
                                  recalibrate_bn=True)]

    def run(recipe):
        classifiers.make_deterministic(5)
        model = classifiers.build("small_cnn", num_classes=2, width=8)
        history = classifiers.train(model, x, y, recipe, seed=5)
        return model, history

    for recipe in recipes:
        model, history = run(recipe)
        assert len(history.history["loss"]) == recipe.epochs  # 8 steps an epoch, 6 epochs: 48 updates, no more
        assert int(model.optimizer.iterations.numpy()) == recipe.epochs * classifiers.steps_per_epoch(len(x), recipe)
        assert history.history["loss"][-1] < history.history["loss"][0]
        assert (classifiers.predict_labels(model, x) == y).mean() > 0.9
        again, _ = run(recipe)
        for a, b in zip(model.get_weights(), again.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "Received: epochs=0"),
        ({"batch_size": -2}, "Received: batch_size=-2"),
        ({"learning_rate": "fast"}, "Received: learning_rate='fast'"),
        ({"optimizer": "lion"}, "Received: optimizer='lion'"),
        ({"label_smoothing": 1.0}, "Received: label_smoothing=1.0"),
        ({"warmup_epochs": 3}, "Received: warmup_epochs=3"),
        ({"augment": "maybe"}, "Received: augment='maybe'"),
    ],
)
def test_bad_training_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        classifiers.Recipe(**{"epochs": 2, "batch_size": 2, "learning_rate": 1e-3, **kwargs})


def test_augmentation_changes_the_images_but_not_the_labels():
    rng = np.random.default_rng(3)
    x = rng.random((20, 32, 32, 3)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 20)]
    recipe = classifiers.Recipe(epochs=1, batch_size=20, augment=True)
    (images, labels), = list(classifiers.training_batches(x, y, recipe, seed=1).as_numpy_iterator())
    plain, = [b for b in classifiers.training_batches(x, y, classifiers.Recipe(epochs=1, batch_size=20), seed=1)
              .as_numpy_iterator()]
    np.testing.assert_array_equal(plain[1], labels)  # the same shuffle, the same labels
    assert images.shape == plain[0].shape and not np.array_equal(images, plain[0])
    # every augmented image is a 32x32 window of its reflect-padded original, maybe mirrored
    for image, original in zip(images, plain[0]):
        padded = np.pad(original, ((4, 4), (4, 4), (0, 0)), mode="reflect")
        windows = [padded[i:i + 32, j:j + 32] for i in range(9) for j in range(9)]
        assert any(np.array_equal(image, w) or np.array_equal(image, w[:, ::-1]) for w in windows)
    again, = list(classifiers.training_batches(x, y, recipe, seed=1).as_numpy_iterator())
    np.testing.assert_array_equal(again[0], images)  # seeded


def test_no_two_batches_of_neighbouring_training_seeds_share_an_augmentation_stream():
    """Every (training seed, batch) gets its own crop and flip streams: seeding the flips with seed + 1 would
    give seed s's flips at batch k the crops' stream of seed s + 1 at batch k + 1."""
    from classifiers.recipe import augmentation_seeds
    streams = [tuple(int(v) for v in stream.numpy()) for seed in range(4) for step in range(6)
               for stream in augmentation_seeds(tf.constant([seed, step], tf.int64))]
    assert len(set(streams)) == len(streams) == 48


def test_every_epoch_draws_new_augmentations():
    """One image, one batch per epoch: the same batch every epoch but for its augmentation draws."""
    x = np.random.default_rng(6).random((1, 32, 32, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[1]]
    recipe = classifiers.Recipe(epochs=12, batch_size=1, augment=True)
    batches = list(classifiers.training_batches(x, y, recipe, seed=2).as_numpy_iterator())
    assert len(batches) == 12 == recipe.epochs * classifiers.steps_per_epoch(len(x), recipe)
    distinct = {bytes(images) for images, _ in batches}
    assert len(distinct) >= 6  # 162 crops-and-flips to draw from; a draw repeated each epoch gives 1


def test_recalibrated_batchnorm_statistics_are_the_training_set_statistics():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    normalised = keras.layers.BatchNormalization(momentum=0.99, name="bn")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(normalised)))
    x = np.random.default_rng(4).normal(3.0, 2.0, (96, 32, 32, 3)).astype(np.float32)
    assert classifiers.recalibrate_batchnorm(model, x, batch_size=32, seed=None) == 1
    layer = model.get_layer("bn")
    np.testing.assert_allclose(layer.moving_mean.numpy(), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    batch_variances = np.mean([x[i:i + 32].var(axis=(0, 1, 2)) for i in range(0, 96, 32)], axis=0)
    np.testing.assert_allclose(layer.moving_variance.numpy(), batch_variances, rtol=1e-4)
    assert layer.momentum == 0.99  # restored
    classifiers.recalibrate_batchnorm(model, x, batch_size=96, seed=0)  # one batch: exactly the set's variance
    np.testing.assert_allclose(layer.moving_variance.numpy(), x.var(axis=(0, 1, 2)), rtol=1e-4)


def test_recalibration_shuffles_so_batches_hold_the_variance_between_classes():
    """Images stored class by class: batches in that order see one class each and miss the spread between them."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    normalised = keras.layers.BatchNormalization(name="bn")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(normalised)))
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(mean, 1.0, (64, 8, 8, 1)) for mean in (-2.0, 0.0, 2.0)]).astype(np.float32)
    variance = x.var()  # 1 within each class + 8/3 between them
    classifiers.recalibrate_batchnorm(model, x, batch_size=32, seed=None)
    in_class_order = float(model.get_layer("bn").moving_variance.numpy()[0])
    classifiers.recalibrate_batchnorm(model, x, batch_size=32, seed=3)
    shuffled = float(model.get_layer("bn").moving_variance.numpy()[0])
    assert abs(in_class_order - 1.0) < 0.1  # within-class only
    assert abs(shuffled - variance) < 0.1 * variance < abs(in_class_order - variance)
    np.testing.assert_allclose(model.get_layer("bn").moving_mean.numpy(), [x.mean()], atol=1e-5)  # order-free


def test_fit_sees_only_the_training_images(monkeypatch):
    seen = {}

    def fit(self, data, **kwargs):
        seen["batches"] = [b[0] for b in data.as_numpy_iterator()]
        seen["kwargs"] = kwargs
        return keras.callbacks.History()

    monkeypatch.setattr(keras.Model, "fit", fit)
    x = np.random.default_rng(5).random((10, 32, 32, 3)).astype(np.float32)
    classifiers.train(classifiers.build("small_cnn", 2, width=4), x, np.arange(10) % 2,
                      classifiers.Recipe(epochs=2, batch_size=4))
    assert "validation_data" not in seen["kwargs"] and "validation_split" not in seen["kwargs"]
    # one stream of both epochs, 3 batches each (4, 4, 2): fit must be told where an epoch ends
    assert (seen["kwargs"]["epochs"], seen["kwargs"]["steps_per_epoch"]) == (2, 3)
    assert [len(b) for b in seen["batches"]] == [4, 4, 2, 4, 4, 2]
    for epoch in (seen["batches"][:3], seen["batches"][3:]):  # every training image once per epoch, nothing else
        assert sorted(map(bytes, np.concatenate(epoch))) == sorted(map(bytes, x))


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="Received: model='vgg16'"):
        classifiers.build("vgg16", num_classes=3)


def test_initial_weights_from_a_local_file(tmp_path):
    """The `weights` setting: a file made here (tests never download ImageNet weights)."""
    from workflow import profiles
    from workflow.steps.train import initial_weights

    keras.utils.set_random_seed(1)
    source = classifiers.build("small_cnn", num_classes=3, width=4)
    path = tmp_path / "start.weights.h5"
    source.save_weights(path)
    keras.utils.set_random_seed(2)
    loaded = classifiers.build("small_cnn", num_classes=3, width=4, weights=str(path))
    for a, b in zip(source.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    settings = profiles.resolve("quick", {"weights": str(path)})
    assert settings["profile"] == "quick+custom" and settings["weights"] == str(path)
    params = initial_weights(str(path))
    assert params == {"weights": "start.weights.h5",  # the file enters the step key by its bytes
                      "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}
    with pytest.raises(ValueError, match="Received: weights='nowhere.weights.h5'"):
        classifiers.build("small_cnn", num_classes=3, weights="nowhere.weights.h5")
    with pytest.raises(ValueError, match="resnet50 only"):
        classifiers.build("small_cnn", num_classes=3, weights="imagenet")
