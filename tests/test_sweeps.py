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


def test_a_transfer_attack_in_an_order_it_cannot_run_is_refused_before_training():
    with pytest.raises(ValueError, match="orders \\['after'\\] only. Received: order='adaptive'"):
        resolve_objective("robust", "pgd_transfer", "adaptive")
    assert resolve_objective("clean", "pgd_transfer", "adaptive").kind == "clean"  # no attack is run


def _stub_trials(study, space, count, score=lambda point: point["keep_fraction"]):
    """``count`` trials that train nothing: each scores ``score`` of its point (both objectives alike)."""
    def objective(trial):
        value = score(space.sample(trial))
        return [value] * len(study.directions)
    study.optimize(objective, n_trials=count)


def test_a_study_is_joined_only_for_the_purpose_it_was_made_for(tmp_path):
    from sweeps import open_study
    from workflow import profiles

    storage, settings = f"sqlite:///{tmp_path / 'optuna.db'}", profiles.resolve("quick")
    study, _ = open_study("s", storage, resolve_objective("clean", "newtonfool", "adaptive"), 0, settings)
    # same purpose: another attack means nothing to a clean-accuracy study, nor do sigma and keep_fraction
    open_study("s", storage, resolve_objective("clean", "fgsm", "after"), 0,
               profiles.changed(settings, sigma=2.0, keep_fraction=0.3))
    with pytest.raises(ValueError, match="measures something else.*Received: objective='robust', attack='newtonfool', "
                                         "order='adaptive'"):
        open_study("s", storage, resolve_objective("robust", "newtonfool", "adaptive"), 0, settings)
    with pytest.raises(ValueError, match="Received: settings='"):
        open_study("s", storage, resolve_objective("clean", "fgsm", "after"), 0,
                   profiles.changed(settings, epochs=settings["epochs"] + 1))


def test_a_resumed_study_proposes_new_points_and_a_fresh_one_repeats_itself(tmp_path):
    from sweeps import open_study

    space, objective = SearchSpace(), resolve_objective("both", "fgsm", "after")
    first, seed = open_study("s", f"sqlite:///{tmp_path / 'a.db'}", objective, 1)
    _stub_trials(first, space, 3)
    resumed, resumed_seed = open_study("s", f"sqlite:///{tmp_path / 'a.db'}", objective, 1)
    _stub_trials(resumed, space, 3)
    points = [tuple(sorted(t.params.items())) for t in resumed.trials]
    assert (seed, resumed_seed) == (1, 4) and len(set(points)) == 6  # no proposal replayed
    fresh, _ = open_study("s", f"sqlite:///{tmp_path / 'b.db'}", objective, 1)
    _stub_trials(fresh, space, 3)
    assert [t.params for t in fresh.trials] == [t.params for t in first.trials[:3]]  # same seed, same study


def test_importances_name_what_drives_a_high_score():
    import warnings

    from sweeps.study import lowered

    study = optuna.create_study(directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=0))
    _stub_trials(study, SearchSpace(), 40)  # only keep_fraction matters, the higher the better
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's note that a target is ranked for low values: it is negated
        importances = optuna.importance.get_param_importances(study, target=lowered(0))
    assert importances["keep_fraction"] > 0.8 > importances["sigma"]


def test_a_trial_whose_worker_fell_silent_is_failed_when_the_study_is_opened(tmp_path, monkeypatch):
    import time

    import sweeps.study as study_module

    monkeypatch.setattr(study_module, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(study_module, "GRACE_SECONDS", 1)
    storage, objective = f"sqlite:///{tmp_path / 'optuna.db'}", resolve_objective("both", "fgsm", "after")
    study, _ = study_module.open_study("s", storage, objective, 0)
    trial = study.ask()  # a worker takes a trial, beats once, and is killed outright
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(2.5)
    study, _ = study_module.open_study("s", storage, objective, 0)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL]


@pytest.mark.parametrize("indices, predicted, expected", [([1, 4, 7], [1, 1, 0], 2 / 3),  # labels 1, 1, 1
                                                          ([0, 2, 9], [0, 1, 1], 1 / 3)])  # labels 0, 2, 0
def test_a_robust_score_on_some_of_the_images_is_set_against_their_labels(monkeypatch, indices, predicted, expected):
    """Square attacks ``square_images`` of the validation images: their labels are those at its ``indices``."""
    import numpy as np

    import sweeps.study as study_module

    labels = np.arange(10) % 3
    split = type("Split", (), {"y_test": labels})
    monkeypatch.setattr(study_module.workflow_data, "load", lambda settings, data: type("Loaded", (), {"split": split}))
    monkeypatch.setattr(study_module.steps, "attack_step", lambda *args: "attack-run")
    indices = np.array(indices)
    monkeypatch.setattr(study_module.tracking, "load_arrays",
                        lambda run_id, name: {"images": np.zeros((3, 2, 2, 3)), "indices": indices})
    monkeypatch.setattr(study_module.models, "load", lambda run_id: None)
    monkeypatch.setattr(study_module.classifiers, "predict_labels", lambda model, images: np.array(predicted))
    score = study_module.robust_score({}, "model", "gradient", "data", resolve_objective("robust", "square", "adaptive"),
                                      "explainer")
    assert score == pytest.approx(expected)


@pytest.mark.parametrize("argument, message", [(["--n_trials", "0"], "Received: n_trials=0"),
                                               (["--sampler_seed", "-1"], "Received: sampler_seed=-1")])
def test_bad_trial_count_or_seed_fails_before_any_run(tmp_path, argument, message, capsys):
    import sweep

    uri = fresh_store(tmp_path)
    assert sweep.main(["--data", str(tmp_path / "none"), "--tracking-uri", uri, *argument]) == 2
    assert message in capsys.readouterr().err
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("pixel-importance")
    assert experiment is None or not client.search_runs([experiment.experiment_id])


def test_the_storage_defaults_to_the_environment_so_a_password_stays_out_of_logged_parameters(monkeypatch):
    import sweep

    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    assert sweep.storage_url("env") == "sqlite:///optuna.db"
    monkeypatch.setenv("OPTUNA_STORAGE", "postgresql://user:secret@db/optuna")
    assert sweep.storage_url("env") == "postgresql://user:secret@db/optuna"
    assert sweep.storage_url("sqlite:///x.db") == "sqlite:///x.db"


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
