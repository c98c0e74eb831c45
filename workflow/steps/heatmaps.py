"""The heatmaps step: one method's heatmaps of the train and test images by an explainer model.

Heatmaps always explain the explainer's *predicted* class (never the true
label): the training blur is then the same function as the test-time defense.
"""

from __future__ import annotations

import numpy as np

import heatmaps
from workflow import data as workflow_data
from workflow import models, tracking
from workflow.profiles import heatmap_params
from workflow.step_runs import get_or_run

BATCH = 128  # images per compiled heatmap/attack call (fastest on 2 cores, see bench/)


def progress(label: str):
    """A ``progress(done, total)`` callback printing one line per batch."""
    def report(done: int, total: int) -> None:
        tracking.log(f"    {label}: {done}/{total} images")
    return report


def heatmaps_step(settings: dict, method: str, explainer_run_id: str, data: str) -> str:
    """Run id of the heatmaps of ``method`` by the explainer; artifact ``heatmaps.npz`` (train, test)."""
    loaded = workflow_data.load(settings, data)
    kwargs = heatmap_params(settings, method)
    params = {"method": method, **{f"heatmap.{k}": v for k, v in kwargs.items()},
              "data_fingerprint": loaded.fingerprint}

    def body():
        explainer = models.load(explainer_run_id)
        maps = {part: heatmaps.compute(explainer, images, method, labels=None, batch_size=BATCH,
                                       progress=progress(f"{method} heatmaps ({part})"), **kwargs)
                for part, images in (("train", loaded.split.x_train), ("test", loaded.split.x_test))}
        tracking.log_arrays("heatmaps.npz", **maps)

    return get_or_run("heatmaps", f"heatmaps-{method}", params, {"explainer": explainer_run_id}, __name__, body,
                      tags={"heatmap": method, "profile": settings["profile"]}, logged=loaded.params(settings),
                      what=f"{len(loaded.split.x_train)} train + {len(loaded.split.x_test)} test images")


def stored_heatmaps(run_id: str) -> dict[str, np.ndarray]:
    return tracking.load_arrays(run_id, "heatmaps.npz")
