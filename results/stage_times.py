"""Wall time per stage of a profile's reproduction, from the step runs' own clocks.

Every step run logs ``seconds``, the wall time of its body. A step that runs
inside another (an attack step inside the evaluate step that needs it) is
counted once: a run's *own* time is its seconds minus those of the step runs
nested in it. The runs of a seed are those the newest finished reproduction
of that seed ran or reused (its ``steps.json``; see :func:`chosen_step_runs`),
with the step runs nested in them, also those nested in earlier, interrupted
attempts of the same step which the finished attempt reused (see
:func:`with_nested`); a reused step costs nothing again and counts where it
ran. For a seed no reproduction has finished yet (one interrupted, to be
resumed), they are the profile's finished step runs of that seed, as far as
they got. Stages: ``train``, ``heatmaps``, ``overlap``, per attack one stage
on the original test set (``square on original``: there every order is the
attack itself) and one per order on the blurred test sets (``newtonfool
before``), ``curves`` (the robustness-curve points) and ``evaluate`` (its own
part: predictions, logging).

:func:`thesis_stages` names the stages the thesis' own tables need (training,
heatmaps, the evaluate step's own part, and the attack stages whose table rows
the thesis has: FGSM and NewtonFool on the original test set, before and after
the blur); the table's ``thesis' stages`` row sums them, so a reader sees how
much of a seed's time the checks beyond the thesis take (adaptive attacks,
PGD, Square, transfer, curves, overlap). Those stages still include the
controls the thesis did not train (Blur, Random) and the Random control's
test set, where a seed ran them.
"""

from __future__ import annotations

import re
import warnings

import pandas as pd

import attacks
import defense
from evaluation import ORDERS
from results.collect import finished_runs
from results.tables import row_label
from workflow import profiles, tracking
from workflow.machine import processor_of
from workflow.store_snapshot import step_key_of

STEP_STAGES = ("train", "heatmaps", "overlap", "evaluate")
CURVE_STAGE = "curves"
_CURVE_POINT = re.compile(r"-eps[0-9.e+-]+$")  # attack step names of curve points end in -eps<budget x 255>
COLUMNS = ("run_id", "parent_run_id", "seed", "stage", "seconds")
THESIS_ROW = "thesis' stages"  # the stage table's subtotal row


ORIGINAL = "original"  # the test set without a blur


def stage_of(step: str, run_name: str, attack: str = "", order: str = "", test_set: str = "") -> str:
    """The stage a step run's own time counts under."""
    if step != "attack":
        return step
    if _CURVE_POINT.search(run_name):
        return CURVE_STAGE
    return f"{attack} on {ORIGINAL}" if test_set == ORIGINAL else f"{attack} {order}"


def stage_times(runs: pd.DataFrame) -> pd.DataFrame:
    """Own seconds and run count per (seed, stage), stages in the order of the work.

    ``runs``: one row per FINISHED step run with :data:`COLUMNS`; ``parent_run_id``
    the run it was nested in (any run: only step runs in ``runs`` are subtracted).
    A run whose nested runs add up to more than its own seconds (a run from before
    steps logged ``seconds``) counts 0, with a warning naming it.
    """
    missing = [c for c in COLUMNS if c not in runs.columns]
    if missing:
        raise ValueError(f"stage_times needs columns {list(COLUMNS)}. Received: missing {missing}")
    if runs.empty:
        return pd.DataFrame(columns=["seed", "stage", "runs", "seconds"])
    table = (runs.assign(own=own_seconds(runs))
             .groupby(["seed", "stage"]).agg(runs=("run_id", "size"), seconds=("own", "sum")).reset_index())
    rank = {stage: i for i, stage in enumerate(stage_order())}
    table["rank"] = table["stage"].map(lambda stage: rank.get(stage, len(rank)))
    return table.sort_values(["seed", "rank", "stage"]).drop(columns="rank").reset_index(drop=True)


