"""The whole thesis grid as one workflow: every training variant, every test set, every attack and order.

Each stage is a step run (see :mod:`workflow.steps`) nested under the active
(entry) run; finished steps are reused, so a second reproduction with nothing
changed trains and attacks nothing, and an interrupted one resumes.
"""

from __future__ import annotations

import time

from workflow import profiles, tracking
from workflow.steps import evaluate_step, overlap_step, train_step


def reproduce(settings: dict, data: str, aliases: tuple[str, ...] = ()) -> dict:
    """Train the selected variants (setting ``variants``), measure the keep-mask overlap, evaluate each model
    on the full grid (every test set)."""
    started = time.time()
    result = {"profile": settings["profile"], "train_runs": {}, "evaluate_runs": {}, "cells": {}}
    explainer = train_step(settings, "none", data, aliases)
    result["train_runs"] = {variant: explainer if variant == "none" else
                            train_step(settings, variant, data, aliases, explainer_run_id=explainer)
                            for variant in profiles.selected_variants(settings)}
    result["overlap_run"] = overlap_step(settings, explainer, data)
    evaluating = time.time()
    for number, (variant, run_id) in enumerate(result["train_runs"].items(), start=1):
        evaluated, rows = evaluate_step(settings, run_id, explainer, data, variant)
        result["evaluate_runs"][variant] = evaluated
        result["cells"][variant] = {row["metric"]: row["accuracy"] for row in rows}
        tracking.log(f"models evaluated: {number}/{len(result['train_runs'])} "
                     f"({(time.time() - evaluating) / 60:.1f} min in this reproduction)")
    result["seconds"] = round(time.time() - started, 3)
    tracking.log(f"reproduce ({settings['profile']}) done in {result['seconds']:.1f} s")
    return result
