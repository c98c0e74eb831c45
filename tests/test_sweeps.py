"""Optuna sweeps: search-space checks, trials matched one to one with MLflow runs, two workers on PostgreSQL."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import optuna
import pytest

from sweeps import SearchSpace, resolve_objective
from tests.conftest import REPO, create_experiment, fresh_store, run_command, subprocess_env

TINY = ["--profile", "quick", "--images_per_class", "30", "--train_per_class", "20", "--epochs", "1",
        "--newtonfool_max_iter", "2"]


@pytest.mark.parametrize("kwargs, message", [
    ({"sigma": (0.0, 4.0)}, "sigma=(0.0, 4.0)"),
    ({"sigma": (5.0, 1.0)}, "sigma=(5.0, 1.0)"),
    ({"keep_fraction": (0.1, 1.5)}, "keep_fraction=(0.1, 1.5)"),
    ({"keep_fraction": (0.0, 0.5)}, "keep_fraction=(0.0, 0.5)"),
    ({"keep_fraction": (float("nan"), 0.5)}, "keep_fraction=(nan, 0.5)"),
    ({"heatmaps": ("lrp_eps", "occlusion")}, "method='occlusion'"),
])
def test_bad_search_space_is_named(kwargs, message):
    with pytest.raises(ValueError) as error:
        SearchSpace(**kwargs)
    assert message in str(error.value)


def test_objective_is_checked():
    with pytest.raises(ValueError, match="objective='speed'"):
        resolve_objective("speed", "newtonfool", "adaptive")
    assert resolve_objective("both", "fgsm", "after").directions == ["maximize", "maximize"]


def test_bad_bounds_fail_before_any_trial(tmp_path, data_root):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = run_command([sys.executable, REPO / "sweep.py", *TINY, "--data", data_root, "--storage", storage,
                          "--sigma_min", "0", "--n_trials", "2"], cwd=tmp_path,
                         env={"MLFLOW_TRACKING_URI": fresh_store(tmp_path)})
    assert result.returncode == 2 and "sigma=(0.0, 8.0)" in result.stderr
    assert not (tmp_path / "optuna.db").exists()  # no study was even created


def _check_trials_match_runs(study, tracking_uri, expected):
    trials = [t for t in study.trials if t.state != optuna.trial.TrialState.RUNNING]
    assert len(trials) == expected
    assert sorted(t.number for t in trials) == list(range(expected))  # none lost, none twice
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("pixel-importance")
    runs = client.search_runs([experiment.experiment_id], "tags.step = 'trial'", max_results=1000)
    assert sorted(r.info.run_id for r in runs) == sorted(t.user_attrs["mlflow_run_id"] for t in trials)
    by_id = {r.info.run_id: r for r in runs}
    for trial in trials:
        run = by_id[trial.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna_trial_number"] == str(trial.number)
        assert float(run.data.params["sigma"]) == pytest.approx(trial.params["sigma"])
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert run.data.metrics["clean_accuracy"] == pytest.approx(trial.values[0])
            assert run.data.metrics["robust_accuracy"] == pytest.approx(trial.values[1])


def test_tiny_study_trials_and_runs_match(tmp_path, data_root):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    create_experiment(uri, tmp_path)
    result = run_command([sys.executable, REPO / "sweep.py", *TINY, "--data", data_root, "--storage", storage,
                          "--study", "tiny", "--n_trials", "3", "--sampler_seed", "1", "--heatmap",
                          "gradient,lrp_eps"], cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="tiny", storage=storage)
    _check_trials_match_runs(study, uri, 3)
    client = mlflow.MlflowClient(uri)
    sweep_run = client.search_runs([client.get_experiment_by_name("pixel-importance").experiment_id],
                                   "tags.step = 'sweep'")[0]
    names = {a.path for a in client.list_artifacts(sweep_run.info.run_id, "study")}
    assert {"study/best_trials.json", "study/pareto_front.png"} <= names
    # resuming the study by name adds trials to it
    again = run_command([sys.executable, REPO / "sweep.py", *TINY, "--data", data_root, "--storage", storage,
                         "--study", "tiny", "--n_trials", "1", "--heatmap", "gradient,lrp_eps"], cwd=tmp_path,
                        env={"MLFLOW_TRACKING_URI": uri})
    assert again.returncode == 0, again.stderr[-3000:]
    _check_trials_match_runs(optuna.load_study(study_name="tiny", storage=storage), uri, 4)


# ---------------------------------------------------------------- PostgreSQL, two workers


def _postgres_bin(name):
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    return found


@pytest.fixture
def postgres(request):
    """A PostgreSQL server on 127.0.0.1 in a temporary folder; skips (with the reason) if it cannot start."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    prefix = []
    folder = Path(tempfile.mkdtemp(prefix="pixel-importance-pg-"))  # outside pytest's root-only tmp tree
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    if os.getuid() == 0:  # PostgreSQL refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running as root without runuser")
        prefix = [runuser, "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    init = subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust"],
                          capture_output=True, text=True)
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr[-500:]}")
    start = subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                            f"-h 127.0.0.1 -p {port} -k {folder}", "start"], capture_output=True, text=True)
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL could not start: {start.stderr[-500:]}")
    try:
        import psycopg

        connection = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                                     autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE optuna")
            cursor.execute("CREATE DATABASE mlflow")
        connection.close()
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


