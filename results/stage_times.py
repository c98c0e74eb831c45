"""Wall time per stage of a profile's reproduction, from the step runs' own clocks.

Every step run logs ``seconds``, the wall time of its body. A step that runs
inside another (an attack step inside the evaluate step that needs it, a
heatmaps step inside the train step that blurs with it) is counted once: a
run's *own* time is its seconds minus those of the runs nested in it. A step
that was reused costs nothing again and counts where it ran. Stages: ``train``,
``heatmaps``, ``overlap``, ``evaluate`` (its own part: predictions, logging),
one stage per attack and order (``newtonfool before``), and ``curves`` (the
robustness-curve points). Runs of an interrupted reproduction count as far as
they finished.
"""

from __future__ import annotations

import re

import mlflow
import pandas as pd

STEP_STAGES = ("train", "heatmaps", "overlap", "evaluate")
CURVE_STAGE = "curves"
_CURVE_POINT = re.compile(r"-eps[0-9.e+-]+$")  # attack step names of curve points end in -eps<budget x 255>
COLUMNS = ("run_id", "parent_run_id", "seed", "stage", "seconds")


def stage_of(step: str, run_name: str, attack: str = "", order: str = "") -> str:
    """The stage a step run's own time counts under."""
    if step != "attack":
        return step
    return CURVE_STAGE if _CURVE_POINT.search(run_name) else f"{attack} {order}"


def stage_times(runs: pd.DataFrame) -> pd.DataFrame:
    """Own seconds and run count per (seed, stage).

    ``runs``: one row per FINISHED step run with :data:`COLUMNS`; ``parent_run_id``
    the run it was nested in (any run: only step runs in ``runs`` are subtracted).
    """
    missing = [c for c in COLUMNS if c not in runs.columns]
    if missing:
        raise ValueError(f"stage_times needs columns {list(COLUMNS)}. Received: missing {missing}")
    nested = runs.groupby("parent_run_id")["seconds"].sum()
    own = runs["seconds"] - runs["run_id"].map(nested).fillna(0.0)
    if (own < -1e-6).any():
        bad = runs.loc[own < -1e-6, "run_id"].tolist()
        raise ValueError(f"A run's nested runs took longer than the run itself. Received: run_id={bad[0]!r}")
    table = (runs.assign(own=own.clip(lower=0.0))
             .groupby(["seed", "stage"]).agg(runs=("run_id", "size"), seconds=("own", "sum")).reset_index())
    return table.sort_values(["seed", "stage"], key=_stage_sort_key).reset_index(drop=True)


def _stage_sort_key(column: pd.Series) -> pd.Series:
    if column.name != "stage":
        return column
    first = {stage: i for i, stage in enumerate(("train", "heatmaps", "overlap"))}
    return column.map(lambda s: (first.get(s, 3 if s not in ("evaluate", CURVE_STAGE) else 5), s))


def stage_table(times: pd.DataFrame) -> pd.DataFrame:
    """Minutes per stage (rows) and seed (columns ``seed N``), with a ``total`` row; text cells."""
    minutes = times.pivot_table(index="stage", columns="seed", values="seconds", aggfunc="sum") / 60.0
    minutes = minutes.reindex(list(dict.fromkeys(times["stage"])))  # the stages in the order of the work
    minutes.columns = [f"seed {seed}" for seed in minutes.columns]
    minutes.loc["total"] = minutes.sum()
    return minutes.apply(lambda column: column.map(lambda m: "—" if pd.isna(m) else f"{m:.1f}"))


def collect_stage_runs(tracking_uri: str | None, experiment: str, profile: str) -> pd.DataFrame:
    """:data:`COLUMNS` for every FINISHED step run the profile's reproductions created."""
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"No such experiment in {client.tracking_uri}. Received: experiment={experiment!r}")
    runs = client.search_runs([found.experiment_id], f"tags.profile = '{profile}' and attributes.status = 'FINISHED'",
                              max_results=50000)
    steps = [r for r in runs if r.data.tags.get("step") in (*STEP_STAGES, "attack")]
    seeds = {r.info.run_id: r.data.params.get("seed") for r in steps if r.data.tags["step"] == "train"}
    rows = []
    for run in steps:
        params, tags = run.data.params, run.data.tags
        seed = params.get("seed", seeds.get(params.get("explainer_run_id", "")))
        rows.append({"run_id": run.info.run_id, "parent_run_id": tags.get("mlflow.parentRunId", ""),
                     "seed": int(seed) if seed is not None else -1,
                     "stage": stage_of(tags["step"], tags.get("mlflow.runName", ""), tags.get("attack", ""),
                                       tags.get("order", "")),
                     "seconds": float(run.data.metrics.get("seconds", 0.0))})
    return pd.DataFrame(rows, columns=list(COLUMNS))
