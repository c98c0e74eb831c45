"""Entry point `reproduce`: the thesis grid (every model x every test set x attacks x orders), finished steps reused.

    mlflow run . --env-manager local -e reproduce -P profile=quick -P data=../shared/data/cifar10-jpg
    python reproduce.py --profile thesis --data ../shared/data/cifar10-jpg

Killed (Ctrl-C, SIGTERM) and started again, it resumes: finished steps are
reused, interrupted ones are marked KILLED and redone.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
from workflow import cli  # noqa: E402


def reproduce(profile: str = "thesis", data: str = cli.DEFAULT_DATA, alias: str | None = None, **overrides) -> dict:
    settings = workflow.resolve(profile, overrides)
    aliases = workflow.models.aliases_for(settings, alias)
    with workflow.entry_run("reproduce", settings, data=data) as entry:
        result = workflow.reproduce(settings, data, aliases=aliases)
    return {**result, "run_id": entry.info.run_id}


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--alias", default=None, help="registered model alias (default: the profile's name, for a run "
                                                 "with the profile's exact settings)")
    cli.add_settings(p)
    return cli.main(lambda a: reproduce(a.profile, a.data, a.alias, **cli.overrides(a)), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