def test_two_workers_share_one_study_on_postgresql(postgres, tmp_path, data_root):
    storage, uri = f"{postgres}/optuna", f"{postgres}/mlflow"
    create_experiment(uri, tmp_path)
    optuna.create_study(study_name="shared", storage=storage, directions=["maximize", "maximize"])
    env = subprocess_env({"MLFLOW_TRACKING_URI": uri})
    command = [sys.executable, str(REPO / "sweep.py"), *TINY, "--data", str(data_root), "--storage", storage,
               "--study", "shared", "--n_trials", "2", "--attack", "fgsm"]
    workers = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=900) for w in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    study = optuna.load_study(study_name="shared", storage=storage)
    _check_trials_match_runs(study, uri, 4)


def test_the_objective_never_sees_a_test_image(tmp_path, data_root, monkeypatch):
    """Test images are marked (every value 0.123); no array scored during the optimisation may be one."""
    import dataclasses

    import numpy as np

    import sweeps.study as study_module
    import workflow.data as workflow_data
    from sweeps import SearchSpace, resolve_objective, run_sweep
    from workflow import profiles, tracking

    real_load = workflow_data.load_split

    def marked(*args, **kwargs):
        split = real_load(*args, **kwargs)
        return dataclasses.replace(split, x_test=np.full_like(split.x_test, 0.123))

    monkeypatch.setattr(workflow_data, "load_split", marked)
    workflow_data._load.cache_clear()
    in_trial, scored = [False], []
    original_trial, original_predict = study_module._trial, study_module.classifiers.predict_labels

    def trial(*args, **kwargs):
        in_trial[0] = True
        try:
            return original_trial(*args, **kwargs)
        finally:
            in_trial[0] = False

    def predict(model, images, *args, **kwargs):
        if in_trial[0]:
            scored.append(np.asarray(images))
        return original_predict(model, images, *args, **kwargs)

    monkeypatch.setattr(study_module, "_trial", trial)
    monkeypatch.setattr(study_module.classifiers, "predict_labels", predict)
    tracking.configure(fresh_store(tmp_path))
    settings = profiles.resolve("quick", {"images_per_class": 30, "train_per_class": 20, "epochs": 1,
                                          "validation_per_class": 4})
    try:
        summary = run_sweep(settings, str(data_root), SearchSpace((1.0, 4.0), (0.1, 0.3), ("gradient",)),
                            resolve_objective("both", "fgsm", "after"), "never-test",
                            f"sqlite:///{tmp_path / 'optuna.db'}", n_trials=2, seed=0)
    finally:
        workflow_data._load.cache_clear()
    # everything predicted during the trials: training images (3 x 16) or held-out ones (3 x 4), never the 3 x 10
    # test images; the objective's clean and robust scores are on the held-out ones, twice per trial
    assert {len(images) for images in scored} == {3 * 16, 3 * 4}
    assert sum(len(images) == 3 * 4 for images in scored) >= 4
    for images in scored:
        assert not np.isclose(images.reshape(len(images), -1), 0.123).all(axis=1).any()
    # after the study, the best trials are measured on the test images: reported beside them, not optimised
    assert summary["best"] and all(set(best["test"]) == {"clean", "robust"} for best in summary["best"])
    with pytest.raises(ValueError, match="Received: validation_per_class=0"):
        run_sweep(profiles.resolve("quick"), str(data_root), SearchSpace((1.0, 4.0), (0.1, 0.3), ("gradient",)),
                  resolve_objective("clean", "fgsm", "after"), "x", f"sqlite:///{tmp_path / 'optuna2.db'}")
