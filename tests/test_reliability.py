"""Reliability: bad input, interruption and resume, tracking-server faults, determinism, safe loading."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest

import defense

from tests.conftest import REPO, create_experiment, run_command, subprocess_env

TINY = ["--profile", "quick", "--images_per_class", "30", "--train_per_class", "20", "--epochs", "2",
        "--attacks", "fgsm", "--adaptive_attacks", "fgsm", "--curve_eps", "none"]
TINY_MODEL = "models:/pixel-importance.none@tiny"  # TINY changes the profile: its models get an alias of their own


def _store(folder: Path) -> str:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    create_experiment(uri, folder)
    return uri


def _runs(uri, query=""):
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("pixel-importance")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], query, max_results=5000)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("arguments, message", [
    (["--sigma", "0"], "sigma must be a positive, finite number. Received: sigma='0'"),
    (["--keep_fraction", "nan"], "keep_fraction='nan'"),
    (["--keep_fraction", "1.5"], "keep_fraction='1.5'"),
    (["--epochs", "0"], "Received: epochs='0'"),
    (["--batch_size", "-4"], "Received: batch_size='-4'"),
    (["--classes", "airplane,unicorn"], "unicorn"),
    (["--heatmap", "saliency"], "invalid choice: 'saliency'"),
])
def test_bad_training_input_fails_before_any_run(tmp_path, data_root, arguments, message):
    uri = _store(tmp_path)
    result = run_command([sys.executable, REPO / "train.py", "--profile", "quick", "--data", data_root, *arguments],
                         cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert _runs(uri) == []  # nothing half-logged


def test_missing_and_corrupt_data_are_named(tmp_path):
    uri = _store(tmp_path)
    missing = run_command([sys.executable, REPO / "train.py", "--profile", "quick", "--data", tmp_path / "nowhere"],
                          cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert missing.returncode == 2 and "nowhere" in missing.stderr
    tree = tmp_path / "tree"
    for split in ("train", "test"):
        for name in ("airplane", "automobile", "bird"):
            folder = tree / split / name
            folder.mkdir(parents=True)
            for i in range(3):
                from PIL import Image

                Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(folder / f"{i:04d}.png")
    (tree / "train" / "bird" / "0001.png").write_bytes(b"not an image")
    corrupt = run_command([sys.executable, REPO / "train.py", "--profile", "quick", "--data", tree,
                           "--images_per_class", "3", "--train_per_class", "2"],
                          cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert corrupt.returncode == 2 and "0001.png" in corrupt.stderr, corrupt.stderr[-2000:]
    assert _runs(uri) == []


def test_unknown_registered_model_and_unreachable_server_are_named(tmp_path, data_root):
    uri = _store(tmp_path)
    result = run_command([sys.executable, REPO / "evaluate.py", "--model", "models:/pixel-importance.none@nope",
                          "--profile", "quick", "--data", data_root], cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 2 and "models:/pixel-importance.none@nope" in result.stderr
    started = time.time()
    result = run_command([sys.executable, REPO / "train.py", "--profile", "quick", "--data", data_root],
                         cwd=tmp_path, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert result.returncode == 2 and "tracking_uri='http://127.0.0.1:9'" in result.stderr
    assert time.time() - started < 120  # bounded retries


def test_failed_step_ends_failed_and_is_not_reused(tmp_path):
    from workflow import tracking

    tracking.configure(_store(tmp_path))
    key = tracking.step_key("attack", {"test": "failure"}, {}, "code")
    with pytest.raises(RuntimeError):
        with tracking.run("failing", key):
            tracking.log_arrays("adversarial.npz", images=np.zeros(3))  # a partial artifact
            raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt):
        with tracking.run("interrupted", key):
            raise KeyboardInterrupt
    statuses = sorted(r.info.status for r in _runs(mlflow.get_tracking_uri()))
    assert statuses == ["FAILED", "KILLED"]
    assert tracking.find_finished(key) is None


def test_an_interrupt_that_surfaces_as_a_store_error_still_ends_the_run_killed(tmp_path, monkeypatch):
    """SIGTERM inside MLflow's store can come out as the store's own error ("database is locked"): still an
    interrupt (exit 130, run KILLED), and a busy store is retried when marking the run."""
    from workflow import tracking

    tracking.configure(_store(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        with tracking.run("interrupted inside the store"):
            try:
                raise KeyboardInterrupt("signal 15")
            except KeyboardInterrupt:
                raise mlflow.exceptions.MlflowException("(sqlite3.OperationalError) database is locked")
    with pytest.raises(RuntimeError):  # an ordinary error is not an interrupt
        with tracking.run("failing"):
            raise RuntimeError("boom")
    real_end_run, calls = mlflow.end_run, []

    def busy_twice(status="FINISHED"):
        calls.append(status)
        if len(calls) <= 2:
            raise mlflow.exceptions.MlflowException("database is locked")
        real_end_run(status)

    monkeypatch.setattr(mlflow, "end_run", busy_twice)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    with pytest.raises(KeyboardInterrupt):
        with tracking.run("interrupted, store busy"):
            raise KeyboardInterrupt
    monkeypatch.undo()
    assert calls == ["KILLED"] * 3
    statuses = {r.info.run_name: r.info.status for r in _runs(mlflow.get_tracking_uri())}
    assert statuses == {"interrupted inside the store": "KILLED", "failing": "FAILED",
                        "interrupted, store busy": "KILLED"}


def test_a_busy_store_kills_the_interrupted_step_run_not_the_run_around_it(tmp_path, monkeypatch):
    """MLflow's ``end_run`` takes the run off its stack before writing the status: a retry after a busy store
    must write that run's status, not end the next run down the stack."""
    from workflow import tracking

    tracking.configure(_store(tmp_path))
    real_set_terminated, calls = mlflow.MlflowClient.set_terminated, []

    def busy_twice(self, run_id, status=None, end_time=None):
        calls.append(status)
        if len(calls) <= 2:
            raise mlflow.exceptions.MlflowException("(sqlite3.OperationalError) database is locked")
        return real_set_terminated(self, run_id, status, end_time)

    with tracking.run("entry") as entry:
        monkeypatch.setattr(mlflow.MlflowClient, "set_terminated", busy_twice)
        monkeypatch.setattr(time, "sleep", lambda seconds: None)
        with pytest.raises(KeyboardInterrupt):
            with tracking.run("step"):
                raise KeyboardInterrupt
        monkeypatch.undo()
        assert mlflow.active_run().info.run_id == entry.info.run_id  # still open, still on the stack
    assert calls == ["KILLED"] * 3
    statuses = {r.info.run_name: r.info.status for r in _runs(mlflow.get_tracking_uri())}
    assert statuses == {"entry": "FINISHED", "step": "KILLED"}


