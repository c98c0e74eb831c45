"""The overlap step: how much the heatmap methods agree on which pixels to keep.

For every pair of heatmap methods, the mean intersection-over-union of their
keep masks on the test images (the explainer's heatmaps, as the defense uses
them), plus LRP-epsilon at other epsilons (``LRP_SENSITIVITY``) as a
sensitivity line: at epsilon = 1e-7 (iNNvestigate's default; the thesis gives none), LRP-epsilon is Input x
Gradient in all but rounding, and this table shows it. Artifact ``overlap.json``
(method_a, method_b, mean_iou, min_iou, images).
"""

from __future__ import annotations

import itertools

import mlflow
import numpy as np
import pandas as pd

import blur
import heatmaps
from workflow import data as workflow_data
from workflow import models
from workflow.profiles import heatmap_params
from workflow.step_runs import get_or_run
from workflow.steps.heatmaps import BATCH, heatmaps_step, stored_heatmaps

LRP_SENSITIVITY = (0.01, 0.25)


def overlap_step(settings: dict, explainer_run_id: str, data: str) -> str:
    """Run id of the keep-mask overlap table of every pair of methods (and the LRP sensitivity lines)."""
    loaded = workflow_data.load(settings, data)
    upstream = {"explainer": explainer_run_id,
                **{f"heatmaps_{m}": heatmaps_step(settings, m, explainer_run_id, data) for m in heatmaps.METHODS}}
    params = {"keep_fraction": settings["keep_fraction"], "lrp_sensitivity": ",".join(map(str, LRP_SENSITIVITY)),
              **{f"{m}.{k}": v for m in heatmaps.METHODS for k, v in heatmap_params(settings, m).items()},
              "data_fingerprint": loaded.fingerprint}

    def body():
        maps = {m: stored_heatmaps(upstream[f"heatmaps_{m}"])["test"] for m in heatmaps.METHODS}
        if "lrp_eps" in heatmaps.METHODS:
            explainer = models.load(explainer_run_id)
            for epsilon in LRP_SENSITIVITY:
                maps[f"lrp_eps@{epsilon:g}"] = heatmaps.compute(explainer, loaded.split.x_test, "lrp_eps",
                                                                batch_size=BATCH, epsilon=epsilon)
        rows = []
        for a, b in itertools.combinations(maps, 2):
            iou = blur.keep_mask_iou(maps[a], maps[b], settings["keep_fraction"])
            rows.append({"method_a": a, "method_b": b, "mean_iou": float(np.mean(iou)),
                         "min_iou": float(np.min(iou)), "images": len(iou)})
        mlflow.log_table(pd.DataFrame(rows), artifact_file="overlap.json")

    return get_or_run("overlap", "overlap", params, upstream, __name__, body,
                      tags={"profile": settings["profile"]}, logged=loaded.params(settings),
                      what=f"{len(heatmaps.METHODS)} methods, {len(loaded.split.x_test)} test images")
