"""The evaluate step: every cell of the grid for one model, one metric per cell plus a table.

Metrics ``accuracy/<test_set>/none`` (clean) and
``accuracy/<test_set>/<attack>/<order>``; ``cells.json`` holds the count
correct, n and the 95% Wilson interval of every cell.
"""

from __future__ import annotations

import mlflow
import pandas as pd

import classifiers
import evaluation
import heatmaps
from workflow import data as workflow_data
from workflow import models, tracking
from workflow.profiles import attack_params, heatmap_params, parse_attack_list
from workflow.step_runs import get_or_run
from workflow.steps.attack import attack_step
from workflow.steps.inputs import defended_inputs


def evaluate_step(settings: dict, model_run_id: str, explainer_run_id: str, data: str,
                  variant: str = "") -> tuple[str, list[dict]]:
    """Run id of the model's grid evaluation, and its rows (one per cell)."""
    loaded = workflow_data.load(settings, data)
    attack_names = parse_attack_list(settings["attacks"], "attacks")
    adaptive = parse_attack_list(settings["adaptive_attacks"], "adaptive_attacks")
    grid = evaluation.cells(attack_names, adaptive)
    params = {"attacks": ",".join(attack_names), "adaptive_attacks": ",".join(adaptive), "seed": settings["seed"],
              "sigma": settings["sigma"], "keep_fraction": settings["keep_fraction"],
              **{f"{m}.{k}": v for m in heatmaps.METHODS for k, v in heatmap_params(settings, m).items()},
              **{f"{a}.{k}": v for a in attack_names for k, v in attack_params(settings, a).items()},
              "data_fingerprint": loaded.fingerprint}
    rows = []

    def body():
        model = models.load(model_run_id)
        for cell in grid:
            if cell.attack == evaluation.CLEAN:
                images = defended_inputs(settings, cell.test_set, "test", data, explainer_run_id)
            else:
                run_id = attack_step(settings, model_run_id, explainer_run_id, cell.attack, cell.order,
                                     cell.test_set, data)
                images = tracking.load_arrays(run_id, "adversarial.npz")["images"]
            result = evaluation.accuracy(classifiers.predict_labels(model, images), loaded.split.y_test)
            metric = evaluation.metric_name(*cell)
            mlflow.log_metric(metric, result.value)
            rows.append({"metric": metric, "test_set": cell.test_set, "attack": cell.attack,
                         "order": cell.order or "none", "accuracy": result.value, "correct": result.correct,
                         "n": result.n, "ci95_low": result.low, "ci95_high": result.high})
        mlflow.log_table(pd.DataFrame(rows), artifact_file="cells.json")

    run_id = get_or_run("evaluate", f"evaluate-{variant or model_run_id[:8]}", params,
                        {"model": model_run_id, "explainer": explainer_run_id}, __name__, body,
                        tags={"variant": variant, "profile": settings["profile"]}, logged=loaded.params(settings),
                        what=f"{len(grid)} cells")
    if not rows:  # reused
        rows = tracking.load_table(run_id, "cells.json").to_dict("records")
    return run_id, rows
