"""What attacks run against: a logit function with a known input shape and class count.

A Keras model is one; so is a defended pipeline ``x -> model(T(x))``. Both are
wrapped once in a ``Classifier`` so that compiled estimators built for it are
cached on it and reused by every later attack.
"""

from __future__ import annotations

import weakref
from typing import Callable

import keras
import tensorflow as tf

LogitFn = Callable[[tf.Tensor], tf.Tensor]


class Classifier:
    """``forward(images) -> logits`` for images of ``input_shape`` in [0, 1]."""

    def __init__(self, forward: LogitFn, input_shape: tuple[int, ...], num_classes: int, name: str = "classifier"):
        self.forward = forward
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes = int(num_classes)
        self.name = name
        self.estimators: dict = {}  # compiled ART estimators, keyed by head ("logits"/"probabilities")
        self.compiled: dict = {}  # other compiled functions (fast attack paths)

    def __call__(self, images, training: bool = False) -> tf.Tensor:
        # ART calls estimator.model(x, training=...); attacks always run in inference mode.
        return self.forward(images)

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, input_shape={self.input_shape}, num_classes={self.num_classes})"


_WRAPPED: "weakref.WeakKeyDictionary[keras.Model, Classifier]" = weakref.WeakKeyDictionary()


def as_classifier(model) -> Classifier:
    """A ``Classifier`` for a Keras model (cached per model) or the classifier itself."""
    if isinstance(model, Classifier):
        return model
    if not isinstance(model, keras.Model):
        raise TypeError(f"Attacks need a keras.Model or an attacks.Classifier. Received: {type(model).__name__}")
    if model not in _WRAPPED:
        shape = tuple(model.inputs[0].shape[1:])
        if any(d is None for d in shape):
            raise ValueError(f"Attacks need a fixed input shape. Received: input shape {shape} on '{model.name}'")
        weak = weakref.ref(model)  # the cache entry must not keep its own key (the model) alive
        _WRAPPED[model] = Classifier(
            lambda images: weak()(images, training=False), shape, model.outputs[0].shape[-1], model.name
        )
    return _WRAPPED[model]
