"""Training and prediction for logit-output classifiers."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic.

    Same seed, same machine, same results (oneDNN included: checked here).
    """
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def check_training_params(epochs, batch_size, learning_rate) -> tuple[int, int, float]:
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer. Received: epochs={epochs!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    try:
        rate = float(learning_rate)
    except (TypeError, ValueError):
        rate = float("nan")
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"learning_rate must be a positive number. Received: learning_rate={learning_rate!r}")
    return int(epochs), int(batch_size), rate


def compile_classifier(model: keras.Model, learning_rate: float) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def train(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    initial_epoch: int = 0,
    verbose: int = 2,
) -> keras.callbacks.History:
    """Adam on sparse cross-entropy from logits; shuffles with the global seed."""
    epochs, batch_size, learning_rate = check_training_params(epochs, batch_size, learning_rate)
    if not getattr(model, "compiled", False):
        compile_classifier(model, learning_rate)
    return model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True,
        validation_data=validation_data, callbacks=list(callbacks),
        initial_epoch=initial_epoch, verbose=verbose,
    )


def predict_logits(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits in inference mode, batched through one compiled function per model."""
    images = np.asarray(images, dtype=np.float32)
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0))


def predict_labels(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return predict_logits(model, images, batch_size).argmax(axis=-1)
