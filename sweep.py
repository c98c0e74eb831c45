"""Entry point `sweep`: Optuna search over blur sigma and keep fraction, every trial an MLflow run.

    mlflow run . --env-manager local -e sweep -P profile=quick -P data=../shared/data/cifar10-jpg -P n_trials=8
    python sweep.py --profile quick --data ../shared/data/cifar10-jpg --study blur --n_trials 8 \
        --storage postgresql://user:pass@127.0.0.1/optuna      # many workers: run this on each

Default storage: a local sqlite file (sqlite:///optuna.db); a study is
resumed by its name. Watch it with `optuna-dashboard sqlite:///optuna.db`.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
import heatmaps  # noqa: E402
from evaluation import ORDERS  # noqa: E402
from sweeps import DEFAULT_STORAGE, OBJECTIVES, SearchSpace, resolve_objective, run_sweep  # noqa: E402
from workflow import cli  # noqa: E402


def sweep(profile: str = "quick", data: str = cli.DEFAULT_DATA, study: str = "pixel-importance-sweep",
          storage: str = DEFAULT_STORAGE, n_trials: int = 10, objective: str = "both", attack: str = "newtonfool",
          order: str = "adaptive", sigma_min: float = 0.5, sigma_max: float = 8.0, keep_fraction_min: float = 0.05,
          keep_fraction_max: float = 0.5, heatmap: str = "lrp_eps", sampler_seed: int | None = None,
          **overrides) -> dict:
    settings = workflow.resolve(profile, overrides)
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
    p.add_argument("--storage", default=DEFAULT_STORAGE, help="Optuna storage URL (sqlite:///..., postgresql://...)")
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
