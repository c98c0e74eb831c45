"""Test transforms T: what the defense does to an image before the classifier sees it.

One per test set (:mod:`defense.test_sets`): ``original`` (identity),
``blur`` (the whole image Gaussian-blurred) and one heatmap blur per heatmap
method (keep the ``keep_fraction`` most important pixels by the explainer's
heatmap of that method, blur the rest).

Each transform has a NumPy form (``__call__``) and a TensorFlow form
(``tf_forward``) whose forward pass is the same function and whose gradient
treats the keep mask as a constant (BPDA), for adaptive attacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

import blur
import heatmaps
from blur.differentiable import gaussian_tf, heatmap_blur_tf
from defense.test_sets import test_set

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TestTransform:
    """T for one test set. ``explainer`` computes heatmaps (needed for heatmap test sets).

    ``sigma`` and ``keep_fraction`` are checked by the blur functions, where they enter the library.
    """

    name: str
    explainer: keras.Model | None = None
    sigma: float = blur.DEFAULT_SIGMA
    keep_fraction: float = blur.DEFAULT_KEEP_FRACTION
    heatmap_params: dict = field(default_factory=dict)

    __test__ = False  # not a pytest class

    def __post_init__(self):
        method = test_set(self.name).heatmap
        if method is not None:
            object.__setattr__(self, "heatmap_params", heatmaps.resolve_params(method, self.heatmap_params))

    def _explainer(self) -> keras.Model:
        if self.explainer is None:
            raise ValueError(f"Test set '{self.name}' needs an explainer model to compute its heatmaps "
                             "(or precomputed heatmaps). Received: explainer=None")
        return self.explainer

    def heatmaps(self, images: np.ndarray, batch_size: int = 128, progress: Progress | None = None) -> np.ndarray:
        """The explainer's heatmaps of ``images`` for its predicted classes."""
        return heatmaps.compute(self._explainer(), images, test_set(self.name).heatmap, labels=None,
                                batch_size=batch_size, progress=progress, **self.heatmap_params)

    def __call__(self, images: np.ndarray, batch_size: int = 128, progress: Progress | None = None,
                 precomputed_heatmaps: np.ndarray | None = None) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if self.name == "original":
            return images.copy()
        if self.name == "blur":
            return blur.gaussian(images, self.sigma)
        maps = precomputed_heatmaps if precomputed_heatmaps is not None else self.heatmaps(images, batch_size, progress)
        return blur.heatmap_blur(images, maps, self.keep_fraction, self.sigma)

    def tf_forward(self) -> Callable[[tf.Tensor], tf.Tensor]:
        """Differentiable T (BPDA for the keep mask), recomputing heatmaps on every call."""
        if self.name == "original":
            return tf.identity
        if self.name == "blur":
            return lambda images: gaussian_tf(images, self.sigma)
        explain = heatmaps.explainer(self._explainer(), test_set(self.name).heatmap, **self.heatmap_params)

        def forward(images):
            targets = tf.fill(tf.shape(images)[:1], -1)
            maps = tf.stop_gradient(explain(tf.stop_gradient(images), targets))
            return heatmap_blur_tf(images, maps, self.keep_fraction, self.sigma)

        return forward
