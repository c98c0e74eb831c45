"""Step runs and entry runs: the one place that decides between reusing a finished step and running it.

* :func:`get_or_run` keys a step by its parameters, upstream runs and the
  version of the code it runs; a FINISHED run with that key is reused,
  otherwise ``body`` runs inside a new step run (nested under the entry run).
* :func:`entry_run` is the run of one entry point (``train``, ``reproduce``,
  ...): the run `mlflow run` created for this process (``MLFLOW_RUN_ID``) or a
  new one, named ``<entry point>-<profile>``, holding the settings as params.
  At its end it logs ``steps.json``: every step this process ran or reused,
  with its run id, so a fully reused reproduction still shows what it stands on.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Iterator, Mapping

import mlflow
import pandas as pd

from workflow import data as workflow_data
from workflow import tracking
from workflow.code_version import code_version

_steps: dict[tuple, dict] = {}  # (store, experiment, step key) -> its row, for the current entry run, in order


def get_or_run(step: str, name: str, params: Mapping[str, object], upstream: Mapping[str, str],
               module: str, body: Callable[[], None], tags: Mapping[str, str] | None = None,
               logged: Mapping[str, object] | None = None, what: str = "") -> str:
    """The run id of a FINISHED run of this step, reusing one with the same key or running ``body``.

    Args:
        step: the step's kind (``train``, ``attack``, ...), tag ``step``.
        name: the run's name.
        params: what defines the result (logged, and in the key).
        upstream: run ids the step reads (in the key; logged as ``<name>_run_id``).
        module: the step's module; the version of the code it runs is in the key.
        body: computes and logs the result inside the active step run.
        tags: extra tags; ``logged``: params logged but not keyed (e.g. the data path).
        what: a few words for the progress line.
    """
    code = code_version(module)
    key = tracking.step_key(step, params, upstream, code)
    seen = (mlflow.get_tracking_uri(), tracking.experiment_id(), key)
    if seen in _steps:  # already run or reused by this entry run
        return _steps[seen]["run_id"]
    found = tracking.find_finished(key)
    if found is not None:
        tracking.log(f"reuse  {name}: finished run {found.info.run_id}")
        _steps[seen] = {"step": step, "name": name, "run_id": found.info.run_id, "reused": True}
        return found.info.run_id
    tracking.log(f"start  {name}" + (f" ({what})" if what else ""))
    started = time.time()
    all_tags = {"step": step, "code_version": code, **(tags or {})}
    with tracking.run(name, key, tags=all_tags) as active:
        tracking.log_params({**params, **{f"{k}_run_id": v for k, v in upstream.items()}, **(logged or {})})
        body()
        mlflow.log_metric("seconds", round(time.time() - started, 3))
    tracking.log(f"done   {name} in {time.time() - started:.1f} s")
    _steps[seen] = {"step": step, "name": name, "run_id": active.info.run_id, "reused": False}
    return active.info.run_id


@contextlib.contextmanager
def entry_run(entry_point: str, settings: Mapping[str, object], params: Mapping[str, object] = (),
              data: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """The entry point's run, named ``<entry point>-<profile>``, with ``settings`` and ``params`` as params.

    ``data`` is loaded first, so a missing or corrupt data set fails before any
    run is touched. Under `mlflow run` it is the launcher's run (whose -P values
    MLflow has already logged; a key logged there keeps the user's spelling).
    """
    if data is not None:
        workflow_data.load(settings, data)
        params = {**dict(params), "data": data}
    profile = str(settings.get("profile", ""))
    name = f"{entry_point}-{profile}" if profile else entry_point
    launcher = os.environ.pop("MLFLOW_RUN_ID", None)  # else MLflow would resume it for the first step run
    if mlflow.active_run() is not None:
        launcher = None  # called in-process under another run: nest
    # step=entry: never mistaken for a step run of the same name (an `evaluate` entry run holds no cells)
    tags = {"entry_point": entry_point, "step": "entry", "profile": profile}
    _steps.clear()
    with tracking.run(name, tags=tags, run_id=launcher) as active:
        values = {k: v for k, v in settings.items() if k not in ("profile", "base_profile")}
        tracking.log_params({**values, "profile": settings.get("base_profile", profile), **dict(params)})
        yield active
        if _steps:
            table = pd.DataFrame(list(_steps.values()))
            mlflow.log_table(table, artifact_file="steps.json")
            mlflow.set_tags({"steps_run": str(int((~table["reused"]).sum())),
                             "steps_reused": str(int(table["reused"].sum()))})
    uri = mlflow.get_tracking_uri()
    if uri.startswith(("http://", "https://")):  # where to look (the UI's model-training pages)
        tracking.log(f"view   {uri.rstrip('/')}/#/experiments/{active.info.experiment_id}/runs/"
                     f"{active.info.run_id}?workflowType=machine_learning")
