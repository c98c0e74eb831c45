"""The attack step: the images one model is evaluated on for one (test set, attack, order).

``before``: A(T(x)); ``after``: T(A(x)) with T's heatmaps computed on A(x);
``adaptive``: T(A_{f o T}(x)) with BPDA through T (see :mod:`evaluation.orders`).
On ``original`` all three are A(x), stored once (as ``before``). Attacks move
away from the true labels (NewtonFool ignores labels, as in ART).
"""

from __future__ import annotations

import mlflow

import classifiers
import defense
import evaluation
from workflow import data as workflow_data
from workflow import models, tracking
from workflow.profiles import attack_params
from workflow.step_runs import get_or_run
from workflow.steps.heatmaps import BATCH, progress
from workflow.steps.inputs import defended_inputs, test_transform, transform_params


def attack_step(settings: dict, model_run_id: str, explainer_run_id: str, attack: str, order: str,
                test_set: str, data: str) -> str:
    """Run id of the attacked images (artifact ``adversarial.npz``) and their accuracy (metric)."""
    record = defense.test_set(test_set)
    order = "before" if record.name == "original" else evaluation.check_order(order)
    loaded = workflow_data.load(settings, data)
    a_params = attack_params(settings, attack)
    params = {"attack": attack, "order": order, "test_set": test_set, "seed": settings["seed"],
              **{f"attack.{k}": v for k, v in a_params.items()}, **transform_params(settings, test_set),
              "data_fingerprint": loaded.fingerprint}
    upstream = {"model": model_run_id}
    if record.heatmap is not None:
        upstream["explainer"] = explainer_run_id
    if order == "after":
        upstream["source"] = attack_step(settings, model_run_id, explainer_run_id, attack, "before", "original", data)
    name = f"attack-{attack}-{order}-{test_set}"

    def body():
        model = models.load(model_run_id)
        split = loaded.split
        images = evaluation.attack_inputs(
            model, test_transform(settings, test_set, explainer_run_id), split.x_test, split.y_test, attack, order,
            batch_size=BATCH, seed=settings["seed"], progress=progress(name),
            attacked_original=(tracking.load_arrays(upstream["source"], "adversarial.npz")["images"]
                               if order == "after" else None),
            defended_clean=defended_inputs(settings, test_set, "test", data, explainer_run_id) if order == "before"
            else None,
            **a_params)
        tracking.log_arrays("adversarial.npz", images=images)
        result = evaluation.accuracy(classifiers.predict_labels(model, images), split.y_test)
        mlflow.log_metric("accuracy", result.value)

    return get_or_run("attack", name, params, upstream, __name__, body,
                      tags={"attack": attack, "order": order, "test_set": test_set, "profile": settings["profile"]},
                      logged=loaded.params(settings), what=f"{len(loaded.split.x_test)} images")
