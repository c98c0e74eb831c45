"""How a classifier is trained: one record whose every field is a setting and a param of every train run.

    recipe = Recipe(epochs=30, batch_size=64, learning_rate=2e-3, optimizer="adamw", weight_decay=0.05,
                    warmup_epochs=2, schedule="cosine", label_smoothing=0.1, augment=True, recalibrate_bn=True)

* ``augment``: on the fly, through ``tf.data``, each batch of the (already
  blurred) training images is reflect-padded by 4 pixels, randomly cropped
  back to its size and randomly flipped left-right; labels never change.
  Seeded, so the same seed gives the same batches.
* ``optimizer``: ``adam``, ``adamw`` (decoupled weight decay) or ``sgd``
  (Nesterov momentum 0.9, decoupled weight decay); ``schedule``: ``constant``
  or ``cosine`` decay to 0 after ``warmup_epochs`` of linear warm-up.
* ``recalibrate_bn``: at the end, the BatchNorm moving statistics are
  re-estimated on the un-augmented training images (the running average of
  the batch statistics, in order). Keras' ResNet50 keeps them with momentum
  0.99: over a few dozen steps per epoch they lag the weights so far that a
  model can predict one class for every image while its training accuracy
  rises. The weights are not touched. The last epoch is the model: nothing
  is selected, least of all on test images.
"""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

import checks

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
PAD = 4


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    warmup_epochs: int = 0
    schedule: str = "constant"
    label_smoothing: float = 0.0
    augment: bool = False
    recalibrate_bn: bool = False

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "epochs", checks.positive_int("epochs", self.epochs))
        set_(self, "batch_size", checks.positive_int("batch_size", self.batch_size))
        set_(self, "learning_rate", checks.positive_number("learning_rate", self.learning_rate))
        set_(self, "optimizer", checks.one_of("optimizer", str(self.optimizer), OPTIMIZERS))
        set_(self, "schedule", checks.one_of("schedule", str(self.schedule), SCHEDULES))
        set_(self, "warmup_epochs", checks.non_negative_int("warmup_epochs", self.warmup_epochs))
        for name in ("weight_decay", "label_smoothing"):
            value = checks.non_negative_number(name, getattr(self, name))
            set_(self, name, value)
        if self.label_smoothing >= 1:
            raise ValueError(f"label_smoothing must be < 1. Received: label_smoothing={self.label_smoothing!r}")
        if self.warmup_epochs >= self.epochs and self.warmup_epochs:
            raise ValueError(f"warmup_epochs must be < epochs ({self.epochs}). "
                             f"Received: warmup_epochs={self.warmup_epochs!r}")
        set_(self, "augment", checks.boolean("augment", self.augment))
        set_(self, "recalibrate_bn", checks.boolean("recalibrate_bn", self.recalibrate_bn))

    def params(self) -> dict:
        return asdict(self)


def learning_rate_schedule(recipe: Recipe, steps_per_epoch: int):
    """A float for ``constant`` without warm-up, else a Keras schedule over the whole run."""
    total = recipe.epochs * steps_per_epoch
    warmup = recipe.warmup_epochs * steps_per_epoch
    if recipe.schedule == "constant" and not warmup:
        return recipe.learning_rate
    if recipe.schedule == "constant":
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [warmup], [recipe.learning_rate / 10, recipe.learning_rate])
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else recipe.learning_rate, decay_steps=max(1, total - warmup),
        warmup_target=recipe.learning_rate if warmup else None, warmup_steps=warmup, alpha=0.0)


def optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    rate = learning_rate_schedule(recipe, steps_per_epoch)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=rate, weight_decay=recipe.weight_decay or None)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=recipe.weight_decay)
    return keras.optimizers.SGD(learning_rate=rate, momentum=0.9, nesterov=True,
                                weight_decay=recipe.weight_decay or None)


def augmentation_seeds(seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The crop offsets' and the flips' seeds for a batch seeded ``seed`` = (training seed, batch number): two
    streams split from it (``seed + 1`` for the flips would be the crops' stream of the next training seed one
    batch later)."""
    offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    return offset_seed, flip_seed


def augment_batch(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Reflect-pad by 4, crop back at a random offset, flip left-right at random: one seeded draw per image."""
    shape = tf.shape(images)
    padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]], mode="REFLECT")
    offset_seed, flip_seed = augmentation_seeds(seed)
    offsets = tf.random.stateless_uniform((shape[0], 2), offset_seed, 0, 2 * PAD + 1, dtype=tf.int32)
    flips = tf.random.stateless_uniform((shape[0],), flip_seed, 0, 2, dtype=tf.int32)

    def one(args):
        image, offset, flip = args
        crop = tf.slice(image, [offset[0], offset[1], 0], [shape[1], shape[2], shape[3]])
        return tf.cond(flip > 0, lambda: tf.reverse(crop, [1]), lambda: crop)

    return tf.map_fn(one, (padded, offsets, flips), fn_output_signature=images.dtype)


def training_batches(x: np.ndarray, y: np.ndarray, recipe: Recipe, seed: int) -> tf.data.Dataset:
    """Every epoch's batches in one stream (``recipe.epochs`` passes, each shuffled anew, seeded), augmented
    when the recipe says so; fit it with ``steps_per_epoch=steps_per_epoch(len(x), recipe)``.

    The augmentation draws of batch k are seeded by (seed, k), k counting on across epochs, so no two
    batches of the run share their draws.
    """
    dataset = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(recipe.batch_size)
    dataset = dataset.repeat(recipe.epochs)
    if recipe.augment:
        counter = tf.data.Dataset.counter()
        dataset = tf.data.Dataset.zip((dataset, counter)).map(
            lambda batch, step: (augment_batch(batch[0], tf.stack([tf.cast(seed, tf.int64), step])), batch[1]))
    return dataset.prefetch(1)


def steps_per_epoch(images: int, recipe: Recipe) -> int:
    """Batches in one pass over ``images`` training images (the last one may be smaller)."""
    return math.ceil(images / recipe.batch_size)


def recalibrate_batchnorm(model: keras.Model, images: np.ndarray, batch_size: int = 128, *, seed: int | None) -> int:
    """Re-estimate every BatchNorm layer's moving mean and variance on ``images``; returns the layer count.

    Each layer's statistics become the average over the batches of its batch
    statistics, with the model run in training mode batch by batch (eagerly,
    so the per-batch momentum applies). Weights are unchanged. The images are
    taken in a shuffled order (seeded by ``seed``; ``None``: as given), so that
    each batch's variance holds the variance between classes too, as the
    training batches' did: batches of one class each would average to their
    within-class variance only.
    """
    if seed is not None:
        images = np.asarray(images)[np.random.default_rng(seed).permutation(len(images))]
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, np.float32))
        layer.moving_variance.assign(np.zeros(layer.moving_variance.shape, np.float32))
    try:
        for k, start in enumerate(range(0, len(images), batch_size), start=1):
            for layer in layers:
                layer.momentum = (k - 1) / k  # running average: moving = ((k-1) * moving + batch) / k
            model(tf.constant(images[start:start + batch_size], tf.float32), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)