def own_seconds(runs: pd.DataFrame) -> pd.Series:
    """Each run's own seconds: its ``seconds`` minus those of the runs in ``runs`` nested in it (at least 0; a
    run whose nested runs add up to more, a run from before steps logged ``seconds``, with a warning)."""
    seconds = runs["seconds"].astype(float)
    nested = seconds.groupby(runs["parent_run_id"]).sum()
    own = seconds - runs["run_id"].map(nested).fillna(0.0)
    for run_id in runs.loc[own < -1e-3, "run_id"]:
        warnings.warn(f"A step run's nested runs took longer than the run itself; counted as 0. "
                      f"Received: run_id={run_id!r}", stacklevel=3)
    return own.clip(lower=0.0)


def stage_order() -> list[str]:
    """Every stage in the order of the work: training, heatmaps, overlap, attacks (registry order), curves."""
    return ["train", "heatmaps", "overlap",
            *[stage for attack in attacks.ATTACKS
              for stage in (f"{attack} on {ORIGINAL}", *[f"{attack} {order}" for order in ORDERS])],
            CURVE_STAGE, "evaluate"]


def thesis_stages(thesis_rows) -> list[str]:
    """The stages the thesis' tables need, in the order of the work: training, heatmaps, the evaluate step's own
    part, and every attack stage whose table row (:func:`results.tables.row_label`) is among ``thesis_rows``
    (the ``row`` column of :func:`results.load_thesis`): "fgsm before" for the row "FGSM", "fgsm on original"
    when any of the attack's rows is the thesis'."""
    rows = set(thesis_rows)
    wanted = {"train", "heatmaps", "evaluate"}
    for attack in attacks.ATTACKS:
        orders = [order for order in ORDERS if row_label(attack, order) in rows]
        wanted |= {f"{attack} {order}" for order in orders} | ({f"{attack} on {ORIGINAL}"} if orders else set())
    return [stage for stage in stage_order() if stage in wanted]


def thesis_seconds(times: pd.DataFrame, thesis_rows) -> pd.Series:
    """Per seed, the seconds of :func:`thesis_stages` in a :func:`stage_times` table (0 for a seed without any)."""
    seeds = sorted(times["seed"].unique())
    own = times[times["stage"].isin(thesis_stages(thesis_rows))].groupby("seed")["seconds"].sum()
    return own.reindex(seeds, fill_value=0.0)


def stage_table(times: pd.DataFrame, thesis_rows=None) -> pd.DataFrame:
    """Minutes per stage (rows) and seed (columns ``seed N``), with a ``total`` row and, given the thesis' table
    rows (see :func:`thesis_stages`), a ``thesis' stages`` row under it; text cells."""
    minutes = times.pivot_table(index="stage", columns="seed", values="seconds", aggfunc="sum") / 60.0
    order = stage_order()
    minutes = minutes.reindex([stage for stage in order if stage in minutes.index]
                              + sorted(set(minutes.index) - set(order)))
    minutes.columns = [f"seed {seed}" for seed in minutes.columns]
    minutes.loc["total"] = minutes.sum()
    if thesis_rows is not None:
        minutes.loc[THESIS_ROW] = (thesis_seconds(times, thesis_rows) / 60.0).set_axis(
            [f"seed {seed}" for seed in sorted(times["seed"].unique())])
    return minutes.apply(lambda column: column.map(lambda m: "—" if pd.isna(m) else f"{m:.1f}"))


def chosen_step_runs(entries: list[dict]) -> dict[str, set[int]]:
    """The step run ids a stage table counts, each with the seeds it counts for, from the profile's finished
    ``reproduce`` entry runs.

    ``entries``: newest first, each ``{"seeds": "1,2", "variants": "all", "run_ids": [...]}``. For each
    seed, the newest entry that ran it counts; one that ran fewer variants (``--variants``) adds
    to an older one, until one that ran them all (``all``, or every variant named). An entry's runs
    count only for its seeds not yet complete, so a seed recomputed by a newer entry is not counted
    twice. Empty when nothing has finished (the caller then counts every finished step run of a seed).
    """
    complete: set[int] = set()
    chosen: dict[str, set[int]] = {}
    for entry in entries:
        seeds = set(profiles.parse_seeds(entry["seeds"])) - complete
        if not seeds:
            continue
        for run_id in entry["run_ids"]:
            chosen.setdefault(run_id, set()).update(seeds)
        if set(profiles.parse_variants(entry["variants"]) or defense.variants()) == set(defense.variants()):
            complete |= seeds
    return chosen


