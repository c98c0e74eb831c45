"""Run an Optuna study whose trials are MLflow runs; many workers may share one storage.

Every worker process opens (or creates) the study by name in ``storage`` and
runs its ``n_trials``; Optuna's database storage hands each trial to exactly
one worker. Each worker logs one ``sweep`` run with its trials nested under it
(params, metrics, and the trial number as a tag; the trial keeps the MLflow run
id as a user attribute). At the end the worker logs the Pareto front (or the
optimisation history), parameter importances and the best trials' params.

Trials are scored on validation images held out of the training images
(``validation_per_class``): every model of the sweep, the explainer included,
trains on the rest. The test images never reach the objective. Once the
study ends, the best trials' models are evaluated on the test images and
those numbers are reported beside them (``test_clean_accuracy`` /
``test_robust_accuracy``), never fed back to the sampler.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import optuna  # noqa: E402

import checks  # noqa: E402
import classifiers  # noqa: E402
import evaluation  # noqa: E402
from sweeps.objectives import Objective  # noqa: E402
from sweeps.search_space import SearchSpace  # noqa: E402
from workflow import data as workflow_data  # noqa: E402
from workflow import models, profiles, steps, tracking  # noqa: E402

DEFAULT_STORAGE = "sqlite:///optuna.db"
HEARTBEAT_SECONDS, GRACE_SECONDS = 60, 300  # a trial whose worker fell silent this long is failed (SIGKILL, OOM)
PURPOSE_ATTR = "pixel_importance_sweep"  # the study's user attribute: what its trials measure
VARYING = ("sigma", "keep_fraction", "profile", "base_profile")  # settings a trial sets, not the study


def redact(storage: str) -> str:
    """The storage URL without its password, for logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", storage)


def purpose(objective: Objective, settings: dict | None) -> dict:
    """What a study's trials measure: the objective, its attack and order, and a fingerprint of the settings
    every trial shares (all but the sigma and keep fraction it samples). Workers and later sessions may join
    a study only with the same purpose, or its trials would mix two measurements."""
    shared = {k: v for k, v in (settings or {}).items() if k not in VARYING}
    digest = hashlib.sha256(json.dumps(shared, sort_keys=True, default=str).encode()).hexdigest()[:16]
    attacked = objective.kind != "clean"  # a clean-accuracy study runs no attack
    return {"objective": objective.kind, "attack": objective.attack if attacked else None,
            "order": objective.order if attacked else None, "settings": digest}


