"""The pipeline's steps, each its own MLflow run, each reused when already finished.

    heatmaps_step   explainer's heatmaps of one method for the train and test images
    train_step      one training variant (original images, or heatmap-blurred ones)
    attack_step     the images one model is evaluated on for (test set, attack, order)
    evaluate_step   the whole grid for one model: one metric per cell

A step returns its run id. Its key (see :mod:`workflow.tracking`) covers its
parameters, the code version, a fingerprint of its data and its upstream runs,
so a finished step is found again and never recomputed.

Heatmaps always explain the explainer's *predicted* class (never the true
label): the training blur is then the same function as the test-time defense.
Attacks move away from the true labels (NewtonFool ignores labels, as in ART).
"""

from __future__ import annotations

import contextlib
import functools
import time

import keras
import mlflow
import numpy as np
import pandas as pd

import attacks
import blur
import classifiers
import evaluation
import heatmaps
from cifar10 import Split, load_split
from defense import TEST_SETS, TestTransform
from workflow import models, tracking
from workflow.profiles import VARIANTS, attack_params, heatmap_params, parse_attack_list

BATCH = 128  # images per compiled heatmap/attack call (fastest on 2 cores, see bench/)


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"Unknown training variant. Expected one of {list(VARIANTS)}. Received: heatmap={variant!r}")
    return variant


# ---------------------------------------------------------------- data


@functools.lru_cache(maxsize=4)
def _split(data: str, classes: str, images_per_class: int, train_per_class: int, data_seed: int) -> Split:
    return load_split(data, classes, "thesis", images_per_class, train_per_class, data_seed)


def load_data(settings: dict, data: str) -> Split:
    return _split(str(data), settings["classes"], settings["images_per_class"], settings["train_per_class"],
                  settings["data_seed"])


_fingerprints: dict[int, tuple[Split, str]] = {}


def data_fingerprint(split: Split) -> str:
    """Hash of the selected arrays: the same images give the same key, wherever they were read from."""
    if id(split) not in _fingerprints:
        _fingerprints[id(split)] = (split, tracking.fingerprint(split.x_train, split.y_train, split.x_test,
                                                                split.y_test))
    return _fingerprints[id(split)][1]


def _data_params(settings: dict, data: str, split: Split) -> dict:
    return {"data": data, "classes": settings["classes"], "images_per_class": settings["images_per_class"],
            "train_per_class": settings["train_per_class"], "data_seed": settings["data_seed"],
            "data_fingerprint": data_fingerprint(split)}


def _progress(label: str):
    def report(done: int, total: int) -> None:
        tracking.log(f"    {label}: {done}/{total} images")
    return report


def _reused(key: str, name: str):
    found = tracking.find_finished(key)
    if found is not None:
        tracking.log(f"reuse  {name}: finished run {found.info.run_id}")
    return found


@contextlib.contextmanager
def _timed_run(name: str, key: str, tags: dict, what: str):
    """A step's run with a progress line at its start and end and its wall time as the metric ``seconds``."""
    tracking.log(f"start  {name} ({what})")
    started = time.time()
    with tracking.run(name, key, tags=tags) as active:
        yield active
        mlflow.log_metric("seconds", round(time.time() - started, 3))
    tracking.log(f"done   {name} in {time.time() - started:.1f} s")


def _accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> evaluation.Accuracy:
    return evaluation.accuracy(classifiers.predict_labels(model, images), labels)


# ---------------------------------------------------------------- heatmaps


def heatmaps_step(settings: dict, method: str, explainer_run_id: str, data: str) -> str:
    split = load_data(settings, data)
    params = {"method": method, **{f"heatmap.{k}": v for k, v in heatmap_params(settings, method).items()},
              "explainer_run_id": explainer_run_id, "data_fingerprint": data_fingerprint(split)}
    key = tracking.step_key("heatmaps", params)
    name = f"heatmaps-{method}"
    found = _reused(key, name)
    if found is not None:
        return found.info.run_id
    tags = {"step": "heatmaps", "heatmap": method, "profile": settings["profile"]}
    with _timed_run(name, key, tags, f"{len(split.x_train)} train + {len(split.x_test)} test images") as active:
        tracking.log_params({**_data_params(settings, data, split), **params})
        explainer = models.load(explainer_run_id)
        kwargs = heatmap_params(settings, method)
        train_maps = _heatmaps(explainer, split.x_train, method, kwargs, "train")
        test_maps = _heatmaps(explainer, split.x_test, method, kwargs, "test")
        tracking.log_arrays("heatmaps.npz", train=train_maps, test=test_maps)
    return active.info.run_id


def _heatmaps(explainer: keras.Model, images: np.ndarray, method: str, kwargs: dict, label: str) -> np.ndarray:
    return heatmaps.compute(explainer, images, method, labels=None, batch_size=BATCH,
                            progress=_progress(f"{method} heatmaps ({label})"), **kwargs)


