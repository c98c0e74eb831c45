"""Image classifiers; every one outputs logits (no softmax head).

* ``resnet50``: Keras' ResNet50 exactly as ``keras.applications`` builds it, the
  thesis' "provided keras ResNet50" (23.6 M parameters on 32x32x3).
* ``small_cnn``: a compact residual CNN (conv + BN + ReLU, one residual Add,
  max pooling, global average pooling, dense) for tests, sweeps and demos. It
  contains every layer type that ResNet50 does, so explanation rules tested on
  it are the ones ResNet50 uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

import checks

INPUT_SHAPE = (32, 32, 3)

# Caffe-style ImageNet preprocessing of keras.applications.resnet50 for inputs
# in [0, 1]: x*255, RGB -> BGR, minus the channel means.
_IMAGENET_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def resnet50(num_classes: int, input_shape=INPUT_SHAPE, weights: str | None = None) -> keras.Model:
    """Keras' ResNet50 with a ``num_classes`` logit head.

    ``weights=None`` (default, the thesis): random initialisation, inputs in
    [0, 1] fed directly. ``weights="imagenet"``: ImageNet features (Keras
    downloads and caches them; never used in tests) behind a fixed 1x1
    convolution that applies ResNet50's own preprocessing, and a new head.
    """
    if weights is None:
        return keras.applications.ResNet50(
            weights=None, input_shape=tuple(input_shape), classes=num_classes,
            classifier_activation=None, name="resnet50",
        )
    if weights != "imagenet":
        raise ValueError(f"weights must be None or 'imagenet'. Received: weights={weights!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    preprocess = keras.layers.Conv2D(3, 1, name="imagenet_preprocess", trainable=False)
    x = preprocess(inputs)
    kernel = np.zeros((1, 1, 3, 3), dtype=np.float32)
    for rgb, bgr in ((0, 2), (1, 1), (2, 0)):
        kernel[0, 0, rgb, bgr] = 255.0
    preprocess.set_weights([kernel, -_IMAGENET_BGR_MEAN])
    backbone = keras.applications.ResNet50(
        weights="imagenet", include_top=False, input_shape=tuple(input_shape), pooling="avg"
    )
    outputs = keras.layers.Dense(num_classes, name="predictions")(backbone(x))
    return keras.Model(inputs, outputs, name="resnet50_imagenet")


def small_cnn(num_classes: int, input_shape=INPUT_SHAPE, width: int = 32) -> keras.Model:
    """A ~40k-parameter residual CNN that trains in seconds on 2 CPU cores."""
    inputs = keras.Input(shape=tuple(input_shape), name="images")

    def conv_bn(x, filters, name, strides=1, relu=True):
        x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", name=f"{name}_conv")(x)
        # momentum 0.9: moving statistics settle within the few hundred steps of a quick run
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x

    x = conv_bn(inputs, width, "stem")
    x = keras.layers.MaxPooling2D(2, name="stem_pool")(x)
    shortcut = x
    x = conv_bn(x, width, "block1_1")
    x = conv_bn(x, width, "block1_2", relu=False)
    x = keras.layers.Add(name="block1_add")([shortcut, x])
    x = keras.layers.Activation("relu", name="block1_out")(x)
    x = conv_bn(x, 2 * width, "block2", strides=2)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., keras.Model]
    description: str


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("resnet50", resnet50, "Keras ResNet50, random init (the thesis model)"),
        Architecture("small_cnn", small_cnn, "compact residual CNN for tests, sweeps and demos"),
    )
}


WEIGHTS = ("none", "imagenet")  # or the path of a Keras weights file (``*.weights.h5``) made for the model


def check_weights(weights: str) -> str:
    """``none``, ``imagenet`` or an existing ``.weights.h5`` file."""
    text = str(weights)
    if text in WEIGHTS or (text.endswith(".weights.h5") and Path(text).is_file()):
        return text
    raise ValueError("weights must be 'none', 'imagenet' or an existing Keras weights file (*.weights.h5). "
                     f"Received: weights={weights!r}")


def build(name: str, num_classes: int, input_shape=INPUT_SHAPE, weights: str = "none", **options) -> keras.Model:
    """Build the architecture called ``name`` with a ``num_classes`` logit output.

    ``weights``: ``none`` (random initialisation), ``imagenet`` (ResNet50's
    ImageNet features, downloaded by Keras once: never in tests) or a weights
    file saved from a model of the same architecture and class count.
    """
    checks.one_of("model", name, ARCHITECTURES)
    weights = check_weights(weights)
    num_classes = checks.positive_int("num_classes", num_classes, minimum=2)
    if weights == "imagenet":
        if name != "resnet50":
            raise ValueError(f"ImageNet weights exist for resnet50 only. Received: model={name!r}, weights='imagenet'")
        return ARCHITECTURES[name].build(num_classes, input_shape=input_shape, weights="imagenet", **options)
    model = ARCHITECTURES[name].build(num_classes, input_shape=input_shape, **options)
    if weights != "none":
        model.load_weights(weights)
    return model
