"""Whole-attack compiled implementations of FGSM (L-inf) and NewtonFool.

They reproduce ART's algorithms step for step (``FastGradientMethod`` with
``norm=inf``, ``NewtonFool``) and are checked against them in the tests and
in ``bench/attacks_bench.py``; they are faster than ART even on a compiled
estimator because they skip ART's extra passes (FGSM's success-rate
predictions; NewtonFool's separate predict and gradient calls per step).
Their arithmetic around the compiled passes is ART's own, in NumPy float32,
so outputs match ART's: ReLU networks amplify last-bit differences (a flipped
activation changes the next gradient), so "close" would not stay close over
100 NewtonFool steps.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from attacks.classifier import Classifier
from attacks.estimator import compiled_estimator

Progress = Callable[[int, int], None]

NEWTONFOOL_TOLERANCE = 10e-8  # ART's denominator floor


def fgsm_linf(
    classifier: Classifier, images: np.ndarray, labels: np.ndarray, eps: float, batch_size: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """ART's FGSM (L-inf, untargeted, no random init), with ART's float32 arithmetic."""
    estimator = compiled_estimator(classifier, "logits", batch_size)
    x = np.asarray(images, dtype=np.float32)
    out = np.empty_like(x)
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        grad = estimator.loss_gradient(batch, labels[start:start + batch_size])
        grad = np.where(np.isnan(grad), 0.0, grad)
        step = eps * (np.ones_like(grad) * np.sign(grad))
        adv = np.clip(batch + step, 0.0, 1.0)
        delta = adv - batch
        delta = (np.sign(delta) * np.minimum(np.abs(delta), eps)).astype(np.float32)  # ART's projection
        out[start:start + batch_size] = batch + delta
        if progress is not None:
            progress(min(start + batch_size, len(x)), len(x))
    return out


def _score_and_gradient_fn(classifier: Classifier):
    """Compiled: probabilities of the batch and d p[label] / dx, in ONE forward/backward pass."""
    if "score_and_gradient" not in classifier.compiled:
        spec = tf.TensorSpec((None, *classifier.input_shape), tf.float32)

        @tf.function(input_signature=(spec, tf.TensorSpec((None,), tf.int32)))
        def run(x, labels):
            with tf.GradientTape() as tape:
                tape.watch(x)
                probabilities = tf.nn.softmax(classifier.forward(x), axis=-1)
                score = tf.gather(probabilities, labels, axis=1, batch_dims=1)
            return probabilities, tape.gradient(score, x)

        classifier.compiled["score_and_gradient"] = run
    return classifier.compiled["score_and_gradient"]


def newtonfool(
    classifier: Classifier, images: np.ndarray, max_iter: int, eta: float, batch_size: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """ART's NewtonFool (Jang et al., 2017) on softmax probabilities; moves away from the predicted class.

    ART calls ``predict`` and then ``class_gradient`` at every step; here one
    compiled pass returns both (its probabilities are bit-identical to a
    separate prediction), and the step arithmetic is ART's, in NumPy float32,
    so the result equals ART's to the last bit on this machine.
    """
    run = _score_and_gradient_fn(classifier)
    x = np.asarray(images, dtype=np.float32)
    estimator = compiled_estimator(classifier, "probabilities", batch_size)
    predicted = np.argmax(estimator.predict(x), axis=1).astype(np.int32)
    num_classes = classifier.num_classes
    out = np.empty_like(x)
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size].copy()
        labels = predicted[start:start + batch_size]
        norm_batch = np.linalg.norm(np.reshape(batch, (batch.shape[0], -1)), axis=1)
        rows = np.arange(len(batch))
        for _ in range(max_iter):
            probabilities, grads = run(batch, labels)
            score = probabilities.numpy()[rows, labels]
            grads = grads.numpy()
            norm_grad = np.linalg.norm(np.reshape(grads, (batch.shape[0], -1)), axis=1)
            theta = np.minimum.reduce([eta * norm_batch * norm_grad, score - 1.0 / num_classes])
            denom = norm_grad**2
            denom[denom < NEWTONFOOL_TOLERANCE] = NEWTONFOOL_TOLERANCE
            shape = (-1,) + (1,) * (grads.ndim - 1)
            batch += (-theta.reshape(shape) * grads) / denom.reshape(shape)
        out[start:start + batch_size] = np.clip(batch, 0.0, 1.0)
        if progress is not None:
            progress(min(start + batch_size, len(x)), len(x))
    return out


def fgsm_fast_path(classifier: Classifier, images: np.ndarray, y: np.ndarray, batch_size: int,
                   progress: Progress | None, norm: str, eps: float, label_source: str) -> np.ndarray | None:
    """The ``fgsm`` record's fast path: L-inf only (other norms run ART's attack).

    ``y`` are the labels to leave, already the predictions where ``label_source="predicted"``.
    """
    return fgsm_linf(classifier, images, y, eps, batch_size, progress) if norm == "inf" else None


def newtonfool_fast_path(classifier: Classifier, images: np.ndarray, y, batch_size: int,
                         progress: Progress | None, max_iter: int, eta: float) -> np.ndarray:
    """The ``newtonfool`` record's fast path (``y`` unused: it leaves the predicted class)."""
    return newtonfool(classifier, images, max_iter, eta, batch_size, progress)
