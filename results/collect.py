"""Query the tracking server for evaluate runs: one row per (variant, seed, grid cell)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd

import attacks
import evaluation
from results.tables import CLEAN_ORDER
from workflow import tracking

COLUMNS = ["variant", "seed", "run_id", "test_set", "attack", "order", "accuracy", "correct", "n",
           "ci95_low", "ci95_high", "l2", "linf", "eps"]


def finished_runs(tracking_uri: str | None, experiment: str, profile: str | None, step: str | None = "evaluate",
                   max_results: int = 5000):
    """(client, FINISHED runs of ``step`` (None: of every step) of the profile, newest first)."""
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"No such experiment in {client.tracking_uri}. Received: experiment={experiment!r}")
    query = "attributes.status = 'FINISHED'"
    if step:
        query += f" and tags.step = '{step}'"
    if profile:
        query += f" and tags.profile = '{profile}'"
    return client, client.search_runs([found.experiment_id], query, order_by=["attributes.start_time DESC"],
                                      max_results=max_results)


def newest_evaluate_runs(runs: list) -> list:
    """One evaluate run per (variant, seed): the newest (older ones are superseded re-runs), among the runs on
    the seed's explainer.

    A seed's models all stand on one explainer (its Original model: the heatmaps of the training and test
    images). A seed's explainer is the model of its newest evaluate run of the Original model on itself (what a
    reproduction evaluates first); when a seed is run again with a new explainer (another machine trains
    another model from the same seed; changed training code), its models evaluated on the old one leave the
    tables until they are evaluated on the new one, rather than mix with them. A seed without such a run keeps
    every variant's newest run.

    ``runs``: newest first (as :func:`finished_runs` gives them). Cells, curves and outcomes all read
    these runs, so they always describe the same models.
    """
    explainers: dict[tuple[int, str], str] = {}  # (seed, profile) -> explainer run id
    for run in runs:
        variant, seed = _key(run)
        params = run.data.params
        if variant == "none" and params.get("model_run_id") == params.get("explainer_run_id") is not None:
            explainers.setdefault((seed, run.data.tags.get("profile", "")), params["explainer_run_id"])
    kept: dict[tuple[str, int], object] = {}
    for run in runs:
        variant, seed = _key(run)
        own = run.data.params.get("explainer_run_id")
        if explainers.get((seed, run.data.tags.get("profile", "")), own) == own:
            kept.setdefault((variant, seed), run)
    return list(kept.values())


def _key(run) -> tuple[str, int]:
    return run.data.tags.get("variant", ""), int(run.data.params.get("seed", 0))


def collect(tracking_uri: str | None = None, experiment: str = "pixel-importance",
            profile: str | None = None) -> pd.DataFrame:
    """Every grid metric of the newest FINISHED evaluate run per (variant, seed) (optionally of one profile),
    with its counts.

    ``l2``/``linf``: the cell's median perturbation size (NaN for clean cells and older runs); ``eps``: the
    attack's L-inf budget as the run logged it (NaN for clean cells and attacks without one, e.g. NewtonFool).
    """
    client, runs = finished_runs(tracking_uri, experiment, profile)
    rows = []
    for run in newest_evaluate_runs(runs):
        counts = _counts(client, run.info.run_id)
        variant, seed = _key(run)
        for name, value in run.data.metrics.items():
            cell = evaluation.parse_metric(name)
            if cell is None:
                continue
            correct, n, low, high = counts.get(name, (None, None, None, None))
            rows.append({"variant": variant, "seed": seed, "run_id": run.info.run_id,
                         "test_set": cell.test_set, "attack": cell.attack, "order": cell.order or CLEAN_ORDER,
                         "accuracy": value, "correct": correct, "n": n, "ci95_low": low, "ci95_high": high,
                         **{size: (run.data.metrics.get(evaluation.size_metric_name(size, cell), float("nan"))
                                   if cell.attack != evaluation.CLEAN else float("nan"))
                            for size in evaluation.SIZES},
                         "eps": _budget(run.data.params, cell.attack)})
    return pd.DataFrame(rows, columns=COLUMNS)


def collect_curves(tracking_uri: str | None = None, experiment: str = "pixel-importance",
                   profile: str | None = None) -> pd.DataFrame:
    """The robustness curves (``curves.json``) of the evaluate runs :func:`collect` keeps, one row per point
    (none for a kept run without curves: never an older run's)."""
    client, runs = finished_runs(tracking_uri, experiment, profile)
    frames = []
    for run in newest_evaluate_runs(runs):
        try:
            table = tracking.load_table(run.info.run_id, "curves.json", tracking_uri=client.tracking_uri)
        except Exception:  # noqa: BLE001 - runs without curves (curve_eps empty, older runs)
            continue
        variant, seed = _key(run)
        frames.append(table.assign(variant=variant, seed=seed, run_id=run.info.run_id))
    columns = ["variant", "seed", "run_id", *evaluation.curves.COLUMNS]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _budget(params: dict, attack: str) -> float:
    """The L-inf budget an evaluate run logged for ``attack`` (``<crafting attack>.eps``), NaN if none."""
    if attack == evaluation.CLEAN or attack not in attacks.ATTACKS:
        return float("nan")
    value = params.get(f"{attacks.crafting(attack).name}.eps")
    return float(value) if value is not None else float("nan")


def _counts(client: mlflow.MlflowClient, run_id: str) -> dict:
    try:
        frame = tracking.load_table(run_id, "cells.json", tracking_uri=client.tracking_uri)
    except Exception:  # noqa: BLE001 - a run without the table still has its metrics
        return {}
    return {r.metric: (int(r.correct), int(r.n), float(r.ci95_low), float(r.ci95_high))
            for r in frame.itertuples()}


def collect_outcomes(tracking_uri: str | None = None, experiment: str = "pixel-importance",
                     profile: str | None = None,
                     seeds: tuple[int, ...] = ()) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """(variant, seed) -> ``outcomes.npz`` (metric -> per-image "correct") of the evaluate run :func:`collect`
    keeps (none for a kept run without it: never an older run's), of the chosen ``seeds`` (all when none is
    chosen); raises if those runs scored different test images (:func:`check_same_test_images`)."""
    client, runs = finished_runs(tracking_uri, experiment, profile)
    kept = [run for run in newest_evaluate_runs(runs) if not seeds or _key(run)[1] in seeds]
    check_same_test_images(kept)
    found: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    for run in kept:
        try:
            found[_key(run)] = tracking.load_arrays(run.info.run_id, "outcomes.npz", tracking_uri=client.tracking_uri)
        except Exception:  # noqa: BLE001 - runs from before outcomes were logged
            continue
    return found


# The parameters that fix which test images an evaluate run scored (what pairs image j across seeds).
TEST_IMAGE_PARAMS = ("data_fingerprint", "classes", "images_per_class", "train_per_class", "data_seed")


def check_same_test_images(runs: list) -> None:
    """Raise if ``runs`` (evaluate runs) scored different test images: their per-image outcomes are paired image
    by image across seeds, which only means something on one data selection. A parameter a run did not log
    (older runs) agrees with any value."""
    for name in TEST_IMAGE_PARAMS:
        values: dict[str, list] = {}
        for run in runs:
            value = run.data.params.get(name)
            if value is not None:
                values.setdefault(value, []).append(_key(run))
        if len(values) > 1:
            raise ValueError(f"The evaluate runs were tested on different images ({name} differs), so their "
                             f"per-image outcomes cannot be paired across seeds; report seeds of one data "
                             f"selection (--seeds) or keep each selection in its own experiment. "
                             f"Received: {name}={ {value: sorted(keys) for value, keys in values.items()} }")


def collect_overlap(tracking_uri: str | None = None, experiment: str = "pixel-importance",
                    profile: str | None = None) -> pd.DataFrame:
    """Per training seed, the newest finished overlap step's keep-mask IoU table (its explainer's seed in column
    ``seed``; empty when none ran)."""
    client, runs = finished_runs(tracking_uri, experiment, profile, step="overlap")
    tables, seeds = [], set()
    for run in runs:  # newest first
        seed = _explainer_seed(client, run.data.params.get("explainer_run_id"))
        if seed in seeds:
            continue
        seeds.add(seed)
        tables.append(tracking.load_table(run.info.run_id, "overlap.json", tracking_uri=client.tracking_uri)
                      .assign(seed=seed))
    if not tables:
        return pd.DataFrame(columns=["method_a", "method_b", "mean_iou", "min_iou", "images", "seed"])
    return pd.concat(tables, ignore_index=True).sort_values("seed", kind="stable", ignore_index=True)


UNKNOWN_SEED = -1  # an overlap step whose explainer's seed cannot be read (never taken for a real seed)


def _explainer_seed(client: mlflow.MlflowClient, run_id: str | None) -> int:
    """The training seed of the explainer an overlap step used (UNKNOWN_SEED where it cannot be read)."""
    if not run_id:
        return UNKNOWN_SEED
    try:
        return int(client.get_run(run_id).data.params.get("seed", 0))
    except Exception:  # noqa: BLE001 - a deleted explainer run: its overlap table still counts, seed unknown
        return UNKNOWN_SEED


def of_seeds(frame: pd.DataFrame, seeds: tuple[int, ...]) -> pd.DataFrame:
    """The rows of ``frame`` (with a ``seed`` column: cells, curves, overlap, stage times) of the chosen ``seeds``;
    all of them when none is chosen."""
    if not seeds or frame.empty:
        return frame
    return frame[frame["seed"].astype(int).isin(seeds)].reset_index(drop=True)
