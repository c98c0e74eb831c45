"""A control heatmap: a seeded pseudo-random score per input value, so the keep mask is a random 15%.

It answers whether a heatmap's choice of pixels matters, or whether keeping
any 15% of the image sharp would do as well. The score ignores the model.
It is a function of the image (a hash of its values) and the seed, so the same
image always gets the same mask, different images get different masks (as a
heatmap's masks differ), and a changed image (an attacked one) gets a new mask.

The hash is a counter-based generator (MurmurHash3's 32-bit finaliser over the
value's index, keyed by the image's hash and the seed), written in TensorFlow
integer ops so it runs inside compiled functions and on batches of any size.
"""

from __future__ import annotations

import keras
import tensorflow as tf

GOLDEN = 0x9E3779B1
MASK = 0xFFFFFFFF  # 32-bit arithmetic in int64 tensors (int64 products wrap; their low 32 bits are exact)


def _mul(h: tf.Tensor, constant: int) -> tf.Tensor:
    return tf.bitwise.bitwise_and(h * tf.constant(constant, tf.int64), tf.constant(MASK, tf.int64))


def _mix(h: tf.Tensor) -> tf.Tensor:
    """MurmurHash3's 32-bit finaliser on non-negative int64 values below 2^32."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.int64)))
    h = _mul(h, 0x85EBCA6B)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(13, tf.int64)))
    h = _mul(h, 0xC2B2AE35)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.int64)))


def _add(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.bitwise.bitwise_and(a + b, tf.constant(MASK, tf.int64))


def image_keys(images: tf.Tensor) -> tf.Tensor:
    """One 32-bit key per image, from its values quantised to 1/65535 (a hash of the image content)."""
    flat = tf.reshape(tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 65535.0), tf.int64),
                      (tf.shape(images)[0], -1))
    index = tf.cast(tf.range(tf.shape(flat)[1]), tf.int64)
    mixed = _mix(_add(_mul(flat, GOLDEN), _mix(index + 1)))  # each value mixed with its position
    return _mix(tf.bitwise.bitwise_and(tf.reduce_sum(mixed, axis=1), tf.constant(MASK, tf.int64)))


def random_scores(images: tf.Tensor, seed: int) -> tf.Tensor:
    """Scores in [0, 1), shaped like ``images``: uniform, independent per value, fixed by (image, seed)."""
    images = tf.convert_to_tensor(images, tf.float32)
    keys = tf.bitwise.bitwise_xor(image_keys(images), tf.constant(int(seed) * GOLDEN % 2**32, tf.int64))
    size = tf.reduce_prod(tf.shape(images)[1:])
    index = tf.reshape(tf.cast(tf.range(size), tf.int64), (1, -1))
    bits = _mix(_add(_mix(_add(_mul(index, GOLDEN), keys[:, None])), keys[:, None]))
    scores = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.int64)), tf.float32) / float(2**24)
    return tf.reshape(scores, tf.shape(images))


def random_heatmap(model: keras.Model, seed: int = 0):
    """The ``random`` method's explainer: ``(images, targets) -> scores``; model and targets are ignored."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")

    def explain(images, targets):
        return random_scores(images, int(seed))

    return explain
