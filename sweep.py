"""Entry point `sweep`: Optuna search over blur sigma and keep fraction, every trial an MLflow run.

    mlflow run . --env-manager local -e sweep -P profile=quick -P data=../shared/data/cifar10-jpg -P n_trials=8
    OPTUNA_STORAGE=postgresql://user:pass@127.0.0.1/optuna \
        python sweep.py --profile quick --data ../shared/data/cifar10-jpg --study blur --n_trials 8  # on each worker

Storage: $OPTUNA_STORAGE, else a local sqlite file (sqlite:///optuna.db); a
study is resumed by its name. Watch it with `optuna-dashboard sqlite:///optuna.db`.
A storage with a password belongs in $OPTUNA_STORAGE: `mlflow run` logs every
-P value as given.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
import checks  # noqa: E402
import heatmaps  # noqa: E402
from evaluation import ORDERS  # noqa: E402
from sweeps import DEFAULT_STORAGE, OBJECTIVES, SearchSpace, resolve_objective, run_sweep  # noqa: E402
from sweeps.study import check_sampler_seed, redact  # noqa: E402
from workflow import cli, tracking  # noqa: E402

FROM_ENVIRONMENT = "env"  # storage: $OPTUNA_STORAGE, else DEFAULT_STORAGE


def storage_url(storage: str) -> str:
    """The Optuna storage ``storage`` names: itself, or for ``env`` $OPTUNA_STORAGE (else the local default)."""
    if storage == FROM_ENVIRONMENT:
        return os.environ.get("OPTUNA_STORAGE") or DEFAULT_STORAGE
    if redact(storage) != storage and os.environ.get("MLFLOW_RUN_ID"):
        tracking.log("warning: mlflow run has logged -P storage with its password as the launcher's parameter; "
                     "put such a storage in $OPTUNA_STORAGE and leave storage=env")
    return storage


def sweep(profile: str = "quick", data: str = cli.DEFAULT_DATA, study: str = "pixel-importance-sweep",
          storage: str = FROM_ENVIRONMENT, n_trials: int = 10, objective: str = "both", attack: str = "newtonfool",
          order: str = "adaptive", sigma_min: float = 0.5, sigma_max: float = 8.0, keep_fraction_min: float = 0.05,
          keep_fraction_max: float = 0.5, heatmap: str = "lrp_eps", sampler_seed: int | None = None,
          **overrides) -> dict:
    settings = workflow.resolve(profile, overrides)
    n_trials = checks.positive_int("n_trials", n_trials)  # before any run is opened
    if sampler_seed is not None:
        sampler_seed = check_sampler_seed(sampler_seed)
    storage = storage_url(storage)
    if not settings["validation_per_class"]:  # trials select on held-out training images, a fifth by default
        settings = workflow.profiles.changed(settings, validation_per_class=max(1, settings["train_per_class"] // 5))
    space = SearchSpace((sigma_min, sigma_max), (keep_fraction_min, keep_fraction_max),
                        tuple(h.strip() for h in heatmap.split(",")))
    chosen = resolve_objective(objective, attack, order)
    with workflow.entry_run("sweep", settings, {"study": study}, data=data) as entry:
        summary = run_sweep(settings, data, space, chosen, study, storage, n_trials, sampler_seed)
    return {**summary, "entry_run_id": entry.info.run_id}


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    p.set_defaults(profile="quick")
    p.add_argument("--study", default="pixel-importance-sweep", help="study name (an existing study is resumed)")
    p.add_argument("--storage", default=FROM_ENVIRONMENT,
                   help=f"Optuna storage URL (sqlite:///..., postgresql://...); default {FROM_ENVIRONMENT}: "
                        f"$OPTUNA_STORAGE, else {DEFAULT_STORAGE}")
    p.add_argument("--n_trials", type=int, default=10, help="trials this worker runs")
    p.add_argument("--objective", default="both", choices=OBJECTIVES,
                   help="both: Pareto front of clean and robust accuracy; clean or robust: one objective (pruned)")
    p.add_argument("--attack", default="newtonfool")
    p.add_argument("--order", default="adaptive", choices=ORDERS)
    p.add_argument("--sigma_min", type=float, default=0.5)
    p.add_argument("--sigma_max", type=float, default=8.0)
    p.add_argument("--keep_fraction_min", type=float, default=0.05)
    p.add_argument("--keep_fraction_max", type=float, default=0.5)
    p.add_argument("--heatmap", default="lrp_eps",
                   help=f"one method, or several comma-separated to search over ({', '.join(heatmaps.METHODS)})")
    p.add_argument("--sampler_seed", type=int, default=None, help="seeds the sampler (default: random, logged)")
    cli.add_settings(p, keys=("model", "images_per_class", "train_per_class", "epochs", "batch_size",
                              "learning_rate", "seed", "newtonfool_max_iter", "fgsm_eps", "lrp_epsilon",
                              "validation_per_class"))
    return cli.main(lambda a: sweep(a.profile, a.data, a.study, a.storage, a.n_trials, a.objective, a.attack, a.order,
                                    a.sigma_min, a.sigma_max, a.keep_fraction_min, a.keep_fraction_max, a.heatmap,
                                    a.sampler_seed, **cli.overrides(a)), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
