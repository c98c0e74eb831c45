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


def reproduce(profile: str = "thesis", data: str = cli.DEFAULT_DATA, alias: str | None = None,
              seeds: str | None = None, **overrides) -> dict:
    """The grid once per training seed (``seeds="0,1,2"``; default: the setting ``seed``), data selection fixed.

    Returns the first seed's runs and cells at the top level and every seed's under ``by_seed``.
    """
    settings = workflow.resolve(profile, overrides)
    chosen = workflow.profiles.parse_seeds(seeds) or (settings["seed"],)
    per_seed = {seed: workflow.profiles.changed(settings, seed=seed) for seed in chosen}
    aliases = {seed: workflow.models.aliases_for(s, alias) if seed == chosen[0] else workflow.models.aliases_for(s)
               for seed, s in per_seed.items()}
    with workflow.entry_run("reproduce", settings, {"seeds": ",".join(map(str, chosen))}, data=data) as entry:
        by_seed = {seed: workflow.reproduce(s, data, aliases=aliases[seed], seeds_after=len(chosen) - number)
                   for number, (seed, s) in enumerate(per_seed.items(), start=1)}
    return {**by_seed[chosen[0]], "by_seed": by_seed, "run_id": entry.info.run_id}


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    cli.add_alias(p)
    p.add_argument("--seeds", default=None, help="training seeds, e.g. 0,1,2: the whole grid once per seed, "
                                                 "the selected images fixed (default: the setting seed)")
    cli.add_settings(p)
    return cli.main(lambda a: reproduce(a.profile, a.data, a.alias, a.seeds, **cli.overrides(a)), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
