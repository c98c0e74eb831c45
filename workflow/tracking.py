"""The MLflow edge: where runs go, how finished steps are found again, how runs end.

* Tracking URI: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` in
  the working directory (a database store, so the model registry works with
  no server). A URI that cannot be reached fails at once with a clear error;
  HTTP retries are bounded (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, default 2 here).
* Every step run carries the tag ``step_key``: a hash of the step's name, its
  parameters, the version of the code it runs (:mod:`workflow.code_version`),
  its data and its upstream runs. A FINISHED run with the same key is reused
  instead of recomputed; FAILED, KILLED or still-RUNNING runs never are.
* Experiments are tagged ``mlflow.experimentKind=custom_model_development``,
  which MLflow UIs that choose their pages by it read as "training runs"
  (3.17.2's UI follows its sidebar switch instead; the entry runs print the
  address with ``?workflowType=machine_learning``).
* A step run that raises ends FAILED; one interrupted (SIGINT, or SIGTERM via
  :func:`raise_on_sigterm`) ends KILLED. Only a clean exit ends FINISHED.
* A process killed outright (SIGKILL, out of memory, a closed session) cannot
  end its runs: every run carries the tags ``process.host`` and
  ``process.pid``, and :func:`configure` marks KILLED the RUNNING runs of this
  experiment whose process on this host no longer exists (runs of live
  processes, and of other hosts, are left alone).
* Every run also records the processor it ran on (:mod:`workflow.machine`):
  the same seed trains other models on another kind of processor.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping

# Bounded retries against a remote server (MLflow's own default retries for minutes).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Entry points print their result as JSON on stdout; run URLs would break it (progress goes to stderr).
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.entities import RunStatus  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from workflow.machine import machine_tags  # noqa: E402

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "pixel-importance"
STEP_KEY_TAG = "step_key"
HOST_TAG, PID_TAG = "process.host", "process.pid"  # the process a run belongs to (see end_runs_of_ended_processes)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"  # the UI then opens on the runs, not on GenAI pages
REPO = Path(__file__).resolve().parents[1]
LOADED_ARTIFACTS = 32  # artifact files kept in memory (LRU)


_state: dict = {}


class TrackingError(RuntimeError):
    """The tracking server or store cannot be used."""


def log(message: str) -> None:
    """Progress output: one timestamped line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def configure(tracking_uri: str | None = None, experiment: str | None = None) -> str:
    """Point MLflow at ``tracking_uri`` (or the default), check it answers, select the experiment."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    mlflow.set_tracking_uri(uri)
    try:
        MlflowClient().search_experiments(max_results=1)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        raise TrackingError(f"Cannot reach the MLflow tracking store. Received: tracking_uri={uri!r} "
                            f"({type(error).__name__}: {str(error).splitlines()[0][:300]})") from error
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    if os.environ.get("MLFLOW_EXPERIMENT_ID") and not experiment:
        chosen = mlflow.set_experiment(experiment_id=os.environ["MLFLOW_EXPERIMENT_ID"])
    else:
        if uri.startswith("sqlite:///") and mlflow.get_experiment_by_name(name) is None:
            # Artifacts beside the database file, so a store is one self-contained folder.
            folder = Path(uri[len("sqlite:///"):]).resolve().parent / "mlruns"
            try:
                MlflowClient().create_experiment(name, artifact_location=folder.as_uri())
            except mlflow.exceptions.MlflowException:
                pass  # another worker created it first
        chosen = mlflow.set_experiment(name)
    if chosen.tags.get(EXPERIMENT_KIND_TAG) is None:
        try:
            MlflowClient().set_experiment_tag(chosen.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        except mlflow.exceptions.MlflowException:  # another worker tagged it at the same moment
            if MlflowClient().get_experiment(chosen.experiment_id).tags.get(EXPERIMENT_KIND_TAG) is None:
                raise
    _state["experiment_id"] = chosen.experiment_id
    end_runs_of_ended_processes(chosen.experiment_id)
    return uri


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _running_on_this_host(experiment: str, also: str = ""):
    """The RUNNING runs of ``experiment`` whose tags name this host (and match the extra filter ``also``)."""
    return MlflowClient().search_runs(
        [experiment], f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{socket.gethostname()}'{also}",
        max_results=5000)


def _mark_killed(runs) -> list[str]:
    client = MlflowClient()
    for left in runs:
        client.set_terminated(left.info.run_id, RunStatus.to_string(RunStatus.KILLED))
    return [left.info.run_id for left in runs]


def _retry_while_busy(action, attempts: int, wait: float, retry_on: tuple = (Exception,)):
    """``action()``, called again after ``wait`` seconds while it raises one of ``retry_on`` (a busy store: an
    interrupted transaction may hold SQLite's lock for a moment), at most ``attempts`` times; the last error,
    or any other, propagates."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1. Received: attempts={attempts!r}")
    for attempt in range(attempts):
        try:
            return action()
        except retry_on:  # anything but a busy store fails the same way each time
            if attempt == attempts - 1:
                raise
            time.sleep(wait)


