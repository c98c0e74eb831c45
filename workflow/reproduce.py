"""The whole thesis grid as one workflow: every training variant, every test set, every attack and order.

Each stage is a step run (see :mod:`workflow.steps`) nested under the active
(entry) run; finished steps are reused, so a second reproduction with nothing
changed trains and attacks nothing, and an interrupted one resumes.
"""

from __future__ import annotations

import time

from workflow import profiles, tracking
from workflow.steps import evaluate_step, overlap_step, train_step


def reproduce(settings: dict, data: str, aliases: tuple[str, ...] = (), seeds_after: int = 0) -> dict:
    """Train the selected variants (setting ``variants``), measure the keep-mask overlap, evaluate each model
    on the full grid (every test set). ``seeds_after``: how many seeds the caller runs after this one (said in
    the progress lines)."""
    started = time.time()
    tracking.log(f"seed {settings['seed']}: {len(profiles.selected_variants(settings))} models to train and "
                 f"evaluate{_then(seeds_after)}")
    result = {"profile": settings["profile"], "train_runs": {}, "evaluate_runs": {}, "cells": {}}
    explainer = train_step(settings, "none", data, aliases)
    result["train_runs"] = {variant: explainer if variant == "none" else
                            train_step(settings, variant, data, aliases, explainer_run_id=explainer)
                            for variant in profiles.selected_variants(settings)}
    result["overlap_run"] = overlap_step(settings, explainer, data)
    minutes = []
    for number, (variant, run_id) in enumerate(result["train_runs"].items(), start=1):
        begun = time.time()
        evaluated, rows = evaluate_step(settings, run_id, explainer, data, variant)
        minutes.append((time.time() - begun) / 60)
        result["evaluate_runs"][variant] = evaluated
        result["cells"][variant] = {row["metric"]: row["accuracy"] for row in rows}
        tracking.log(f"seed {settings['seed']}: {progress_line(minutes, len(result['train_runs']))}"
                     f"{_then(seeds_after)}")
    result["seconds"] = round(time.time() - started, 3)
    tracking.log(f"reproduce ({settings['profile']}) seed {settings['seed']} done in {result['seconds']:.1f} s"
                 f"{_then(seeds_after)}")
    return result


REUSED_MINUTES = 0.5  # an evaluate step that took less was reused (reading its runs takes seconds)


def _then(seeds_after: int) -> str:
    return f"; then {seeds_after} more seed{'s' if seeds_after > 1 else ''}" if seeds_after else ""


def progress_line(minutes: list[float], total: int) -> str:
    """``models evaluated: k/total`` with the minutes spent, and for the models left an estimate at the pace of
    the models evaluated (not reused) in this reproduction; ``minutes``: per model evaluated so far.

    The first model that did work may have resumed an interrupted evaluation partway, so it sets the pace only
    while no other model has, and the estimate then says it is a lower bound.
    """
    spent, worked = sum(minutes), [m for m in minutes if m >= REUSED_MINUTES]
    line = f"models evaluated: {len(minutes)}/{total} ({spent:.1f} min in this reproduction"
    left = total - len(minutes)
    if left and worked:
        paced = worked[1:] or worked
        pace = sum(paced) / len(paced)
        bound = "at least" if len(worked) == 1 else "about"
        line += f"; {left} left, {bound} {left * pace:.0f} min at {pace:.1f} min per model evaluated here"
        if len(worked) == 1:
            line += "; the only such model may have resumed partway"
    return line + ")"
