"""Test settings shared by every test module.

TensorFlow reads TF_ENABLE_ONEDNN_OPTS when it is first imported: this file
runs before any test module imports it.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def create_experiment(tracking_uri: str, folder: Path, name: str = "pixel-importance") -> str:
    """An experiment whose artifacts live in ``folder`` (keeps test stores out of the repo)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    existing = client.get_experiment_by_name(name)
    if existing:
        return existing.experiment_id
    return client.create_experiment(name, artifact_location=(folder / "mlruns").as_uri())


@pytest.fixture(scope="session")
def quick_store(tmp_path_factory, data_root):
    """One `mlflow run . -e reproduce -P profile=quick` into a temporary sqlite store, shared by tests."""
    import shutil

    folder = tmp_path_factory.mktemp("quick-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    create_experiment(uri, folder)
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    command = [mlflow_cli if mlflow_cli.exists() else shutil.which("mlflow"), "run", REPO, "--env-manager", "local",
               "-e", "reproduce", "--experiment-name", "pixel-importance",
               "-P", "profile=quick", "-P", f"data={data_root}"]
    result = run_command(command, cwd=folder, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr[-4000:]
    return {"uri": uri, "folder": folder, "stdout": result.stdout, "stderr": result.stderr, "data": data_root}


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