def stored_heatmaps(run_id: str) -> dict[str, np.ndarray]:
    return tracking.load_arrays(run_id, "heatmaps.npz")


# ---------------------------------------------------------------- train


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


def training_images(settings: dict, variant: str, split: Split, heatmaps_run_id: str | None) -> tuple:
    """(x_train, x_test) as the variant sees them: original, or heatmap-blurred by the explainer's maps."""
    if variant == "none":
        return split.x_train, split.x_test
    maps = stored_heatmaps(heatmaps_run_id)
    return (blur.heatmap_blur(split.x_train, maps["train"], settings["keep_fraction"], settings["sigma"]),
            blur.heatmap_blur(split.x_test, maps["test"], settings["keep_fraction"], settings["sigma"]))


def train_step(settings: dict, variant: str, data: str, aliases: tuple[str, ...] = (),
               explainer_run_id: str | None = None) -> str:
    """Train one variant; register it under ``pixel-importance.<variant>`` with ``aliases``.

    A heatmap variant's training images are blurred by the heatmaps of the
    ``none`` model (trained first, or ``explainer_run_id`` when given).
    """
    check_variant(variant)
    split = load_data(settings, data)
    epochs, batch_size, learning_rate = classifiers.check_training_params(
        settings["epochs"], settings["batch_size"], settings["learning_rate"])
    params = {"heatmap": variant, "model": settings["model"], "epochs": epochs, "batch_size": batch_size,
              "learning_rate": learning_rate, "seed": settings["seed"], "data_fingerprint": data_fingerprint(split)}
    upstream = {}
    heatmaps_run_id = None
    if variant != "none":
        if explainer_run_id is None:
            explainer_run_id = train_step(settings, "none", data, aliases)
        heatmaps_run_id = heatmaps_step(settings, variant, explainer_run_id, data)
        params.update(sigma=settings["sigma"], keep_fraction=settings["keep_fraction"])
        upstream = {"heatmaps": heatmaps_run_id}
    key = tracking.step_key("train", params, upstream)
    name = f"train-{variant}"
    found = _reused(key, name)
    if found is not None:
        models.ensure_registered(found.info.run_id, variant, aliases)
        return found.info.run_id

    x_train, x_test = training_images(settings, variant, split, heatmaps_run_id)
    tags = {"step": "train", "variant": variant, "profile": settings["profile"]}
    with _timed_run(name, key, tags, f"{settings['model']}, {len(x_train)} images, {epochs} epochs") as active:
        tracking.log_params({**_data_params(settings, data, split), **params,
                             "heatmaps_run_id": heatmaps_run_id or "", "explainer_run_id": explainer_run_id or ""})
        tracking.log_input(mlflow.data.from_numpy(x_train, targets=split.y_train, source=str(data),
                                                  name=f"cifar10-{variant}-train"), context="training")
        classifiers.make_deterministic(settings["seed"])
        model = classifiers.build(settings["model"], split.num_classes)
        classifiers.train(model, x_train, split.y_train, epochs, batch_size, learning_rate,
                          validation_data=(x_test, split.y_test), callbacks=[EpochLogger(epochs)], verbose=0)
        mlflow.log_metric("test_accuracy", _accuracy(model, x_test, split.y_test).value)
        models.log_and_register(model, variant, aliases)
    return active.info.run_id


# ---------------------------------------------------------------- attack


def _transform(settings: dict, test_set: str, explainer_run_id: str | None) -> TestTransform:
    uses_maps = test_set in heatmaps.METHODS
    return TestTransform(test_set, explainer=models.load(explainer_run_id) if uses_maps else None,
                         sigma=settings["sigma"], keep_fraction=settings["keep_fraction"],
                         heatmap_params=heatmap_params(settings, test_set) if uses_maps else {})


def _transform_params(settings: dict, test_set: str) -> dict:
    if test_set == "original":
        return {}
    params = {"sigma": settings["sigma"]}
    if test_set in heatmaps.METHODS:
        params["keep_fraction"] = settings["keep_fraction"]
        params.update({f"heatmap.{k}": v for k, v in heatmap_params(settings, test_set).items()})
    return params


def clean_inputs(settings: dict, test_set: str, split: Split, explainer_run_id: str, data: str) -> np.ndarray:
    """T(x_test) for one test set, heatmap test sets using the heatmaps step's stored maps."""
    if test_set == "original":
        return split.x_test
    if test_set == "blur":
        return blur.gaussian(split.x_test, settings["sigma"])
    maps = stored_heatmaps(heatmaps_step(settings, test_set, explainer_run_id, data))["test"]
    return blur.heatmap_blur(split.x_test, maps, settings["keep_fraction"], settings["sigma"])


