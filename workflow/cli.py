"""Shared command-line plumbing for the entry points: arguments from the registries, clean exits.

Profile-dependent arguments default to ``profile``: the chosen profile's value
(MLproject passes that word when a -P value is not given).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from mlflow.exceptions import MlflowException

from workflow import tracking
from workflow.profiles import PROFILES, defaults, setting_keys

FROM_PROFILE = "profile"
DEFAULT_DATA = "keras"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--profile", default="thesis", choices=sorted(PROFILES),
                   help="named defaults for every setting below (default: thesis)")
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="'keras' (download/cache) or a local folder: an image tree <root>/{train,test}/<class>/ "
                        "or a cifar-10-batches-py folder")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    p.add_argument("--experiment", default=None, help="MLflow experiment (default: pixel-importance)")
    return p


def add_alias(p: argparse.ArgumentParser) -> None:
    """``--alias``: the registered model alias a training run gets."""
    p.add_argument("--alias", default=None, help="registered model alias (default: the profile's name, for a run "
                                                 "with the profile's exact settings)")


def add_settings(p: argparse.ArgumentParser, keys: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()) -> None:
    """One ``--key`` per profile setting (all of them unless ``keys`` is given), minus ``exclude``."""
    chosen = [k for k in keys or setting_keys() if k not in exclude]
    p.set_defaults(settings_given_as_options=tuple(chosen))
    every = {name: defaults(name) for name in PROFILES}
    for key in chosen:
        values = ", ".join(f"{name}: {settings[key]}" for name, settings in every.items())
        p.add_argument(f"--{key}", default=FROM_PROFILE, help=f"default: the profile's value ({values})")


def overrides(args: argparse.Namespace) -> dict:
    """Settings the user gave (not the ``profile`` sentinel)."""
    keys = set(getattr(args, "settings_given_as_options", ()))
    return {k: v for k, v in vars(args).items() if k in keys and v not in (FROM_PROFILE, None)}


def main(function: Callable[[argparse.Namespace], dict], p: argparse.ArgumentParser, argv=None) -> int:
    """Parse, configure tracking, run ``function`` (which opens the entry run); print its result as JSON.

    Bad input (ValueError), an unusable tracking store and interruption give a
    one-line message and a non-zero exit; runs opened so far end FAILED/KILLED.
    """
    args = p.parse_args(argv)
    tracking.raise_on_sigterm()
    try:
        tracking.configure(args.tracking_uri, args.experiment)
        result = function(args)
    except (ValueError, tracking.TrackingError, FileNotFoundError, NotADirectoryError, MlflowException) as error:
        if tracking.interrupted_by(error):  # a signal inside a store operation, outside any run
            return _interrupted()
        tracking.end_active_runs("FAILED")  # none is left for MLflow's exit handler to end FINISHED
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return _interrupted()
    print(json.dumps(result, indent=2, default=str, sort_keys=True))
    return 0


def _interrupted() -> int:
    tracking.end_active_runs("KILLED")
    tracking.end_runs_of_this_process()  # one a signal caught while MLflow was creating it, never active
    print("interrupted: open runs were marked KILLED; run the same command again to resume", file=sys.stderr,
          flush=True)
    return 130