def test_a_resumed_run_whose_tags_fail_ends_failed_and_leaves_mlflows_stack(tmp_path, monkeypatch):
    """Resuming ``mlflow run``'s run (MLFLOW_RUN_ID): an error while tagging it must not leave it on MLflow's
    stack, whose exit handler would end it FINISHED."""
    from workflow import tracking

    tracking.configure(_store(tmp_path))
    launched = mlflow.MlflowClient().create_run(tracking.experiment_id()).info.run_id

    def refused(tags):
        raise mlflow.exceptions.MlflowException("(sqlite3.OperationalError) database is locked")

    monkeypatch.setattr(mlflow, "set_tags", refused)
    with pytest.raises(mlflow.exceptions.MlflowException):
        with tracking.run("entry", run_id=launched):
            pass
    monkeypatch.undo()
    assert mlflow.active_run() is None
    assert mlflow.MlflowClient().get_run(launched).info.status == "FAILED"


@pytest.mark.parametrize("raised, code, status", [(ValueError("Received: x=1"), 2, "FAILED"),
                                                  (KeyboardInterrupt(), 130, "KILLED")])
def test_an_entry_point_exits_with_no_run_left_for_mlflows_exit_handler(tmp_path, raised, code, status):
    """A run still on MLflow's stack when an entry point gives up (its own ending failed) would be ended
    FINISHED by MLflow's exit handler; the entry point ends it FAILED or KILLED first."""
    from workflow import cli

    uri = _store(tmp_path)
    started = []

    def body(args):
        started.append(mlflow.start_run().info.run_id)  # a run nothing else ends
        raise raised

    assert cli.main(body, cli.parser("test"), ["--tracking-uri", uri]) == code
    assert mlflow.active_run() is None
    assert mlflow.MlflowClient(uri).get_run(started[0]).info.status == status