@contextlib.contextmanager
def _heartbeat_is_experimental():
    """Quiet Optuna's warning that its heartbeat is "experimental" (so since Optuna 2.9): chosen knowingly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _storage(url: str) -> optuna.storages.RDBStorage:
    """The database storage with a heartbeat: a trial whose worker was killed outright (SIGKILL, out of memory,
    a lost machine) is failed once it has been silent for :data:`GRACE_SECONDS`, not left RUNNING forever."""
    with _heartbeat_is_experimental():
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS)


def open_study(name: str, storage: str, objective: Objective, seed: int,
               settings: dict | None = None) -> tuple[optuna.Study, int]:
    """Create the study, or load it by name (resuming it); the study and its sampler's seed.

    The study must have been made for the same purpose (:func:`purpose`); its stale trials are failed. The
    sampler's seed is ``seed`` plus the number of trials the study already has: a sampler seeded alike
    would replay its first proposals, so a resumed study would train the points it has again.
    """
    multi = len(objective.directions) > 1
    pruned = not multi and objective.kind == "robust"  # pruned on the clean accuracy, before the attack
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2) if pruned else optuna.pruners.NopPruner()
    try:
        study = optuna.create_study(study_name=name, storage=_storage(storage), directions=objective.directions,
                                    pruner=pruner, load_if_exists=True)
    except ValueError as error:
        raise ValueError(f"Study {name!r} in {redact(storage)} cannot be used for objective "
                         f"{objective.kind!r}: {error}. Received: study={name!r}") from error
    existing = [d.name.lower() for d in study.directions]
    if existing != objective.directions:
        raise ValueError(f"Study {name!r} already exists with directions {existing}; objective {objective.kind!r} "
                         f"needs {objective.directions}. Use another study name. Received: study={name!r}")
    wanted, made = purpose(objective, settings), study.user_attrs.get(PURPOSE_ATTR)
    if made is None:
        study.set_user_attr(PURPOSE_ATTR, wanted)
    elif made != wanted:
        differ = ", ".join(f"{key}={wanted[key]!r}" for key in wanted if made.get(key) != wanted[key])
        raise ValueError(f"Study {name!r} was made for {made}; this worker measures something else. Use another "
                         f"study name, or the study's own objective, attack, order and settings. Received: {differ}")
    with _heartbeat_is_experimental():
        optuna.storages.fail_stale_trials(study)
    used = int(seed) + len(study.trials)
    study.sampler = (optuna.samplers.NSGAIISampler if multi else optuna.samplers.TPESampler)(seed=used)
    return study, used


def _trial(trial: optuna.Trial, settings: dict, data: str, space: SearchSpace, objective: Objective,
           explainer_run_id: str, study_name: str) -> list[float]:
    point = space.sample(trial)
    trial_settings = profiles.changed(settings, sigma=point["sigma"], keep_fraction=point["keep_fraction"])
    method = point["heatmap"]
    pruned = False
    tags = {"step": "trial", "study": study_name, "optuna_trial_number": str(trial.number), "heatmap": method,
            "profile": trial_settings["profile"]}
    with tracking.run(f"trial-{trial.number}", tags=tags) as active:
        trial.set_user_attr("mlflow_run_id", active.info.run_id)
        mlflow.log_params({**point, "trial_number": trial.number, "attack": objective.attack,
                           "order": objective.order, "scored_on": "validation images held out of training"})
        model_run_id = steps.train_step(trial_settings, method, data, explainer_run_id=explainer_run_id)
        trial.set_user_attr("model_run_id", model_run_id)
        trial.set_user_attr("heatmap", method)
        trial.set_user_attr("explainer_run_id", explainer_run_id)  # another worker may have trained its own
        clean = clean_score(trial_settings, model_run_id, method, data, explainer_run_id)
        mlflow.log_metric("clean_accuracy", clean)
        robust = None
        if objective.kind == "robust":  # the clean accuracy decides whether the attack is worth running
            trial.report(clean, step=0)
            pruned = trial.should_prune()
        if not pruned and objective.kind != "clean":
            robust = robust_score(trial_settings, model_run_id, method, data, objective, explainer_run_id)
            mlflow.log_metric("robust_accuracy", robust)
        mlflow.set_tag("optuna_state", "PRUNED" if pruned else "COMPLETE")
    tracking.log(f"trial {trial.number}: sigma={point['sigma']:.3f} keep_fraction={point['keep_fraction']:.3f} "
                 f"{method} clean={clean:.3f} robust={robust}" + (" (pruned)" if pruned else ""))
    if pruned:
        raise optuna.TrialPruned()
    return objective.values(clean, robust)


def _log_figure(figure, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        figure.savefig(path, dpi=120, bbox_inches="tight")
        mlflow.log_artifact(str(path), artifact_path="study")
    plt.close(figure)


def _log_study(study: optuna.Study, objective: Objective) -> dict:
    """Pareto front / history, importances and best trials as artifacts of the active (sweep) run."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trials if complete else []
    summary = {"trials": len(study.trials), "complete": len(complete),
               "best": [{"number": t.number, "params": t.params, "values": dict(zip(objective.names, t.values)),
                         "mlflow_run_id": t.user_attrs.get("mlflow_run_id")} for t in best]}
    mlflow.log_dict(summary, "study/best_trials.json")
    if not complete:
        return summary
    vis = optuna.visualization.matplotlib
    if len(objective.directions) > 1:
        _log_figure(vis.plot_pareto_front(study, target_names=objective.names).figure, "pareto_front.png")
    else:
        _log_figure(vis.plot_optimization_history(study, target_name=objective.names[0]).figure,
                    "optimization_history.png")
    if len(complete) >= 2:
        try:
            axes = vis.plot_param_importances(study, target=lowered(0), target_name=objective.names[0])
            _log_figure(axes.figure, "param_importances.png")
        except (RuntimeError, ValueError) as error:  # e.g. every trial had the same params
            mlflow.log_text(str(error), "study/param_importances.txt")
    return summary


def lowered(index: int):
    """The target for Optuna's importances of objective ``index``: its value negated. Every objective here is
    maximised, and Optuna's default evaluator (PED-ANOVA), given a target, ranks what drives it *low*."""
    return lambda trial: -trial.values[index]


def clean_score(settings: dict, model_run_id: str, method: str, data: str, explainer_run_id: str) -> float:
    """Clean accuracy of a trial's model behind its defense, on the split ``settings`` select."""
    labels = workflow_data.load(settings, data).split.y_test
    images = steps.defended_inputs(settings, method, "test", data, explainer_run_id)
    return evaluation.accuracy(classifiers.predict_labels(models.load(model_run_id), images), labels).value