def end_runs_of_ended_processes(experiment: str) -> list[str]:
    """Mark KILLED the RUNNING runs of ``experiment`` whose process on this host has ended; their ids.

    A run is only touched when its tags name this host and a process id that no
    longer exists, so concurrent workers (alive) and other machines' runs stay RUNNING.
    """
    ended = _mark_killed([stale for stale in _running_on_this_host(experiment)
                          if (pid := stale.data.tags.get(PID_TAG, "")).isdigit() and int(pid) != os.getpid()
                          and not _process_exists(int(pid))])
    if ended:
        log(f"marked {len(ended)} RUNNING run(s) KILLED: their process on this host ({socket.gethostname()}) "
            "has ended")
    return ended


def end_runs_of_this_process(attempts: int = 5, wait: float = 1.0) -> list[str]:
    """Mark KILLED the RUNNING runs of the configured experiment that this process started; their ids.

    For an interrupted process, after its active runs have ended: a signal that arrives while MLflow is
    creating a run leaves that run in the store but never active, so nothing else would end it before the
    next start's reaper. Retries while the store is busy; gives up quietly (the reaper remains).
    """
    if "experiment_id" not in _state:
        return []
    mine = f" and tags.`{PID_TAG}` = '{os.getpid()}'"
    try:
        return _retry_while_busy(lambda: _mark_killed(_running_on_this_host(_state["experiment_id"], mine)),
                                 attempts, wait)
    except Exception:  # noqa: BLE001 - a busy or unreachable store: the next start's reaper marks them
        return []


