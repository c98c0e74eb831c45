"""LRP with the epsilon rule, as a modified gradient (Input x modified Gradient).

Rules (Bach et al., 2015; Montavon et al., 2019), applied to a Keras graph:

* BatchNormalization is folded into the preceding convolution or dense layer
  (canonization): the pair is one linear layer whose output ``z`` is the BN
  output. A BN without such a predecessor is a linear layer of its own.
* Epsilon rule at EVERY linear layer (Conv, Dense, average pooling, the first
  layer included), biases included in ``z``:
  ``R_i = sum_j x_i w_ij / (z_j + eps * sign(z_j)) * R_j`` with sign(0) = +1.
* An Add (or Average) layer is linear with unit weights: each input receives
  relevance in proportion to its contribution to the epsilon-stabilised sum.
* ReLU and other elementwise activations pass relevance unchanged.
* Max pooling passes relevance to the winner; padding, cropping, reshaping and
  dropout (inference) route it like the gradient does.
* Relevance starts at the output as the target logit (pre-softmax).

Why a gradient computes this: write the relevance at the pre-activation ``z``
of each layer as ``R = z * G``. Then the epsilon rule reads
``R_i = x_i * sum_j w_ij * (G_j * z_j / (z_j + eps_j))``, i.e. an ordinary
backward pass in which the gradient arriving at every linear layer's output
is multiplied by ``z / (z + eps * sign(z))``. ReLU's own derivative already
passes ``R`` unchanged (``a * G_a = z * G_z``); other activations ``a = f(z)``
get the backward factor ``f(z) / z`` instead of ``f'(z)``. The input relevance
is ``x * G_x``. One forward and one backward pass, like Input x Gradient.
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import tensorflow as tf

from heatmaps import model_graph
from heatmaps.gradient import is_softmax, target_gradient, without_activation

DEFAULT_EPSILON = 1e-7

LINEAR_LAYERS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Dense,
)
AVERAGE_POOLING_LAYERS = (
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)
SUM_LAYERS = (keras.layers.Add, keras.layers.Average)
ROUTING_LAYERS = (
    keras.layers.InputLayer,
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.Concatenate,
    keras.layers.Identity,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)
ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)


def check_epsilon(epsilon: float) -> float:
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ValueError(f"epsilon must be a positive number. Received: epsilon={epsilon!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"epsilon must be a positive, finite number. Received: epsilon={epsilon!r}")
    return value


def epsilon_rule(epsilon: float) -> Callable[[tf.Tensor], tf.Tensor]:
    """Identity forward; backward multiplies by ``z / (z + epsilon * sign(z))``."""

    @tf.custom_gradient
    def stabilise(z):
        def backward(upstream):
            stabiliser = tf.where(z >= 0, epsilon, -epsilon)
            return upstream * (z / (z + stabiliser))

        return tf.identity(z), backward

    return stabilise


def relevance_passthrough(activation: Callable) -> Callable[[tf.Tensor], tf.Tensor]:
    """``activation`` forward; backward factor ``f(z) / z`` so that ``R_out = R_in``."""

    @tf.custom_gradient
    def passthrough(z):
        a = activation(z)

        def backward(upstream):
            return upstream * tf.math.divide_no_nan(a, z)

        return a, backward

    return passthrough


def _activation_rule(activation, layer, is_output) -> Callable[[tf.Tensor], tf.Tensor]:
    if activation is None or activation is keras.activations.linear:
        return tf.identity
    if activation is keras.activations.relu:
        return activation  # relu'(z) = f(z)/z for z != 0: the native gradient is the rule
    if is_softmax(activation):
        if is_output:
            return tf.identity  # relevance starts at the logits
        raise ValueError(
            f"lrp_eps supports softmax only as the model's output. Received: layer '{layer.name}'"
        )
    return relevance_passthrough(activation)


class _Rules:
    """The per-layer callables that make a model's backward pass compute LRP-epsilon."""

    def __init__(self, model: keras.Model, stabilise: Callable, outermost: bool = True):
        self.stabilise = stabilise
        self.consumers = model_graph.consumers(model)
        self.outputs = {id(layer) for layer in model_graph.output_layers(model)} if outermost else set()
        self.calls = {}
        for layer in model_graph.functional_graph(model).operations:
            self.calls[id(layer)] = self._rule_for(layer)

    def __call__(self, layer):
        return self.calls[id(layer)]

    def folds_into_batch_norm(self, layer) -> bool:
        after = self.consumers.get(id(layer), [])
        activation = getattr(layer, "activation", None)
        return (
            len(after) == 1
            and isinstance(after[0], keras.layers.BatchNormalization)
            and (activation is None or activation is keras.activations.linear)
        )

    def _rule_for(self, layer):
        is_output = id(layer) in self.outputs
        call = model_graph.inference_call(layer)
        if isinstance(layer, LINEAR_LAYERS):
            linear = without_activation(layer)
            activation = _activation_rule(getattr(layer, "activation", None), layer, is_output)
            if self.folds_into_batch_norm(layer):
                return linear  # the epsilon rule is applied after the folded BN
            return lambda *a, **k: activation(self.stabilise(linear(*a, **k)))
        if isinstance(layer, (keras.layers.BatchNormalization, *AVERAGE_POOLING_LAYERS, *SUM_LAYERS)):
            return lambda *a, **k: self.stabilise(call(*a, **k))
        if isinstance(layer, ROUTING_LAYERS):
            return call
        if isinstance(layer, keras.layers.Activation):
            return _activation_rule(layer.activation, layer, is_output)
        if isinstance(layer, keras.layers.Softmax):
            return _activation_rule(keras.activations.softmax, layer, is_output)
        if isinstance(layer, ACTIVATION_LAYERS):
            return relevance_passthrough(call)
        if isinstance(layer, keras.Model):
            inner = _Rules(layer, self.stabilise, outermost=False)
            return lambda inputs, **k: model_graph.run(layer, inputs, inner)
        raise ValueError(
            f"lrp_eps has no rule for layer '{layer.name}' of type {type(layer).__name__}. "
            "Supported: Conv/Dense (+BatchNormalization), Add/Average, average and max pooling, "
            "padding/cropping/reshaping/dropout, elementwise activations."
        )


def lrp_epsilon(model: keras.Model, epsilon: float = DEFAULT_EPSILON) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Heatmap = LRP-epsilon relevance of each input value for the target logit."""
    epsilon = check_epsilon(epsilon)
    rules = _Rules(model, epsilon_rule(epsilon))

    def forward(images):
        return model_graph.run(model, images, rules)

    return lambda images, targets: images * target_gradient(forward, images, targets)
