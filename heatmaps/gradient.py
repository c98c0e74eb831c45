"""Gradient and Input x Gradient heatmaps, and the target-logit gradient they share.

Every method explains a *target logit*: the pre-softmax score of the target
class. A target of -1 means "the class the model predicts", which is what
callers use at test time (true labels would leak the answer).
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from heatmaps import model_graph

Forward = Callable[[tf.Tensor], tf.Tensor]

PREDICTED = -1


def resolve_targets(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """Replace every target of -1 with the model's predicted class."""
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    targets = tf.cast(targets, tf.int32)
    return tf.where(targets < 0, predicted, targets)


def is_softmax(activation) -> bool:
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def logits_forward(model: keras.Model) -> Forward:
    """A function computing the model's pre-softmax outputs in inference mode.

    Models that end in a softmax (a Dense with ``activation="softmax"`` or a
    final ``Activation("softmax")``/``Softmax`` layer) are run with that
    softmax removed; models that output logits are called as they are.
    """
    outputs = model_graph.output_layers(model)
    if len(outputs) != 1:
        raise ValueError(
            f"Heatmaps need a model with one output. Received: {len(outputs)} outputs on '{model.name}'"
        )
    last = outputs[0]
    if isinstance(last, keras.layers.Softmax) or is_softmax(getattr(last, "activation", None)):
        return lambda images: model_graph.run(model, images, _without_softmax(last))
    return lambda images: model(images, training=False)


def _without_softmax(last: keras.layers.Layer):
    def operation_fn(layer):
        if layer is not last:
            return model_graph.inference_call(layer)
        if isinstance(layer, (keras.layers.Softmax, keras.layers.Activation)):
            return lambda inputs, **kwargs: inputs
        return without_activation(layer)

    return operation_fn


def without_activation(layer: keras.layers.Layer) -> Callable:
    """``layer`` called with its built-in activation replaced by the identity."""

    def call(*args, **kwargs):
        saved = layer.activation
        layer.activation = keras.activations.linear
        try:
            return model_graph.inference_call(layer)(*args, **kwargs)
        finally:
            layer.activation = saved

    return call


def target_gradient(forward: Forward, images: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """d(target logit)/d(images), one backward pass for the whole batch.

    Samples are independent in inference mode, so the gradient of the summed
    target logits is the per-sample gradient.
    """
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = forward(images)
        chosen = resolve_targets(logits, targets)
        score = tf.reduce_sum(tf.gather(logits, chosen, axis=1, batch_dims=1))
    return tape.gradient(score, images)


def gradient(model: keras.Model) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Heatmap = d(target logit)/d(input)."""
    forward = logits_forward(model)
    return lambda images, targets: target_gradient(forward, images, targets)


def input_x_gradient(model: keras.Model) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Heatmap = input * d(target logit)/d(input)."""
    forward = logits_forward(model)
    return lambda images, targets: images * target_gradient(forward, images, targets)
