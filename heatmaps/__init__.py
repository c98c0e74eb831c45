"""Heatmaps (per-input-value relevance) of Keras image classifiers.

A leaf package: it depends on TensorFlow/Keras only.

    heatmaps.compute(model, images, method, labels=None, batch_size=128, **params)
    heatmaps.explainer(model, method, **params)   # compiled (images, targets) -> heatmaps

Methods (``heatmaps.METHODS``): ``gradient``, ``input_x_gradient``,
``lrp_eps`` (parameter ``epsilon``), ``pgd`` (``norm``, ``eps``, ``eps_step``,
``max_iter``), and the control ``random`` (``seed``: a random 15% of values kept).
"""

from heatmaps.compute import compute, explainer
from heatmaps.registry import METHODS, Method, get, register, resolve_params

__all__ = ["METHODS", "Method", "compute", "explainer", "get", "register", "resolve_params"]
