"""The MLflow workflow: profiles, grid names, and the quick reproduction end to end."""

import math
import sys

import mlflow
import pytest

import evaluation
from tests.conftest import REPO, run_command
from workflow import profiles, tracking

STEPS = ("train", "heatmaps", "attack", "evaluate")


# ---------------------------------------------------------------- profiles and grid names (fast)


@pytest.mark.parametrize("overrides, message", [
    ({"sigma": "0"}, "Received: sigma='0'"),
    ({"keep_fraction": "1.5"}, "keep_fraction=1.5"),
    ({"keep_fraction": "nan"}, "keep_fraction=nan"),
    ({"epochs": "0"}, "Received: epochs='0'"),
    ({"batch_size": "2.5"}, "Received: batch_size='2.5'"),
    ({"attacks": "fgsm,deepfool"}, "Received: attacks='fgsm,deepfool'"),
    ({"adaptive_attacks": "newtonfool", "attacks": "fgsm"}, "Received: adaptive_attacks='newtonfool'"),
    ({"model": "vgg"}, "Received: model='vgg'"),
    ({"colour": "red"}, "Unknown setting(s) ['colour']"),
])
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(ValueError) as error:
        profiles.resolve("quick", overrides)
    assert message in str(error.value)


def test_unknown_profile_is_named():
    with pytest.raises(ValueError, match="Received: profile='fast'"):
        profiles.resolve("fast")


def test_overrides_arrive_as_strings_and_are_converted():
    settings = profiles.resolve("thesis", {"epochs": "3", "sigma": "2.5", "seed": "7", "attacks": "fgsm",
                                           "adaptive_attacks": "none"})
    assert settings["epochs"] == 3 and settings["sigma"] == 2.5 and settings["seed"] == 7
    assert settings["adaptive_attacks"] == "none" and settings["profile"] == "thesis"
    assert profiles.PROFILES["thesis"]["epochs"] == 20  # the registry itself is never modified


def test_metric_names_round_trip():
    grid = evaluation.cells(("fgsm", "newtonfool"), ("fgsm",))
    assert len(grid) == 6 * (1 + 2 + 3)
    names = [evaluation.metric_name(*cell) for cell in grid]
    assert len(set(names)) == len(names)
    assert "accuracy/original/none" in names and "accuracy/lrp_eps/fgsm/adaptive" in names
    assert "accuracy/lrp_eps/newtonfool/adaptive" not in names
    assert [evaluation.parse_metric(n) for n in names] == grid
    assert evaluation.parse_metric("accuracy") is None
    with pytest.raises(ValueError, match="order='sideways'"):
        evaluation.metric_name("blur", "fgsm", "sideways")


# ---------------------------------------------------------------- the quick reproduction (real data)


def _step_runs(uri):
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("pixel-importance")
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    return [r for r in runs if r.data.tags.get("step") in STEPS]


def test_quick_reproduce_registers_five_models(quick_store):
    client = mlflow.MlflowClient(quick_store["uri"])
    for variant in profiles.VARIANTS:
        version = client.get_model_version_by_alias(f"pixel-importance.{variant}", "quick")
        run = client.get_run(version.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["variant"] == variant and run.data.tags["profile"] == "quick"
        assert run.data.tags["git_commit"] and run.data.params["heatmap"] == variant
        assert "loss" in run.data.metrics and "val_accuracy" in run.data.metrics
        history = client.get_metric_history(version.run_id, "loss")
        assert len(history) == profiles.PROFILES["quick"]["epochs"]  # one point per epoch
        assert run.inputs.dataset_inputs, "training dataset not logged"


def test_quick_reproduce_logs_the_full_grid(quick_store):
    evaluations = [r for r in _step_runs(quick_store["uri"]) if r.data.tags["step"] == "evaluate"]
    assert sorted(r.data.tags["variant"] for r in evaluations) == sorted(profiles.VARIANTS)
    quick = profiles.resolve("quick")
    expected = [evaluation.metric_name(*c) for c in evaluation.cells(
        profiles.parse_attack_list(quick["attacks"], "attacks"),
        profiles.parse_attack_list(quick["adaptive_attacks"], "adaptive_attacks"))]
    for run in evaluations:
        grid = {k: v for k, v in run.data.metrics.items() if evaluation.parse_metric(k)}
        assert sorted(grid) == sorted(expected)
        mlflow.set_tracking_uri(quick_store["uri"])
        table = tracking.load_table(run.info.run_id, "cells.json")
        assert len(table) == len(expected)
        for row in table.itertuples():
            assert row.n == 3 * 50
            assert math.isclose(grid[row.metric], row.correct / row.n)
            assert row.ci95_low <= row.accuracy <= row.ci95_high
        # an attack costs accuracy: FGSM on the original test set is below clean accuracy
        assert grid["accuracy/original/fgsm/before"] < grid["accuracy/original/none"]


def test_reproduce_under_mlflow_run_finishes_with_steps_nested(quick_store):
    client = mlflow.MlflowClient(quick_store["uri"])
    experiment = client.get_experiment_by_name("pixel-importance")
    launched = client.search_runs([experiment.experiment_id], "tags.`mlflow.project.entryPoint` = 'reproduce'")
    assert len(launched) >= 1 and all(r.info.status == "FINISHED" for r in launched)
    parent = launched[-1].info.run_id
    children = [r for r in _step_runs(quick_store["uri"]) if r.data.tags.get("mlflow.parentRunId") == parent]
    assert {r.data.tags["step"] for r in children} >= {"train", "evaluate"}
    assert launched[-1].data.params["profile"] == "quick"


def test_second_reproduce_reuses_every_step(quick_store):
    before = _step_runs(quick_store["uri"])
    assert all(r.info.status == "FINISHED" for r in before)
    keys = [r.data.tags["step_key"] for r in before]
    assert len(keys) == len(set(keys)), "a step ran twice"
    result = run_command([sys.executable, REPO / "reproduce.py", "--profile", "quick", "--data", quick_store["data"]],
                         cwd=quick_store["folder"], env={"MLFLOW_TRACKING_URI": quick_store["uri"]})
    assert result.returncode == 0, result.stderr[-3000:]
    after = _step_runs(quick_store["uri"])
    assert sorted(r.info.run_id for r in after) == sorted(r.info.run_id for r in before)
    assert "start  train" not in result.stderr and "start  attack" not in result.stderr
    assert "reuse  evaluate-lrp_eps" in result.stderr