def experiment_id() -> str:
    if _state.get("experiment_id") is None:
        raise TrackingError("tracking is not configured: call workflow.tracking.configure() first")
    return _state["experiment_id"]


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def step_key(step: str, params: Mapping[str, object], upstream: Mapping[str, str], code: str) -> str:
    """The key of a step run: its name, parameters, upstream run ids and code version."""
    payload = {"step": step, "params": dict(params), "upstream": dict(upstream), "code": code}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def find_finished(key: str):
    """The newest FINISHED run in the current experiment with this step key, or None."""
    runs = MlflowClient().search_runs(
        [experiment_id()],
        filter_string=f"tags.{STEP_KEY_TAG} = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def variant_of(run_id: str) -> str:
    """The training variant a train run was tagged with ('' if none)."""
    return MlflowClient().get_run(run_id).data.tags.get("variant", "")


def log_params(params: Mapping[str, object]) -> None:
    """Log params not yet on the active run (``mlflow run`` logs its -P values as strings first)."""
    run = mlflow.active_run()
    existing = MlflowClient().get_run(run.info.run_id).data.params
    fresh = {k: v for k, v in params.items() if k not in existing}
    if fresh:
        mlflow.log_params(fresh)


@contextlib.contextmanager
def run(name: str, key: str | None = None, tags: Mapping[str, str] | None = None,
        run_id: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """A run nested under the active run if there is one (or resuming ``run_id``), named ``name``.

    Ends FINISHED on success, KILLED on interruption, FAILED on any error.
    """
    all_tags = {"git_commit": git_commit(), HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
                **machine_tags(), **(tags or {})}
    if key:
        all_tags[STEP_KEY_TAG] = key
    if run_id:
        active = mlflow.start_run(run_id=run_id)
    else:
        active = mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None, tags=all_tags)
    try:
        if run_id:  # inside: a resumed run whose tags fail to land still ends FAILED or KILLED, not FINISHED
            mlflow.set_tags({**all_tags, "mlflow.runName": name})
        yield active
    except KeyboardInterrupt:
        _end_interrupted()
        raise
    except BaseException as error:
        if interrupted_by(error):  # the interrupt landed inside MLflow's store, which raised its own error
            _end_interrupted()
            raise KeyboardInterrupt(f"interrupted ({type(error).__name__} while handling it)") from error
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


def interrupted_by(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt (SIGINT, or SIGTERM via :func:`raise_on_sigterm`) is among the causes or
    contexts of ``error``: a signal that arrived in the middle of a store operation can surface as the store's
    own error (e.g. "database is locked" while the interrupted transaction still held SQLite's lock)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _end_interrupted(attempts: int = 5, wait: float = 1.0) -> None:
    """End the active run KILLED, retrying while the store is busy. If it cannot, the run stays RUNNING and
    the next start's reaper marks it KILLED.

    ``mlflow.end_run`` takes the run off MLflow's stack before it writes the status, so a retry after a busy
    store writes the status of that same run; calling ``end_run`` again would end its parent.
    """
    active = mlflow.active_run()
    if active is None:
        return
    run_id, killed = active.info.run_id, RunStatus.to_string(RunStatus.KILLED)

    def end() -> None:
        current = mlflow.active_run()
        if current is not None and current.info.run_id == run_id:
            mlflow.end_run(killed)
        else:  # an earlier attempt took it off the stack and then found the store busy
            MlflowClient().set_terminated(run_id, killed)

    try:
        _retry_while_busy(end, attempts, wait)
    except Exception as error:  # noqa: BLE001 - reported; the reaper remains
        log(f"could not mark the interrupted run KILLED ({type(error).__name__}: {error}); the next start marks it")


def end_active_runs(status: str) -> list[str]:
    """End with ``status`` every run still on MLflow's active stack; their ids.

    For an exit after an error or an interrupt: MLflow's own exit handler ends whatever is left there
    FINISHED, and a FINISHED step run is reused. A run the store refuses to end leaves the stack all the same
    (``end_run`` takes it off first) and stays RUNNING for the next start's reaper.
    """
    ended = []
    while (current := mlflow.active_run()) is not None:
        ended.append(current.info.run_id)
        try:
            mlflow.end_run(status)
        except Exception:  # noqa: BLE001 - a busy store: the reaper marks it
            if mlflow.active_run() is current:  # not even taken off the stack: leave it rather than loop
                break
    return ended


def log_input(dataset, context: str) -> None:
    """``mlflow.log_input``, tolerating a concurrent worker that registered the same dataset first.

    (Two workers logging one dataset at once violate the store's unique key; the retry finds it.)
    """
    _retry_while_busy(lambda: mlflow.log_input(dataset, context=context), attempts=2, wait=1.0,
                      retry_on=(mlflow.exceptions.MlflowException,))


def log_arrays(filename: str, **arrays: np.ndarray) -> None:
    """Log ``arrays`` as one ``.npz`` artifact of the active run, and keep them for :func:`load_arrays`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / filename
        np.savez(path, **arrays)
        mlflow.log_artifact(str(path))
        with np.load(path) as data:  # what a later load returns: the stored dtypes and shapes
            _remember((mlflow.active_run().info.run_id, filename, None), _read_only(data))


def load_arrays(run_id: str, filename: str, tracking_uri: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of a logged ``.npz`` artifact: a new dict each call, of read-only arrays.

    A run's artifacts never change, so they are kept in memory by (run id, file
    name), LRU-bounded; what this process logged is kept as it is logged.
    """
    key = (run_id, filename, tracking_uri)
    if key not in _loaded:
        with tempfile.TemporaryDirectory() as folder:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=filename, dst_path=folder,
                                                       tracking_uri=tracking_uri)
            with np.load(path) as data:
                _remember(key, _read_only(data))
    _loaded.move_to_end(key)
    return dict(_loaded[key])


_loaded: "collections.OrderedDict[tuple, tuple[tuple[str, np.ndarray], ...]]" = collections.OrderedDict()


def _read_only(data) -> tuple[tuple[str, np.ndarray], ...]:
    arrays = tuple((k, data[k]) for k in data.files)
    for _, array in arrays:
        array.setflags(write=False)
    return arrays


def _remember(key: tuple, arrays: tuple[tuple[str, np.ndarray], ...]) -> None:
    _loaded[key] = arrays
    _loaded.move_to_end(key)
    while len(_loaded) > LOADED_ARTIFACTS:
        _loaded.popitem(last=False)


def load_table(run_id: str, filename: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """A table logged with ``mlflow.log_table`` (JSON with columns and data)."""
    with tempfile.TemporaryDirectory() as folder:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=filename, dst_path=folder,
                                                   tracking_uri=tracking_uri)
        table = json.loads(Path(path).read_text())
    return pd.DataFrame(table["data"], columns=table["columns"])


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so open runs end KILLED, not RUNNING."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
