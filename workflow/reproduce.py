"""The whole thesis grid as one workflow: five models, six test sets, every attack and order.

Each stage is a step run (see :mod:`workflow.steps`) nested under one
``reproduce`` run; finished steps are reused, so a second reproduction with
nothing changed trains and attacks nothing, and an interrupted one resumes.
"""

from __future__ import annotations

import contextlib
import time

import mlflow

from workflow import tracking
from workflow.profiles import VARIANTS
from workflow.steps import evaluate_step, load_data, train_step


def reproduce(settings: dict, data: str, aliases: tuple[str, ...] = ()) -> dict:
    """Train the five variants, evaluate each on the full grid; returns run ids and every cell.

    The steps nest under a new ``reproduce`` run, or under the active run when
    there is one (the run `mlflow run` made for this process).
    """
    started = time.time()
    load_data(settings, data)  # bad data fails before any run is opened
    result = {"profile": settings["profile"], "train_runs": {}, "evaluate_runs": {}, "cells": {}}
    tags = {"step": "reproduce", "profile": settings["profile"]}
    parent = mlflow.active_run()
    if parent is not None:
        mlflow.set_tags(tags)
    opened = contextlib.nullcontext(parent) if parent else tracking.run(f"reproduce-{settings['profile']}", tags=tags)
    with opened as active:
        tracking.log_params({**{k: v for k, v in settings.items() if k != "profile"}, "data": data,
                             "profile": settings["profile"]})
        explainer = train_step(settings, "none", data, aliases)
        result["train_runs"]["none"] = explainer
        for variant in VARIANTS[1:]:
            result["train_runs"][variant] = train_step(settings, variant, data, aliases, explainer_run_id=explainer)
        for variant in VARIANTS:
            run_id, rows = evaluate_step(settings, result["train_runs"][variant], explainer, data, variant)
            result["evaluate_runs"][variant] = run_id
            result["cells"][variant] = {row["metric"]: row["accuracy"] for row in rows}
        mlflow.log_metric("seconds", round(time.time() - started, 3))
        result["run_id"] = active.info.run_id
    result["seconds"] = round(time.time() - started, 3)
    tracking.log(f"reproduce ({settings['profile']}) done in {result['seconds']:.1f} s")
    return result