def attack_step(settings: dict, model_run_id: str, explainer_run_id: str, attack: str, order: str,
                test_set: str, data: str) -> str:
    """The images the model is evaluated on for one cell; artifact ``adversarial.npz``.

    ``before``: A(T(x)); ``after``: T(A(x)) with T's heatmaps computed on A(x);
    ``adaptive``: T(A_{f o T}(x)) with BPDA through T. On ``original`` all
    three are A(x), stored once (as ``before``).
    """
    evaluation.check_order(order)
    if test_set not in TEST_SETS:
        raise ValueError(f"Unknown test set. Expected one of {list(TEST_SETS)}. Received: test_set={test_set!r}")
    if test_set == "original":
        order = "before"
    split = load_data(settings, data)
    a_params = attack_params(settings, attack)
    params = {"attack": attack, "order": order, "test_set": test_set, "seed": settings["seed"],
              **{f"attack.{k}": v for k, v in a_params.items()}, **_transform_params(settings, test_set),
              "data_fingerprint": data_fingerprint(split)}
    upstream = {"model": model_run_id}
    if test_set in heatmaps.METHODS:
        upstream["explainer"] = explainer_run_id
    source_run_id = None
    if order == "after":
        source_run_id = attack_step(settings, model_run_id, explainer_run_id, attack, "before", "original", data)
        upstream["source"] = source_run_id
    key = tracking.step_key("attack", params, upstream)
    name = f"attack-{attack}-{order}-{test_set}"
    found = _reused(key, name)
    if found is not None:
        return found.info.run_id

    model = models.load(model_run_id)
    tags = {"step": "attack", "attack": attack, "order": order, "test_set": test_set, "profile": settings["profile"]}
    with _timed_run(name, key, tags, f"{len(split.x_test)} images") as active:
        tracking.log_params({**params, "model_run_id": model_run_id, "explainer_run_id": explainer_run_id,
                             "source_run_id": source_run_id or ""})
        transform = _transform(settings, test_set, explainer_run_id)
        progress = _progress(name)
        if order == "before":
            clean = clean_inputs(settings, test_set, split, explainer_run_id, data)
            images = attacks.generate(model, clean, split.y_test, attack, batch_size=BATCH, seed=settings["seed"],
                                      progress=progress, **a_params)
        elif order == "after":
            attacked = tracking.load_arrays(source_run_id, "adversarial.npz")["images"]
            images = transform(attacked, batch_size=BATCH)
        else:
            images = evaluation.attack_inputs(model, transform, split.x_test, split.y_test, attack, "adaptive",
                                              batch_size=BATCH, seed=settings["seed"], progress=progress, **a_params)
        tracking.log_arrays("adversarial.npz", images=images)
        mlflow.log_metric("accuracy", _accuracy(model, images, split.y_test).value)
    return active.info.run_id


# ---------------------------------------------------------------- evaluate


def evaluate_step(settings: dict, model_run_id: str, explainer_run_id: str, data: str,
                  variant: str = "") -> tuple[str, list[dict]]:
    """Every cell of the grid for one model; one metric per cell plus a table with counts and CIs."""
    split = load_data(settings, data)
    attack_names = parse_attack_list(settings["attacks"], "attacks")
    adaptive = parse_attack_list(settings["adaptive_attacks"], "adaptive_attacks")
    grid = evaluation.cells(attack_names, adaptive)
    params = {"attacks": ",".join(attack_names), "adaptive_attacks": ",".join(adaptive),
              "sigma": settings["sigma"], "keep_fraction": settings["keep_fraction"], "seed": settings["seed"],
              "lrp_epsilon": settings["lrp_epsilon"],
              **{f"{a}.{k}": v for a in attack_names for k, v in attack_params(settings, a).items()},
              "data_fingerprint": data_fingerprint(split)}
    key = tracking.step_key("evaluate", params, {"model": model_run_id, "explainer": explainer_run_id})
    name = f"evaluate-{variant or model_run_id[:8]}"
    found = _reused(key, name)
    if found is not None:
        return found.info.run_id, tracking.load_table(found.info.run_id, "cells.json").to_dict("records")

    tags = {"step": "evaluate", "variant": variant, "profile": settings["profile"]}
    with _timed_run(name, key, tags, f"{len(grid)} cells") as active:
        tracking.log_params({**params, "model_run_id": model_run_id, "explainer_run_id": explainer_run_id,
                             "data": data})
        model = models.load(model_run_id)
        rows = []
        for cell in grid:
            if cell.attack == evaluation.CLEAN:
                images = clean_inputs(settings, cell.test_set, split, explainer_run_id, data)
            else:
                run_id = attack_step(settings, model_run_id, explainer_run_id, cell.attack, cell.order,
                                     cell.test_set, data)
                images = tracking.load_arrays(run_id, "adversarial.npz")["images"]
            result = _accuracy(model, images, split.y_test)
            metric = evaluation.metric_name(*cell)
            mlflow.log_metric(metric, result.value)
            rows.append({"metric": metric, "test_set": cell.test_set, "attack": cell.attack,
                         "order": cell.order or "none", "accuracy": result.value, "correct": result.correct,
                         "n": result.n, "ci95_low": result.low, "ci95_high": result.high})
        mlflow.log_table(pd.DataFrame(rows), artifact_file="cells.json")
    return active.info.run_id, rows
