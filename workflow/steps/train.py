"""The train step: one training variant, trained on T(x) of its test set, logged and registered.

A heatmap variant's training images are blurred by the heatmaps of the
``none`` model (trained first, or ``explainer_run_id`` when given), with the
same transform the defense applies at test time.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import keras
import mlflow

import classifiers
import defense
from workflow import data as workflow_data
from workflow import models, tracking
from workflow.profiles import recipe
from workflow.step_runs import get_or_run
from workflow.steps.heatmaps import heatmaps_step
from workflow.steps.inputs import defended_inputs, transform_params


class EpochLogger(keras.callbacks.Callback):
    """Per-epoch metrics to MLflow and one progress line per epoch."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        mlflow.log_metrics(logs, step=epoch)
        shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items())
        tracking.log(f"    epoch {epoch + 1}/{self.epochs} {shown} ({time.time() - self.started:.0f} s)")


def initial_weights(weights: str) -> dict:
    """The ``weights`` setting as step-key params: a weights file enters by the hash of its bytes."""
    if weights in classifiers.WEIGHTS:
        return {"weights": weights}
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:16]
    return {"weights": Path(weights).name, "weights_sha256": digest}


def train_step(settings: dict, variant: str, data: str, aliases: tuple[str, ...] = (),
               explainer_run_id: str | None = None) -> str:
    """Run id of variant ``variant`` trained with ``settings``; its model gets ``aliases`` in the registry."""
    record = defense.variant(variant)
    loaded = workflow_data.load(settings, data)
    training = recipe(settings)
    params = {"heatmap": variant, "model": settings["model"], **initial_weights(settings["weights"]),
              **training.params(), "seed": settings["seed"], "data_fingerprint": loaded.fingerprint,
              **transform_params(settings, record.name)}
    upstream = {}
    if record.heatmap is not None:
        if explainer_run_id is None:
            explainer_run_id = train_step(settings, "none", data, aliases)
        upstream = {"explainer": explainer_run_id,
                    "heatmaps": heatmaps_step(settings, record.heatmap, explainer_run_id, data)}

    def body():
        x_train = defended_inputs(settings, record.name, "train", data, explainer_run_id)
        y_train = loaded.split.y_train
        tracking.log_input(mlflow.data.from_numpy(x_train, targets=y_train, source=str(data),
                                                  name=f"cifar10-{variant}-train"), context="training")
        classifiers.make_deterministic(settings["seed"])
        model = classifiers.build(settings["model"], loaded.split.num_classes, weights=settings["weights"])
        classifiers.train(model, x_train, y_train, training, seed=settings["seed"],
                          callbacks=[EpochLogger(training.epochs)])
        # accuracy of the final model (BatchNorm in inference mode) on its own, un-augmented training images
        mlflow.log_metric("train_accuracy", float((classifiers.predict_labels(model, x_train) == y_train).mean()))
        models.log(model)

    run_id = get_or_run("train", f"train-{variant}", params, upstream, __name__, body,
                        tags={"variant": variant, "profile": settings["profile"]}, logged=loaded.params(settings),
                        what=f"{settings['model']}, {len(loaded.split.x_train)} images, {training.epochs} epochs")
    models.ensure_registered(run_id, variant, aliases)
    return run_id
