"""Entry point `train`: train one variant and register it.

    mlflow run . --env-manager local -e train -P heatmap=lrp_eps -P profile=quick -P data=../shared/data/cifar10-jpg
    python train.py --heatmap lrp_eps --profile quick --data ../shared/data/cifar10-jpg
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
import defense  # noqa: E402
from workflow import cli  # noqa: E402


def train(heatmap: str = "none", profile: str = "thesis", data: str = cli.DEFAULT_DATA, alias: str | None = None,
          **overrides) -> dict:
    """Train variant ``heatmap`` (``none`` = original images); returns its run ids and model URI."""
    settings = workflow.resolve(profile, overrides)
    defense.variant(heatmap)
    aliases = workflow.models.aliases_for(settings, alias)
    with workflow.entry_run("train", settings, {"heatmap": heatmap}, data=data) as entry:
        run_id = workflow.train_step(settings, heatmap, data, aliases)
    name = workflow.models.registered_name(heatmap)
    return {"entry_run_id": entry.info.run_id, "run_id": run_id, "registered_model": name,
            "model_uri": f"models:/{name}@{aliases[0]}" if aliases else f"runs:/{run_id}/model"}


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--heatmap", default="none", choices=list(defense.variants()),
                   help="training set: none (original images) or blurred by this heatmap method")
    cli.add_alias(p)
    cli.add_settings(p)
    return cli.main(lambda a: train(a.heatmap, a.profile, a.data, a.alias, **cli.overrides(a)), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
