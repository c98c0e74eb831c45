"""PGD heatmap: per-value magnitude |delta| of a PGD perturbation.

Untargeted projected gradient descent (Madry et al., 2018) moves each image
away from its target class by ascending the cross-entropy of that class,
starting from delta = 0 (no random start, so the heatmap is deterministic),
and keeps ``x + delta`` inside [0, 1]. The heatmap is ``|delta|``.

Default norm is L2 (eps 0.5, the usual CIFAR-10 L2 budget, 10 steps of
eps/4). An L-inf PGD drives almost every value to +-eps, so its |delta| is a
near-constant map whose top-k pixels are mostly ties; the L2 step follows the
gradient's magnitude and ranks pixels. ``norm="inf"`` is available.
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import tensorflow as tf

from heatmaps.gradient import logits_forward, resolve_targets

DEFAULTS = {"norm": "2", "eps": 0.5, "eps_step": 0.125, "max_iter": 10}
NORMS = ("2", "inf")


def normalise_norm(norm) -> str:
    """"L2", "l2", 2 -> "2"; "Inf", "np.inf" -> "inf" (other values are returned as text, for the check)."""
    return str(norm).lower().replace("l", "").replace("np.inf", "inf")


def check_params(norm, eps, eps_step, max_iter) -> dict:
    norm = normalise_norm(norm)
    if norm not in NORMS:
        raise ValueError(f"PGD norm must be one of {NORMS}. Received: norm={norm!r}")
    for name, value in (("eps", eps), ("eps_step", eps_step)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"PGD {name} must be a positive number. Received: {name}={value!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"PGD max_iter must be a positive integer. Received: max_iter={max_iter!r}")
    return {"norm": norm, "eps": float(eps), "eps_step": float(eps_step), "max_iter": int(max_iter)}


def _per_sample_l2(values: tf.Tensor) -> tf.Tensor:
    return tf.sqrt(tf.reduce_sum(tf.square(values), axis=[1, 2, 3], keepdims=True))


def pgd_perturbation(
    forward: Callable[[tf.Tensor], tf.Tensor],
    images: tf.Tensor,
    targets: tf.Tensor,
    norm: str,
    eps: float,
    eps_step: float,
    max_iter: int,
) -> tf.Tensor:
    """The PGD perturbation ``delta`` (same shape as images)."""
    targets = resolve_targets(forward(images), targets)
    delta = tf.zeros_like(images)
    for _ in tf.range(max_iter):
        with tf.GradientTape() as tape:
            tape.watch(delta)
            logits = forward(images + delta)
            loss = tf.reduce_sum(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
            )
        grad = tape.gradient(loss, delta)
        if norm == "inf":
            delta = tf.clip_by_value(delta + eps_step * tf.sign(grad), -eps, eps)
        else:
            delta = delta + eps_step * grad / (_per_sample_l2(grad) + 1e-12)
            delta = delta * tf.minimum(1.0, eps / (_per_sample_l2(delta) + 1e-12))
        delta = tf.clip_by_value(images + delta, 0.0, 1.0) - images
    return delta


def pgd(model: keras.Model, norm=DEFAULTS["norm"], eps=DEFAULTS["eps"], eps_step=DEFAULTS["eps_step"],
        max_iter=DEFAULTS["max_iter"]) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Heatmap = |delta| of an untargeted PGD against the target class."""
    params = check_params(norm, eps, eps_step, max_iter)
    forward = logits_forward(model)
    return lambda images, targets: tf.abs(pgd_perturbation(forward, images, targets, **params))
