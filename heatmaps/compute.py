"""Batched, compiled heatmap computation.

``explainer`` returns one ``tf.function`` per (model, method, parameters,
image shape), cached for the model's lifetime; its input signature has a free
batch axis, so calls with new batch sizes or new images never retrace.
"""

from __future__ import annotations

import weakref
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from heatmaps.gradient import PREDICTED
from heatmaps.registry import get, resolve_params

_COMPILED: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()

Progress = Callable[[int, int], None]


def explainer(model: keras.Model, method: str, **params) -> tf.types.experimental.PolymorphicFunction:
    """Compiled ``(images, targets) -> heatmaps`` for ``model``; target -1 = predicted class."""
    resolved = resolve_params(method, params)
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if shape is None or any(dim is None for dim in shape):
        raise ValueError(
            f"Heatmaps need a model with a fixed input shape. Received: input shape {shape} on '{model.name}'"
        )
    key = (method, tuple(sorted(resolved.items())), shape)
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        core = get(method).build(model, **resolved)
        cache[key] = tf.function(
            core,
            input_signature=(
                tf.TensorSpec((None, *shape), tf.float32, name="images"),
                tf.TensorSpec((None,), tf.int32, name="targets"),
            ),
            reduce_retracing=True,
        )
    return cache[key]


def compute(
    model: keras.Model,
    images: np.ndarray,
    method: str,
    labels: np.ndarray | None = None,
    batch_size: int = 128,
    progress: Progress | None = None,
    **params,
) -> np.ndarray:
    """Heatmaps of ``method`` for every image, shape (N, H, W, C), float32.

    Args:
        model: Keras model whose output is logits (a softmax head is removed).
        images: (N, H, W, C) images in the model's input range.
        method: one of ``heatmaps.METHODS``.
        labels: class explained per image; ``None`` explains the predicted
            class (use this at test time: true labels would leak the answer).
        batch_size: images per compiled call.
        progress: optional ``progress(done, total)`` callback after each batch.
        **params: method parameters (``epsilon`` for lrp_eps; ``norm``, ``eps``,
            ``eps_step``, ``max_iter`` for pgd).
    """
    fn = explainer(model, method, **params)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1:] != tuple(model.inputs[0].shape[1:]):
        raise ValueError(
            f"images must be shaped (N, {', '.join(str(d) for d in model.inputs[0].shape[1:])}). "
            f"Received: images.shape={images.shape}"
        )
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    n = len(images)
    if labels is None:
        targets = np.full(n, PREDICTED, dtype=np.int32)
    else:
        targets = np.asarray(labels).astype(np.int32).reshape(-1)
        if len(targets) != n:
            raise ValueError(f"labels must have one entry per image. Received: {len(targets)} labels for {n} images")
    out = np.empty_like(images)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        out[start:stop] = fn(images[start:stop], targets[start:stop]).numpy()
        if progress is not None:
            progress(stop, n)
    return out
