"""Test settings shared by every test module.

TensorFlow reads TF_ENABLE_ONEDNN_OPTS when it is first imported: this file
runs before any test module imports it (and MLflow, whose usage telemetry it turns off: the tests reach
no server but their own).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # tests call out to nothing (MLflow would, while collecting)

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("PIXEL_IMPORTANCE_DATA", REPO.parent / "shared" / "data" / "cifar10-jpg"))

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared CIFAR-10 image tree (never copied into the repo)."""
    if not (DATA_ROOT / "train" / "airplane").is_dir():
        pytest.skip(f"shared CIFAR-10 image tree not found at {DATA_ROOT}")
    return DATA_ROOT


def subprocess_env(extra=None) -> dict:
    """The environment for a project subprocess.

    `mlflow run --env-manager local` runs `python ...`: the interpreter running the tests comes first on
    PATH. MLflow's run/experiment variables (mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID) never leak
    from an in-process test into a subprocess with another store.
    """
    inherited = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID",
                                                                   "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**inherited, "PATH": path, **(extra or {})}


def run_command(args, cwd=REPO, env=None, timeout=900):
    """Run a project command in a subprocess (TensorFlow state never leaks between tests)."""
    import subprocess

    full_env = subprocess_env(env)
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=full_env, capture_output=True, text=True,
                            timeout=timeout)
    return result


_TEMPLATE_STORE: list[Path] = []


def _template_store() -> Path:
    """An empty sqlite store with MLflow's tables made, once per session (in its own folder, where the
    Default experiment's artifacts would go)."""
    if not _TEMPLATE_STORE:
        import tempfile

        import mlflow

        folder = Path(tempfile.mkdtemp(prefix="mlflow-template-"))
        before = os.getcwd()
        os.chdir(folder)
        try:
            mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments(max_results=1)
        finally:
            os.chdir(before)
        _TEMPLATE_STORE.append(folder / "mlflow.db")
    return _TEMPLATE_STORE[0]


def fresh_store(folder: Path, name: str = "mlflow.db") -> str:
    """The URI of a new sqlite store ``folder/name``: a copy of the template, since MLflow's table migrations
    take seconds per new store and a copy milliseconds. The caller (or a subprocess) creates experiments."""
    import shutil

    path = Path(folder) / name
    if not path.exists():
        shutil.copyfile(_template_store(), path)
    return f"sqlite:///{path}"


def create_experiment(tracking_uri: str, folder: Path, name: str = "pixel-importance") -> str:
    """An experiment whose artifacts live in ``folder`` (keeps test stores out of the repo)."""
    import mlflow

    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri[len("sqlite:///"):])
        fresh_store(database.parent, database.name)
    client = mlflow.MlflowClient(tracking_uri)
    existing = client.get_experiment_by_name(name)
    if existing:
        return existing.experiment_id
    return client.create_experiment(name, artifact_location=(folder / "mlruns").as_uri())


def _quick_store_command(data: Path) -> list:
    import shutil

    mlflow_cli = Path(sys.executable).parent / "mlflow"
    return [mlflow_cli if mlflow_cli.exists() else shutil.which("mlflow"), "run", REPO, "--env-manager", "local",
            "-e", "reproduce", "--experiment-name", "pixel-importance",
            "-P", "profile=quick", "-P", f"data={data}"]


@pytest.fixture(scope="session", autouse=True)
def _quick_store_started(request, tmp_path_factory):
    """Starts the quick reproduction in the background at the session's start when a selected test uses it.

    The four-minute run then overlaps the tests before its first user, which spend much of their time in
    single-threaded Python (imports, MLflow, sqlite) and leave a core free. Output goes to files (a pipe
    nobody reads would fill and stall the run). Stopped at the session's end if no test waited for it.
    """
    import subprocess

    wanted = any("quick_store" in item.fixturenames for item in request.session.items)
    if not wanted or not (DATA_ROOT / "train" / "airplane").is_dir():
        yield None
        return
    folder = tmp_path_factory.mktemp("quick-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    create_experiment(uri, folder)
    stdout, stderr = open(folder / "stdout.txt", "w"), open(folder / "stderr.txt", "w")
    process = subprocess.Popen([str(a) for a in _quick_store_command(DATA_ROOT)], cwd=folder, stdout=stdout,
                               stderr=stderr, text=True, start_new_session=True,
                               env=subprocess_env({"MLFLOW_TRACKING_URI": uri}))
    yield {"uri": uri, "folder": folder, "process": process, "data": DATA_ROOT}
    if process.poll() is None:
        import signal

        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    stdout.close(), stderr.close()


@pytest.fixture(scope="session")
def quick_store(data_root, _quick_store_started):
    """One `mlflow run . -e reproduce -P profile=quick` into a temporary sqlite store, shared by tests."""
    started = _quick_store_started
    assert started is not None
    started["process"].wait(timeout=1200)
    stdout, stderr = ((started["folder"] / name).read_text() for name in ("stdout.txt", "stderr.txt"))
    assert started["process"].returncode == 0, stderr[-4000:]
    return {"uri": started["uri"], "folder": started["folder"], "stdout": stdout, "stderr": stderr,
            "data": started["data"]}


@pytest.fixture(autouse=True)
def _isolated_mlflow_state():
    """In-process tests that configure MLflow leave no tracking URI, experiment or run behind."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        del os.environ[key]
    os.environ.update(saved)
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def synthetic_cnn():
    """A small CNN trained on a synthetic task (class = which image quadrant holds a bright square).

    Returns (model, test images, test labels); clean test accuracy above 80%.
    """
    import numpy as np

    import classifiers

    rng = np.random.default_rng(0)
    n = 240
    y = rng.integers(0, 3, n)
    x = rng.random((n, 32, 32, 3)).astype(np.float32) * 0.4
    for i, label in enumerate(y):
        r, c = [(2, 2), (2, 18), (18, 10)][label]
        x[i, r:r + 12, c:c + 12] += 0.5
    classifiers.make_deterministic(0)
    model = classifiers.build("small_cnn", 3, width=8)
    classifiers.train(model, x[:180], y[:180], classifiers.Recipe(epochs=8, batch_size=16, learning_rate=3e-3))
    x_test, y_test = x[180:], y[180:]
    assert (classifiers.predict_labels(model, x_test) == y_test).mean() > 0.8
    return model, x_test, y_test
