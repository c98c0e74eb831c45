"""Entry point `heatmaps`: one method's heatmaps of the train and test images, as a run artifact.

    mlflow run . --env-manager local -e heatmaps -P method=lrp_eps -P profile=quick -P data=../shared/data/cifar10-jpg

The explainer is a registered model (default: the model trained on original
images, ``models:/pixel-importance.none@<profile>``; trained first if absent).
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
import heatmaps  # noqa: E402
from workflow import cli  # noqa: E402


def make_heatmaps(method: str, profile: str = "thesis", data: str = cli.DEFAULT_DATA, explainer: str | None = None,
                  **overrides) -> dict:
    settings = workflow.resolve(profile, overrides)
    heatmaps.get(method)
    explainer_run_id = workflow.models.resolve_run_id(explainer) if explainer else None
    with workflow.entry_run("heatmaps", settings, {"method": method}, data=data) as entry:
        if explainer_run_id is None:
            explainer_run_id = workflow.train_step(settings, "none", data, workflow.models.aliases_for(settings))
        run_id = workflow.heatmaps_step(settings, method, explainer_run_id, data)
    return {"entry_run_id": entry.info.run_id, "run_id": run_id, "explainer_run_id": explainer_run_id,
            "artifact": f"runs:/{run_id}/heatmaps.npz"}


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--method", default="lrp_eps", choices=sorted(heatmaps.METHODS))
    p.add_argument("--explainer", default=None, help="model URI of the explainer (default: see above)")
    cli.add_settings(p)
    return cli.main(lambda a: make_heatmaps(a.method, a.profile, a.data, a.explainer or None,
                                            **cli.overrides(a)), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
