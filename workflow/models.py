"""Trained models in MLflow: Keras native format, safe loading, registry names and aliases."""

from __future__ import annotations

import functools
import re

import keras
import mlflow
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from workflow.profiles import default_aliases

REGISTERED_PREFIX = "pixel-importance"
LOADED_MODELS = 4  # models kept loaded (LRU): a sweep's trials are not all held at once
ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class UnsafeModelError(ValueError):
    """A model file would need code execution (Lambda layers, pickles) to load."""


def registered_name(variant: str) -> str:
    """One registered model per training variant: ``pixel-importance.lrp_eps``."""
    return f"{REGISTERED_PREFIX}.{variant}"


def check_alias(alias: str) -> str:
    if not ALIAS_PATTERN.match(alias or "") or re.match(r"^[vV]\d+$", alias):
        raise ValueError("alias must start with a letter and hold only letters, digits, '-' and '_' "
                         f"(and not look like a version, v1). Received: alias={alias!r}")
    return alias


def aliases_for(settings: dict, alias: str | None = None) -> tuple[str, ...]:
    """``alias`` (checked) if given, else the profile's name for a run with its exact settings, else none."""
    return (check_alias(alias),) if alias else default_aliases(settings)


def log(model: keras.Model) -> None:
    """Log ``model`` (Keras native ``.keras`` format) to the active run as artifact ``model``."""
    # Requirements given, not inferred: inference starts a Python subprocess per model (~10 s each).
    mlflow.keras.log_model(model, name="model", pip_requirements=[f"tensorflow=={tf.__version__}",
                                                                   f"keras=={keras.__version__}"])


def ensure_registered(run_id: str, variant: str, aliases: tuple[str, ...]) -> None:
    """Point ``aliases`` at the version registered from ``run_id`` (registering it if needed)."""
    if not aliases:
        return
    name = registered_name(variant)
    client = MlflowClient()
    versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if versions:
        version = max(int(v.version) for v in versions)
    else:
        version = int(mlflow.register_model(f"runs:/{run_id}/model", name).version)
    for alias in aliases:
        client.set_registered_model_alias(name, check_alias(alias), str(version))


def resolve_run_id(model_uri: str) -> str:
    """The training run behind ``models:/<name>@<alias>``, ``models:/<name>/<version>`` or ``runs:/<id>/model``."""
    client = MlflowClient()
    try:
        if model_uri.startswith("runs:/"):
            run_id = model_uri[len("runs:/"):].split("/")[0]
            client.get_run(run_id)
            return run_id
        if model_uri.startswith("models:/"):
            body = model_uri[len("models:/"):]
            if "@" in body:
                name, alias = body.split("@", 1)
                return client.get_model_version_by_alias(name, alias).run_id
            name, _, version = body.partition("/")
            return client.get_model_version(name, version).run_id
    except MlflowException as error:
        raise ValueError(f"No such registered model, alias or run. Received: model_uri={model_uri!r} "
                         f"({error.message.splitlines()[0][:200]})") from error
    raise ValueError("model_uri must look like models:/<name>@<alias>, models:/<name>/<version> or "
                     f"runs:/<run_id>/model. Received: model_uri={model_uri!r}")


def explainer_of(model_run_id: str, explainer: str | None, profile: str) -> tuple[str, str]:
    """The run id of the explainer whose heatmaps make ``model_run_id``'s test sets, and where it came from.

    ``explainer`` (a model URI) where given; else the explainer the model was trained with (its train run's
    ``explainer_run_id``: a heatmap model of seed 1 is tested with seed 1's Original model, not the profile's
    alias, which names seed 0's); an Original model explains itself; a model trained on no heatmap (the Blur
    model) falls back to the profile's registered Original model, ``pixel-importance.none@<profile>``.
    """
    if explainer:
        return resolve_run_id(explainer), f"--explainer {explainer}"
    run = MlflowClient().get_run(model_run_id)
    if run.data.params.get("explainer_run_id"):
        return run.data.params["explainer_run_id"], "the explainer the model was trained with"
    if run.data.tags.get("variant") == "none":
        return model_run_id, "the model itself (an Original model is its own explainer)"
    alias = f"models:/{registered_name('none')}@{profile}"
    return resolve_run_id(alias), f"{alias} (the model was trained on no heatmap; --explainer names another)"


@functools.lru_cache(maxsize=LOADED_MODELS)
def load(run_id: str) -> keras.Model:
    """The model logged by run ``run_id``, loaded with Keras' safe mode (no code runs on load).

    A run's model never changes, so loads are cached by run id (LRU-bounded).
    """
    try:
        return mlflow.keras.load_model(f"runs:/{run_id}/model", load_model_kwargs={"safe_mode": True})
    except ValueError as error:
        if "safe_mode" in str(error) or "unsafe" in str(error).lower() or "Lambda" in str(error):
            raise UnsafeModelError(f"Refusing to load a model that needs unsafe deserialization "
                                   f"(safe_mode=True). Received: run_id={run_id!r}: {error}") from error
        raise
