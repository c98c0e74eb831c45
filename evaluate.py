"""Entry point `evaluate`: a registered model on every test set, clean and under every attack and order.

    mlflow run . --env-manager local -e evaluate -P model=models:/pixel-importance.lrp_eps@quick \
        -P profile=quick -P data=../shared/data/cifar10-jpg

Logs one metric per cell: ``accuracy/<test_set>/none`` (clean) and
``accuracy/<test_set>/<attack>/<order>``, plus ``cells.json`` with the count
correct, n and the 95% Wilson interval of every cell.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
from workflow import cli  # noqa: E402


def evaluate(model: str, profile: str = "thesis", data: str = cli.DEFAULT_DATA, explainer: str | None = None,
             **overrides) -> dict:
    settings = workflow.resolve(profile, overrides)
    model_run_id = workflow.models.resolve_run_id(model)
    explainer_run_id, source = workflow.models.explainer_of(model_run_id, explainer, profile)
    workflow.tracking.log(f"explainer: run {explainer_run_id}, {source}")
    variant = workflow.tracking.variant_of(model_run_id)
    with workflow.entry_run("evaluate", settings, {"model_uri": model, "variant": variant}, data=data) as entry:
        run_id, rows = workflow.evaluate_step(settings, model_run_id, explainer_run_id, data, variant)
    return {"entry_run_id": entry.info.run_id, "run_id": run_id, "model_run_id": model_run_id,
            "cells": {r["metric"]: r["accuracy"] for r in rows}}


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model URI, e.g. models:/pixel-importance.lrp_eps@thesis")
    p.add_argument("--explainer", default=None,
                   help="model URI that computes heatmap test sets (default: the one the model was trained with; for a model trained on no heatmap, pixel-importance.none@<profile>)")
    cli.add_settings(p, exclude=("model",))  # --model is the model URI here, not an architecture
    return cli.main(lambda a: evaluate(a.model, a.profile, a.data, a.explainer or None, **cli.overrides(a)), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