def test_logging_a_dataset_retries_once_when_another_worker_registered_it(tmp_path, monkeypatch):
    from workflow import tracking

    tracking.configure(_store(tmp_path))
    dataset = mlflow.data.from_numpy(np.zeros((4, 2), dtype=np.float32), targets=np.arange(4), name="tiny")
    real_log_input, calls = mlflow.log_input, []

    def taken_once(dataset, context):
        calls.append(context)
        if len(calls) == 1:  # the unique key another worker took a moment ago
            raise mlflow.exceptions.MlflowException("UNIQUE constraint failed: datasets.experiment_id")
        real_log_input(dataset, context=context)

    monkeypatch.setattr(mlflow, "log_input", taken_once)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    with mlflow.start_run() as run:
        tracking.log_input(dataset, context="training")
    assert calls == ["training", "training"]
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.tags[0].value) for i in inputs] == [("tiny", "training")]

    def always_broken(dataset, context):
        calls.append(context)
        raise mlflow.exceptions.MlflowException("the store is gone")

    monkeypatch.setattr(mlflow, "log_input", always_broken)
    calls.clear()
    with mlflow.start_run(), pytest.raises(mlflow.exceptions.MlflowException, match="the store is gone"):
        tracking.log_input(dataset, context="training")
    assert calls == ["training", "training"]  # one retry, then the error propagates

    def not_a_store_error(dataset, context):
        calls.append(context)
        raise TypeError("a bad dataset")

    monkeypatch.setattr(mlflow, "log_input", not_a_store_error)
    calls.clear()
    with mlflow.start_run(), pytest.raises(TypeError, match="a bad dataset"):
        tracking.log_input(dataset, context="training")
    assert calls == ["training"]  # not retried: it would fail the same way
    with pytest.raises(ValueError, match="Received: attempts=0"):
        tracking._retry_while_busy(lambda: None, attempts=0, wait=0.0)


# ---------------------------------------------------------------- interruption and resume


