"""The attack step: the images one model is evaluated on for one (test set, attack, order).

``before``: A(T(x)); ``after``: T(A(x)) with T's heatmaps computed on A(x);
``adaptive``: T(A_{f o T}(x)) with BPDA through T (see :mod:`evaluation.orders`).
On ``original`` all orders are A(x), stored once (under the attack's first
order). A transfer attack (``pgd_transfer``) is T(A_source(x)), A_source(x)
crafted once by its source attack on the undefended explainer model (the
profile's ``none`` model). Attacks move away from the labels the attack's
record says (NewtonFool ignores labels, as in ART). An attack whose record
limits its images (``square_images``), or a curve point (``images=``), runs on
evenly spaced test images, stored as ``indices``.

Artifact ``adversarial.npz``: ``images`` (what the model is evaluated on),
``indices`` (which test images), ``l2``/``linf`` (per image, the size of what
the attack changed). Metrics: ``accuracy``, ``l2_median``, ``linf_median``.
"""

from __future__ import annotations

import mlflow
import numpy as np

import attacks
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
                test_set: str, data: str, eps: float | None = None, images: int | None = None) -> str:
    """Run id of the attacked images (artifact ``adversarial.npz``) and their accuracy (metric).

    ``eps`` overrides the attack's budget (a curve point); ``images`` the number of
    test images (default: the record's ``images_key`` setting, else all).
    """
    record = defense.test_set(test_set)
    attack_record = attacks.get(attack)
    order = attack_record.orders[0] if record.name == "original" else evaluation.check_attack_order(attack, order)
    loaded = workflow_data.load(settings, data)
    crafting = attacks.crafting(attack)
    a_params = attack_params(settings, crafting.name)
    if eps is not None:
        a_params = attacks.resolve_params(crafting.name, {**a_params, "eps": eps})
    if images is None:
        images = settings[attack_record.images_key] if attack_record.images_key else 0
    indices = evaluation.subset_indices(len(loaded.split.x_test), images)
    params = {"attack": attack, "order": order, "test_set": test_set, "seed": settings["seed"],
              **{f"attack.{k}": v for k, v in a_params.items()}, **transform_params(settings, test_set),
              "data_fingerprint": loaded.fingerprint}
    if len(indices) < len(loaded.split.x_test):
        params["images"] = len(indices)
    upstream = {"model": model_run_id}
    if record.heatmap is not None:
        upstream["explainer"] = explainer_run_id
    if attack_record.transfer_from:
        upstream["source"] = attack_step(settings, explainer_run_id, explainer_run_id, crafting.name, "before",
                                         "original", data, eps=eps, images=images)
    elif order == "after":
        upstream["source"] = attack_step(settings, model_run_id, explainer_run_id, attack, "before", "original",
                                         data, eps=eps, images=images)
    name = f"attack-{attack}-{order}-{test_set}" + (f"-eps{eps * 255:g}" if eps is not None else "")

    def body():
        model = models.load(model_run_id)
        x, y = loaded.split.x_test[indices], loaded.split.y_test[indices]
        attacked_original = None
        if "source" in upstream:
            source = tracking.load_arrays(upstream["source"], "adversarial.npz")
            attacked_original = source["images"]
        clean = None
        if order == "before" and record.name != "original":
            clean = defended_inputs(settings, test_set, "test", data, explainer_run_id)[indices]
        result = evaluation.attack_cell(
            model, test_transform(settings, test_set, explainer_run_id), x, y, attack, order,
            batch_size=BATCH, seed=settings["seed"], progress=progress(name),
            attacked_original=attacked_original, defended_clean=clean, **a_params)
        tracking.log_arrays("adversarial.npz", images=result.images, indices=indices, l2=result.l2, linf=result.linf)
        mlflow.log_metrics({"accuracy": evaluation.accuracy(classifiers.predict_labels(model, result.images), y).value,
                            "l2_median": float(np.median(result.l2)), "linf_median": float(np.median(result.linf))})

    return get_or_run("attack", name, params, upstream, __name__, body,
                      tags={"attack": attack, "order": order, "test_set": test_set, "profile": settings["profile"]},
                      logged=loaded.params(settings), what=f"{len(indices)} images")