def robust_score(settings: dict, model_run_id: str, method: str, data: str, objective: Objective,
                 explainer_run_id: str) -> float:
    """Accuracy of a trial's model under the objective's attack and order, on the split ``settings`` select."""
    labels = workflow_data.load(settings, data).split.y_test
    run_id = steps.attack_step(settings, model_run_id, explainer_run_id, objective.attack, objective.order, method,
                               data)
    arrays = tracking.load_arrays(run_id, "adversarial.npz")
    if "indices" in arrays:  # an attack run on some of the images (Square: square_images of them)
        labels = labels[arrays["indices"]]
    return evaluation.accuracy(classifiers.predict_labels(models.load(model_run_id), arrays["images"]), labels).value


def scores(settings: dict, model_run_id: str, method: str, data: str, objective: Objective,
           explainer_run_id: str) -> dict:
    """Clean (and, unless the objective is clean accuracy, robust) accuracy of a trained trial model."""
    found = {"clean": clean_score(settings, model_run_id, method, data, explainer_run_id)}
    if objective.kind != "clean":
        found["robust"] = robust_score(settings, model_run_id, method, data, objective, explainer_run_id)
    return found


def _test_report(study: optuna.Study, summary: dict, settings: dict, data: str, objective: Objective,
                 explainer_run_id: str) -> None:
    """The best trials' models on the test images: reported beside them, after the study, never optimised."""
    trials = {t.number: t for t in study.trials}
    client = mlflow.MlflowClient()
    for best in summary["best"]:
        trial = trials[best["number"]]
        if "model_run_id" not in trial.user_attrs:
            continue
        trial_settings = profiles.changed(settings, sigma=trial.params["sigma"],
                                          keep_fraction=trial.params["keep_fraction"], validation_per_class=0)
        found = scores(trial_settings, trial.user_attrs["model_run_id"], trial.user_attrs["heatmap"], data,
                       objective, trial.user_attrs.get("explainer_run_id", explainer_run_id))
        best["test"] = found
        for name, value in found.items():
            client.log_metric(best["mlflow_run_id"], f"test_{name}_accuracy", value)
        tracking.log(f"trial {trial.number} on the test images (reported, not optimised): {found}")
    mlflow.log_dict(summary, "study/best_trials.json")


def run_sweep(settings: dict, data: str, space: SearchSpace, objective: Objective, study_name: str,
              storage: str = DEFAULT_STORAGE, n_trials: int = 10, seed: int | None = None) -> dict:
    """Run ``n_trials`` trials of the study in this process; returns the study's summary.

    ``settings["validation_per_class"]`` must be > 0: trials select on held-out training images.
    """
    n_trials = checks.positive_int("n_trials", n_trials)
    if not settings["validation_per_class"]:
        raise ValueError("A sweep selects on validation images held out of the training images, never on the test "
                         "images: validation_per_class must be > 0. Received: validation_per_class=0")
    sampler_seed = random.SystemRandom().randrange(2**31) if seed is None else check_sampler_seed(seed)
    workflow_data.load(settings, data)  # bad data fails before the study is touched
    study, seed_used = open_study(study_name, storage, objective, sampler_seed, settings)
    started = time.time()
    tags = {"step": "sweep", "study": study_name, "profile": settings["profile"]}
    with tracking.run(f"sweep-{study_name}", tags=tags) as parent:
        tracking.log_params({"study": study_name, "storage": redact(storage), "n_trials": int(n_trials),
                             "sampler_seed": sampler_seed, "sampler_seed_used": seed_used,
                             "objective": objective.kind, "attack": objective.attack,
                             "order": objective.order, "sigma_bounds": list(space.sigma),
                             "keep_fraction_bounds": list(space.keep_fraction), "heatmaps": ",".join(space.heatmaps),
                             **{k: v for k, v in settings.items() if k not in ("sigma", "keep_fraction", "profile",
                                                                             "base_profile")},
                             "data": data})
        explainer = steps.train_step(settings, "none", data)
        study.optimize(lambda trial: _trial(trial, settings, data, space, objective, explainer, study_name),
                       n_trials=int(n_trials), catch=())
        summary = _log_study(study, objective)
        _test_report(study, summary, settings, data, objective, explainer)
        mlflow.log_metric("seconds", round(time.time() - started, 3))
    summary.update(run_id=parent.info.run_id, study=study_name, storage=redact(storage))
    return summary


def check_sampler_seed(seed) -> int:
    """A sampler seed: an integer in [0, 2**31) (the seed used adds the study's trials to it)."""
    value = checks.non_negative_int("sampler_seed", seed)
    if value >= 2**31:
        raise ValueError(f"sampler_seed must be below 2**31. Received: sampler_seed={seed!r}")
    return value
