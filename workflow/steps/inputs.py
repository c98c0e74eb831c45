"""The images a model sees on a test set, or trains on: T(x), from the defense's test transforms.

Heatmap test sets use the heatmaps step's stored maps of the clean images
(the same maps the explainer would compute again), through
``TestTransform(..., precomputed_heatmaps=)``.
"""

from __future__ import annotations

import numpy as np

import defense
from workflow import data as workflow_data
from workflow import models
from workflow.profiles import heatmap_params
from workflow.steps.heatmaps import heatmaps_step, stored_heatmaps


def transform_params(settings: dict, test_set: str) -> dict:
    """The settings that define test set ``test_set``'s transform (for step keys)."""
    record = defense.test_set(test_set)
    if record.name == "original":
        return {}
    params = {"sigma": settings["sigma"]}
    if record.heatmap is not None:
        params["keep_fraction"] = settings["keep_fraction"]
        params.update({f"heatmap.{k}": v for k, v in heatmap_params(settings, record.heatmap).items()})
    return params


def test_transform(settings: dict, test_set: str, explainer_run_id: str | None = None) -> defense.TestTransform:
    """T for ``test_set`` as the settings define it; the explainer is loaded only for heatmap test sets."""
    record = defense.test_set(test_set)
    explainer = models.load(explainer_run_id) if record.heatmap is not None and explainer_run_id else None
    return defense.TestTransform(record.name, explainer=explainer, sigma=settings["sigma"],
                                 keep_fraction=settings["keep_fraction"],
                                 heatmap_params=heatmap_params(settings, record.heatmap) if record.heatmap else {})


test_transform.__test__ = False  # not a pytest test


def defended_inputs(settings: dict, test_set: str, part: str, data: str, explainer_run_id: str) -> np.ndarray:
    """T(x) for the ``train`` or ``test`` images, heatmap test sets from the heatmaps step's maps."""
    loaded = workflow_data.load(settings, data)
    images = loaded.split.x_train if part == "train" else loaded.split.x_test
    record = defense.test_set(test_set)
    maps = None
    if record.heatmap is not None:
        maps = stored_heatmaps(heatmaps_step(settings, record.heatmap, explainer_run_id, data))[part]
    return test_transform(settings, test_set)(images, precomputed_heatmaps=maps)
