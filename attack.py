"""Entry point `attack`: the adversarial test set for one model, attack, order and test set.

    mlflow run . --env-manager local -e attack -P model=models:/pixel-importance.none@quick -P attack=newtonfool \
        -P order=adaptive -P test_set=lrp_eps -P profile=quick -P data=../shared/data/cifar10-jpg

Stored as the run artifact ``adversarial.npz`` (the images the model is
finally evaluated on) and reused by `evaluate` and `reproduce`.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
import attacks  # noqa: E402
import defense  # noqa: E402
import evaluation  # noqa: E402
from workflow import cli  # noqa: E402


def attack(model: str, attack: str, order: str, test_set: str, profile: str = "thesis",
           data: str = cli.DEFAULT_DATA, explainer: str | None = None, **overrides) -> dict:
    settings = workflow.resolve(profile, overrides)
    attacks.get(attack)
    evaluation.check_order(order)
    defense.test_set(test_set)
    model_run_id = workflow.models.resolve_run_id(model)
    explainer_run_id, source = workflow.models.explainer_of(model_run_id, explainer, profile)
    workflow.tracking.log(f"explainer: run {explainer_run_id}, {source}")
    cell = {"model_uri": model, "attack": attack, "order": order, "test_set": test_set}
    with workflow.entry_run("attack", settings, cell, data=data) as entry:
        run_id = workflow.attack_step(settings, model_run_id, explainer_run_id, attack, order, test_set, data)
    return {"entry_run_id": entry.info.run_id, "run_id": run_id, "artifact": f"runs:/{run_id}/adversarial.npz"}


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model URI, e.g. models:/pixel-importance.lrp_eps@thesis")
    p.add_argument("--attack", default="newtonfool", choices=sorted(attacks.ATTACKS))
    p.add_argument("--order", default="before", choices=evaluation.ORDERS)
    p.add_argument("--test_set", "--test-set", default="original", choices=list(defense.test_sets()))
    p.add_argument("--explainer", default=None,
                   help="model URI that computes the test set's heatmaps (default: the one the model was trained with; for a model trained on no heatmap, pixel-importance.none@<profile>)")
    cli.add_settings(p, exclude=("model",))  # --model is the model URI here, not an architecture
    return cli.main(lambda a: attack(a.model, a.attack, a.order, a.test_set, a.profile, a.data, a.explainer or None,
                                     **cli.overrides(a)), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
