"""An ART ``TensorFlowV2Classifier`` whose every model call is a compiled ``tf.function``.

ART's stock estimator runs ``loss_gradient`` and ``class_gradient`` eagerly,
and ``class_gradient`` with per-sample labels does one forward and backward
pass per distinct label. ``CompiledClassifier`` keeps ART's interface and
semantics (same shapes, same loss reduction, same label handling) and runs
each call as one compiled pass per batch with a fixed input signature, so
every ART attack that uses an estimator gets the speed-up without changes.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf
from art.estimators.classification import TensorFlowV2Classifier

from attacks.classifier import Classifier

HEADS = ("logits", "probabilities")


class CompiledClassifier(TensorFlowV2Classifier):
    """ART estimator over ``classifier`` with compiled predict and gradients.

    Args:
        classifier: logits function with ``input_shape`` and ``num_classes``.
        head: ``"logits"`` (raw outputs, cross-entropy from logits) or
            ``"probabilities"`` (a softmax head; what NewtonFool needs).
        batch_size: images per compiled call.
    """

    def __init__(self, classifier: Classifier, head: str = "logits", batch_size: int = 128):
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}. Received: head={head!r}")
        self.classifier = classifier
        self.head = head
        self._remembered: dict | None = None  # outputs by input bytes, inside remembering_outputs()
        self.compiled_batch_size = int(batch_size)
        if head == "logits":
            outputs = classifier.forward
        else:
            outputs = lambda images: tf.nn.softmax(classifier.forward(images), axis=-1)  # noqa: E731
        self._outputs = outputs
        super().__init__(
            model=OutputHead(outputs),
            nb_classes=classifier.num_classes,
            input_shape=classifier.input_shape,
            loss_object=keras.losses.CategoricalCrossentropy(from_logits=head == "logits"),
            clip_values=(0.0, 1.0),
        )
        spec = tf.TensorSpec((None, *classifier.input_shape), tf.float32)
        from_logits = head == "logits"

        def per_sample_loss(onehot, outputs_):
            return keras.losses.categorical_crossentropy(onehot, outputs_, from_logits=from_logits)

        @tf.function(input_signature=(spec,))
        def predict_fn(x):
            return outputs(x)

        @tf.function(input_signature=(spec, tf.TensorSpec((None,), tf.int32)))
        def label_gradient_fn(x, labels):
            with tf.GradientTape() as tape:
                tape.watch(x)
                chosen = tf.gather(outputs(x), labels, axis=1, batch_dims=1)
            return tape.gradient(chosen, x)

        @tf.function(input_signature=(spec,))
        def all_class_gradients_fn(x):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                out = outputs(x)
                columns = [out[:, k] for k in range(classifier.num_classes)]
            grads = [tape.gradient(column, x) for column in columns]
            return tf.stack(grads, axis=1)

        @tf.function(input_signature=(spec, tf.TensorSpec((None, classifier.num_classes), tf.float32),
                                      tf.TensorSpec((), tf.float32)))
        def loss_gradient_fn(x, onehot, scale):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(per_sample_loss(onehot, outputs(x))) * scale
            return tape.gradient(loss, x)

        @tf.function(input_signature=(spec, tf.TensorSpec((None, classifier.num_classes), tf.float32)))
        def loss_fn(x, onehot):
            return per_sample_loss(onehot, outputs(x))

        self._predict_fn = predict_fn
        self._label_gradient_fn = label_gradient_fn
        self._all_class_gradients_fn = all_class_gradients_fn
        self._loss_gradient_fn = loss_gradient_fn
        self._loss_fn = loss_fn

    # -- batching -----------------------------------------------------------------
    def _batched(self, fn, x, *per_sample, batch_size=None):
        x = np.asarray(x, dtype=np.float32)
        size = int(batch_size or self.compiled_batch_size)
        outs = [
            fn(x[i:i + size], *(a[i:i + size] for a in per_sample)).numpy()
            for i in range(0, len(x), size)
        ]
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

    def _onehot(self, y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 1:
            y = np.eye(self.nb_classes, dtype=np.float32)[y.astype(np.int64)]
        return y.astype(np.float32)

    # -- ART interface --------------------------------------------------------------
    def predict(self, x, batch_size: int = 128, training_mode: bool = False, **kwargs) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self._remembered is None or len(x) == 0:
            return self._batched(self._predict_fn, x)
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x]
        new = [i for i, key in enumerate(keys) if key not in self._remembered]
        if new:
            for i, output in zip(new, self._batched(self._predict_fn, x[new])):
                self._remembered[keys[i]] = output
        return np.stack([self._remembered[key] for key in keys])

    @contextlib.contextmanager
    def remembering_outputs(self) -> Iterator["CompiledClassifier"]:
        """Within the block, ``predict`` computes each distinct input once and answers repeats from memory.

        For score-based attacks, which query the same images again and again
        (ART's SquareAttack predicts every image, then the still-robust ones
        again for their loss, each iteration). The outputs are those of an
        earlier call on the same bytes: equal to recomputing them wherever the
        model's output for an image does not depend on the rest of its batch.
        """
        self._remembered = {}
        try:
            yield self
        finally:
            self._remembered = None

    def class_gradient(self, x, label=None, training_mode: bool = False, **kwargs) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if label is None:
            return self._batched(self._all_class_gradients_fn, x)
        labels = np.asarray(label).astype(np.int32).reshape(-1)
        if labels.size == 1:
            labels = np.full(len(x), int(labels[0]), np.int32)
        if len(labels) != len(x):
            raise ValueError(f"label must be an int or one label per sample. Received: {len(labels)} labels for {len(x)}")
        return self._batched(self._label_gradient_fn, x, labels)[:, None]

    def loss_gradient(self, x, y, training_mode: bool = False, **kwargs) -> np.ndarray:
        # ART reduces its loss over the whole input ("sum_over_batch_size"): same scale here.
        x = np.asarray(x, dtype=np.float32)
        scale = np.float32(1.0 / max(len(x), 1))
        return self._batched(lambda a, b: self._loss_gradient_fn(a, b, scale), x, self._onehot(y))

    def compute_loss(self, x, y, reduction: str = "none", training_mode: bool = False, **kwargs) -> np.ndarray:
        losses = self._batched(self._loss_fn, x, self._onehot(y))
        if reduction == "mean":
            return np.asarray(losses.mean(), dtype=np.float32)
        if reduction == "sum":
            return np.asarray(losses.sum(), dtype=np.float32)
        return losses


class OutputHead:
    """The callable ART keeps as ``estimator.model`` (some ART attacks call it directly)."""

    def __init__(self, outputs):
        self._outputs = outputs

    def __call__(self, x, training: bool = False):
        return self._outputs(x)


def compiled_estimator(classifier: Classifier, head: str = "logits", batch_size: int = 128) -> CompiledClassifier:
    """The ``CompiledClassifier`` for ``classifier`` and ``head``, built once and cached on it."""
    key = (head, int(batch_size))
    if key not in classifier.estimators:
        classifier.estimators[key] = CompiledClassifier(classifier, head=head, batch_size=batch_size)
    return classifier.estimators[key]
