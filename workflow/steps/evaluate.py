"""The evaluate step: every cell of the grid for one model, one metric per cell plus a table.

Metrics ``accuracy/<test_set>/none`` (clean) and
``accuracy/<test_set>/<attack>/<order>``, and for each attacked cell the
median perturbation size ``l2/...`` and ``linf/...``; ``cells.json`` holds the
count correct, n, the 95% Wilson interval and the sizes of every cell;
``outcomes.npz`` per metric name a boolean array, "classified correctly",
one entry per test image in test-set order (for a cell run on a subset,
``indices:<metric>`` says which images), for paired comparisons.
``curves.json``: accuracy against the L-inf budget (``curve_eps``) on the
original test set and the model's own, for FGSM in every order and adaptive
PGD, on ``curve_images`` evenly spaced test images (:mod:`evaluation.curves`);
each point is an attack step, reused like any other.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd

import attacks
import classifiers
import defense
import evaluation
import heatmaps
from workflow import data as workflow_data
from workflow import models, tracking
from workflow.profiles import attack_params, heatmap_params, image_limit_settings, parse_attack_list
from workflow.step_runs import get_or_run
from workflow.steps.attack import attack_step
from workflow.steps.inputs import defended_inputs


def evaluate_step(settings: dict, model_run_id: str, explainer_run_id: str, data: str,
                  variant: str = "") -> tuple[str, list[dict]]:
    """Run id of the model's grid evaluation, and its rows (one per cell)."""
    loaded = workflow_data.load(settings, data)
    attack_names = parse_attack_list(settings["attacks"], "attacks")
    adaptive = parse_attack_list(settings["adaptive_attacks"], "adaptive_attacks")
    own = defense.variant(variant).name if variant in defense.variants() else "original"
    grid = evaluation.cells(attack_names, adaptive, own)
    crafted = list(dict.fromkeys(attacks.crafting(a).name for a in (*attack_names, *adaptive)))
    budgets = evaluation.parse_curve_eps(settings["curve_eps"])
    params = {"attacks": ",".join(attack_names), "adaptive_attacks": ",".join(adaptive), "seed": settings["seed"],
              "sigma": settings["sigma"], "keep_fraction": settings["keep_fraction"],
              **{f"{m}.{k}": v for m in heatmaps.METHODS for k, v in heatmap_params(settings, m).items()},
              **{f"{a}.{k}": v for a in crafted for k, v in attack_params(settings, a).items()},
              **{key: settings[key] for key in sorted(image_limit_settings())},
              "curve_eps": settings["curve_eps"], "curve_images": settings["curve_images"],
              "data_fingerprint": loaded.fingerprint}
    if budgets:
        params.update({f"{a}.{k}": v for a, _ in evaluation.CURVE_LINES for k, v in attack_params(settings, a).items()})
    rows = []

    def body():
        model = models.load(model_run_id)
        y_test = loaded.split.y_test
        metrics, outcomes = {}, {}
        for cell in grid:
            sizes = {}
            metric = evaluation.metric_name(*cell)
            if cell.attack == evaluation.CLEAN:
                images, labels = defended_inputs(settings, cell.test_set, "test", data, explainer_run_id), y_test
            else:
                run_id = attack_step(settings, model_run_id, explainer_run_id, cell.attack, cell.order,
                                     cell.test_set, data)
                stored = tracking.load_arrays(run_id, "adversarial.npz")
                images, labels = stored["images"], y_test[stored["indices"]]
                sizes = {size: float(np.median(stored[size])) for size in evaluation.SIZES}
                if len(labels) < len(y_test):
                    outcomes[f"indices:{metric}"] = stored["indices"]
            predictions = classifiers.predict_labels(model, images)
            outcomes[metric] = predictions == labels
            result = evaluation.accuracy(predictions, labels)
            metrics[metric] = result.value
            metrics.update({evaluation.size_metric_name(size, cell): value for size, value in sizes.items()})
            rows.append({"metric": metric, "test_set": cell.test_set, "attack": cell.attack,
                         "order": cell.order or "none", "accuracy": result.value, "correct": result.correct,
                         "n": result.n, "ci95_low": result.low, "ci95_high": result.high,
                         "l2": sizes.get("l2", float("nan")), "linf": sizes.get("linf", float("nan"))})
        mlflow.log_metrics(metrics)
        mlflow.log_table(pd.DataFrame(rows), artifact_file="cells.json")
        tracking.log_arrays("outcomes.npz", **outcomes)
        if budgets:
            curves = []
            for test_set in dict.fromkeys(("original", own)):
                curves += _curve(settings, model, model_run_id, explainer_run_id, test_set, budgets, data)
            mlflow.log_table(pd.DataFrame(curves, columns=evaluation.curves.COLUMNS), artifact_file="curves.json")

    run_id = get_or_run("evaluate", f"evaluate-{variant or model_run_id[:8]}", params,
                        {"model": model_run_id, "explainer": explainer_run_id}, __name__, body,
                        tags={"variant": variant, "profile": settings["profile"]}, logged=loaded.params(settings),
                        what=f"{len(grid)} cells")
    if not rows:  # reused
        rows = tracking.load_table(run_id, "cells.json").to_dict("records")
    return run_id, rows


def _curve(settings: dict, model, model_run_id: str, explainer_run_id: str, test_set: str,
           budgets: tuple[float, ...], data: str) -> list[dict]:
    """One test set's robustness curve; every point an attack step on ``curve_images`` test images."""
    loaded = workflow_data.load(settings, data)
    indices = evaluation.subset_indices(len(loaded.split.x_test), settings["curve_images"])
    labels = loaded.split.y_test[indices]

    def clean():
        images = defended_inputs(settings, test_set, "test", data, explainer_run_id)[indices]
        return evaluation.accuracy(classifiers.predict_labels(model, images), labels)

    def point(attack, order, eps):
        run_id = attack_step(settings, model_run_id, explainer_run_id, attack, order, test_set, data, eps=eps,
                             images=settings["curve_images"])
        return evaluation.accuracy(classifiers.predict_labels(
            model, tracking.load_arrays(run_id, "adversarial.npz")["images"]), labels)

    return evaluation.curve_rows(test_set, budgets, clean, point)