def with_nested(chosen: set[str], runs: pd.DataFrame) -> set[str]:
    """``chosen`` and every FINISHED step run nested in them, at any depth.

    ``runs``: every step run, any status, with ``run_id``, ``parent_run_id``,
    ``step_key`` and ``status``. A reused evaluate step stands on the attack
    steps nested in it and on those nested in its earlier, interrupted attempts
    (runs with the same ``step_key`` that did not finish), which the finished
    attempt reused. Another FINISHED run of the same key (two workers racing)
    is not an attempt of this one: its nested runs are not counted.
    """
    interrupted = runs[runs["status"] != "FINISHED"]
    attempts = interrupted.groupby("step_key")["run_id"].apply(set).to_dict()
    key_of = dict(zip(runs["run_id"], runs["step_key"]))
    children: dict[str, set[str]] = {}
    for run_id, parent, status in zip(runs["run_id"], runs["parent_run_id"], runs["status"]):
        if status == "FINISHED":
            children.setdefault(parent, set()).add(run_id)
    found, frontier = set(chosen), list(chosen)
    while frontier:
        run_id = frontier.pop()
        key = key_of.get(run_id, "")
        holders = (attempts.get(key, set()) if key else set()) | {run_id}
        for child in set().union(*(children.get(holder, set()) for holder in holders)) - found:
            found.add(child)
            frontier.append(child)
    return found


def collect_stage_runs(tracking_uri: str | None, experiment: str, profile: str) -> pd.DataFrame:
    """:data:`COLUMNS` for the step runs each seed's wall time counts (see above), and the ``processor`` each ran
    on (:func:`workflow.machine.processor_of`)."""
    client, found = finished_runs(tracking_uri, experiment, profile, step="entry")
    entries = []
    for entry in found:  # newest first
        if entry.data.tags.get("entry_point") != "reproduce":
            continue
        try:
            run_ids = list(tracking.load_table(entry.info.run_id, "steps.json", client.tracking_uri)["run_id"])
        except Exception:  # noqa: BLE001 - an entry run that ran no step logs no steps.json
            continue
        entries.append({"seeds": entry.data.params.get("seeds", entry.data.params.get("seed", "0")),
                        "variants": entry.data.params.get("variants", "all"), "run_ids": run_ids})
    chosen = chosen_step_runs(entries)
    every = [run for run in client.search_runs([client.get_experiment_by_name(experiment).experiment_id], "",
                                               max_results=50000)
             if run.data.tags.get("step") in (*STEP_STAGES, "attack")]
    nested = with_nested(set(chosen), pd.DataFrame(
        [(r.info.run_id, r.data.tags.get("mlflow.parentRunId", ""), step_key_of(r.data.tags), r.info.status)
         for r in every], columns=["run_id", "parent_run_id", "step_key", "status"]))
    finished = [run for run in every if run.info.status == "FINISHED"]
    seeds = {r.info.run_id: r.data.params.get("seed") for r in finished if r.data.tags["step"] == "train"}
    covered = set().union(*chosen.values()) if chosen else set()
    rows = []
    for run in finished:
        params, tags = run.data.params, run.data.tags
        seed = params.get("seed", seeds.get(params.get("explainer_run_id", "")))
        seed = int(seed) if seed is not None else -1
        counted = (seed in chosen[run.info.run_id] if run.info.run_id in chosen
                   else run.info.run_id in nested if seed in covered
                   else tags.get("profile") == profile)  # a seed in progress: as far as it got
        if not counted:
            continue
        rows.append({"run_id": run.info.run_id, "parent_run_id": tags.get("mlflow.parentRunId", ""), "seed": seed,
                     "stage": stage_of(tags["step"], tags.get("mlflow.runName", ""), tags.get("attack", ""),
                                       tags.get("order", ""), tags.get("test_set", "")),
                     "seconds": float(run.data.metrics.get("seconds", 0.0)), "processor": processor_of(tags)})
    return pd.DataFrame(rows, columns=[*COLUMNS, "processor"])