def test_killed_reproduce_resumes_without_duplicates(tmp_path, data_root):
    uri = _store(tmp_path)
    command = [sys.executable, REPO / "reproduce.py", *TINY, "--variants", "none,gradient", "--data", data_root]
    env = subprocess_env({"MLFLOW_TRACKING_URI": uri})
    process = subprocess.Popen([str(c) for c in command], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline:  # kill it once two training runs have finished
        if len(_runs(uri, "tags.step = 'train' and attributes.status = 'FINISHED'")) >= 2:
            break
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("no two training runs finished within 600 s")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    first = _runs(uri)
    assert not [r for r in first if r.info.status == "RUNNING"], "a killed run was left RUNNING"
    assert [r for r in first if r.info.status == "KILLED"], "the interrupted run was not marked KILLED"
    finished_before = {r.info.run_id for r in first if r.info.status == "FINISHED"}

    result = run_command(command, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr[-3000:]
    final = json.loads(result.stdout)
    steps = [r for r in _runs(uri) if r.data.tags.get("step") in ("train", "heatmaps", "attack", "evaluate")]
    finished = [r for r in steps if r.info.status == "FINISHED"]
    keys = [r.data.tags["step_key"] for r in finished]
    assert len(keys) == len(set(keys)), "a finished step was computed twice"
    assert finished_before <= {r.info.run_id for r in finished}
    assert set(final["train_runs"].values()) & finished_before, "finished training was recomputed"
    assert sorted(final["cells"]) == ["gradient", "none"]  # the chosen variants, on every test set
    assert all(len(cells) == len(defense.test_sets()) * 4 for cells in final["cells"].values())


def test_runs_of_a_process_killed_outright_end_killed_at_the_next_start(tmp_path):
    """SIGKILL (or a closed session) leaves runs RUNNING; the next start on this host marks them KILLED."""
    from workflow import tracking

    uri = _store(tmp_path)
    tracking.configure(uri)
    with tracking.run("tagged") as active:  # every run names its process
        tags = mlflow.MlflowClient().get_run(active.info.run_id).data.tags
    assert (tags[tracking.HOST_TAG], tags[tracking.PID_TAG]) == (socket.gethostname(), str(os.getpid()))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    client, experiment = mlflow.MlflowClient(), tracking.experiment_id()

    def running(host, pid):
        return client.create_run(experiment, tags={tracking.HOST_TAG: host, tracking.PID_TAG: str(pid)}).info.run_id

    killed = running(socket.gethostname(), ended.pid)
    alive = running(socket.gethostname(), os.getpid())  # a concurrent worker: still at work
    elsewhere = running("another-machine", ended.pid)  # its process is not ours to look up
    untagged = client.create_run(experiment).info.run_id
    tracking.configure(uri)
    status = {run: client.get_run(run).info.status for run in (killed, alive, elsewhere, untagged)}
    assert status == {killed: "KILLED", alive: "RUNNING", elsewhere: "RUNNING", untagged: "RUNNING"}


def test_an_interrupted_process_ends_the_runs_it_left_never_active(tmp_path):
    """A signal caught while MLflow creates a run leaves it RUNNING and never active; the interrupt's exit ends
    every RUNNING run of this process, and only those."""
    from workflow import cli, tracking

    uri = _store(tmp_path)
    tracking.configure(uri)
    client, experiment = mlflow.MlflowClient(), tracking.experiment_id()

    def running(host, pid):
        return client.create_run(experiment, tags={tracking.HOST_TAG: host, tracking.PID_TAG: str(pid)}).info.run_id

    mine = running(socket.gethostname(), os.getpid())  # created, never pushed to the active stack
    other = running(socket.gethostname(), os.getpid() + 1)  # another process at work
    elsewhere = running("another-machine", os.getpid())
    assert cli._interrupted() == 130
    status = {run: client.get_run(run).info.status for run in (mine, other, elsewhere)}
    assert status == {mine: "KILLED", other: "RUNNING", elsewhere: "RUNNING"}


# ---------------------------------------------------------------- a real tracking server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(folder: Path, port: int) -> subprocess.Popen:
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen(
        [str(mlflow_cli), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--artifacts-destination",
         str(folder / "server-artifacts")], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            mlflow.MlflowClient(f"http://127.0.0.1:{port}").search_experiments(max_results=1)
            return server
        except Exception:  # noqa: BLE001 - not up yet
            assert server.poll() is None, "mlflow server exited"
            time.sleep(1)
    raise AssertionError("mlflow server did not start")


def _stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    process = _start_server(tmp_path, port)
    yield {"uri": f"http://127.0.0.1:{port}", "process": process, "folder": tmp_path, "port": port}
    if process.poll() is None:
        _stop_server(process)


def test_train_and_evaluate_against_a_tracking_server(server, data_root):
    env = {"MLFLOW_TRACKING_URI": server["uri"]}
    trained = run_command([sys.executable, REPO / "train.py", *TINY, "--alias", "tiny", "--data", data_root],
                          cwd=server["folder"], env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert json.loads(trained.stdout)["model_uri"] == TINY_MODEL
    evaluated = run_command([sys.executable, REPO / "evaluate.py", "--model", TINY_MODEL, "--explainer", TINY_MODEL,
                             *TINY, "--data", data_root], cwd=server["folder"], env=env)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    cells = json.loads(evaluated.stdout)["cells"]
    assert len(cells) == len(defense.test_sets()) * 4 and all(0 <= v <= 1 for v in cells.values())
    # artifacts went through the server into its artifact folder
    assert list((server["folder"] / "server-artifacts").rglob("adversarial.npz"))


def test_server_going_away_mid_run_gives_a_clear_error(server, data_root):
    env = subprocess_env({"MLFLOW_TRACKING_URI": server["uri"]})
    process = subprocess.Popen([sys.executable, str(REPO / "train.py"), *TINY, "--epochs", "30", "--data",
                                str(data_root)], cwd=server["folder"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if _runs(server["uri"], "tags.step = 'train'"):
            break
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"no train run within 300 s (exit {process.poll()})")
    time.sleep(3)  # training has started and is logging per-epoch metrics
    _stop_server(server["process"])
    started = time.time()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr[-3000:]
    assert "error:" in stderr and ("Connection" in stderr or "connect" in stderr or "retries" in stderr)
    assert time.time() - started < 240  # bounded retries, not minutes per call
    restarted = _start_server(server["folder"], server["port"])
    try:
        statuses = [r.info.status for r in _runs(server["uri"], "tags.step = 'train'")]
        assert statuses and "FINISHED" not in statuses
    finally:
        _stop_server(restarted)


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_metrics(tmp_path, data_root):
    outputs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        env = {"MLFLOW_TRACKING_URI": _store(folder)}
        trained = run_command([sys.executable, REPO / "train.py", *TINY, "--heatmap", "none", "--alias", "tiny",
                               "--data", data_root], cwd=folder, env=env)
        assert trained.returncode == 0, trained.stderr[-3000:]
        evaluated = run_command([sys.executable, REPO / "evaluate.py", "--model", TINY_MODEL, "--explainer",
                                 TINY_MODEL, *TINY, "--data", data_root], cwd=folder, env=env)
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        run = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"]).get_run(json.loads(trained.stdout)["run_id"])
        metrics = {k: v for k, v in run.data.metrics.items() if k != "seconds"}  # wall time differs
        cells = json.loads(evaluated.stdout)["cells"]
        assert "loss" in metrics and len(cells) == len(defense.test_sets()) * 4  # something to compare
        outputs.append((metrics, cells))
    assert outputs[0][0] == outputs[1][0]  # training metrics, bit for bit
    assert outputs[0][1] == outputs[1][1]  # every evaluation cell


# ---------------------------------------------------------------- safe model loading


def test_model_needing_unsafe_deserialization_is_refused(tmp_path):
    import keras

    from workflow import models, tracking

    tracking.configure(_store(tmp_path))
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(outputs)))
    with mlflow.start_run() as run:
        mlflow.keras.log_model(model, name="model")
    with pytest.raises(models.UnsafeModelError, match="safe_mode"):
        models.load(run.info.run_id)
