"""Training and prediction for logit-output classifiers."""

from __future__ import annotations

import weakref
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from classifiers.recipe import Recipe, optimizer, recalibrate_batchnorm, steps_per_epoch, training_batches


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic.

    Same seed, same machine, same results (oneDNN included: checked here).
    """
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def compile_classifier(model: keras.Model, recipe: Recipe, steps_per_epoch: int) -> keras.Model:
    model.compile(
        optimizer=optimizer(recipe, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def train(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    recipe: Recipe,
    seed: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> keras.callbacks.History:
    """Train ``model`` on ``x_train`` with ``recipe``; the last epoch is the model.

    Only training images are seen: there is no validation set to select with.
    Batches are shuffled and augmented with ``seed``; with
    :func:`make_deterministic` the same seed gives the same weights.
    """
    x_train = np.asarray(x_train, dtype=np.float32)
    y_train = np.asarray(y_train).astype(np.int64).reshape(-1)
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise ValueError(f"x_train and y_train must hold the same, non-zero number of images. "
                         f"Received: {len(x_train)} images, {len(y_train)} labels")
    num_classes = int(model.outputs[0].shape[-1])
    steps = steps_per_epoch(len(x_train), recipe)
    compile_classifier(model, recipe, steps)
    onehot = np.eye(num_classes, dtype=np.float32)[y_train]
    history = model.fit(training_batches(x_train, onehot, recipe, seed), epochs=recipe.epochs, steps_per_epoch=steps,
                        shuffle=False, callbacks=list(callbacks), verbose=verbose)
    if recipe.recalibrate_bn:
        recalibrate_batchnorm(model, x_train, batch_size=max(recipe.batch_size, 128), seed=seed)
    return history


_FORWARD: "weakref.WeakKeyDictionary[keras.Model, Callable]" = weakref.WeakKeyDictionary()


def _forward(model: keras.Model) -> Callable:
    """``model(x, training=False)`` as one compiled function per model (traced once, any batch size).

    ``model.predict`` builds a ``tf.data`` pipeline on every call, which costs more
    than the forward pass itself for the few hundred images of a test set.
    """
    if model not in _FORWARD:
        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        weak = weakref.ref(model)  # the cache entry must not keep its own key (the model) alive
        _FORWARD[model] = tf.function(lambda x: weak()(x, training=False), input_signature=(spec,))
    return _FORWARD[model]


def predict_logits(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits in inference mode, batched through one compiled function per model."""
    images = np.asarray(images, dtype=np.float32)
    forward = _forward(model)
    outputs = [forward(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.outputs[0].shape[-1]), np.float32)


def predict_labels(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return predict_logits(model, images, batch_size).argmax(axis=-1)
