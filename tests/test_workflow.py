"""The MLflow workflow: profiles, grid names, and the quick reproduction end to end."""

import math
import sqlite3
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest

import defense
import heatmaps
import evaluation
import results
from tests.conftest import REPO, fresh_store, run_command
from workflow import profiles, tracking

STEPS = ("train", "heatmaps", "overlap", "attack", "evaluate")


# ---------------------------------------------------------------- profiles and grid names (fast)


@pytest.mark.parametrize("overrides, message", [
    ({"sigma": "0"}, "Received: sigma='0'"),
    ({"fgsm_eps": "-1"}, "Setting fgsm_eps (fgsm's eps): eps must be a positive, finite number. Received: eps='-1'"),
    ({"lrp_epsilon": "abc"}, "Setting lrp_epsilon (lrp_eps's epsilon)"),
    ({"lrp_epsilon": "0"}, "parameter epsilon must be a positive number. Received: epsilon='0'"),
    ({"random_heatmap_seed": "-1"}, "parameter seed must be a non-negative integer. Received: seed='-1'"),
    ({"pgd_heatmap_norm": "l3"}, "Setting pgd_heatmap_norm (pgd's norm): Heatmap method 'pgd' parameter norm must "
                                  "be one of ['2', 'inf']. Received: norm='l3'"),
    ({"newtonfool_max_iter": "2.5"}, "Received: max_iter='2.5'"),
    ({"keep_fraction": "1.5"}, "keep_fraction='1.5'"),
    ({"keep_fraction": "nan"}, "keep_fraction='nan'"),
    ({"epochs": "0"}, "Received: epochs='0'"),
    ({"batch_size": "2.5"}, "Received: batch_size='2.5'"),
    ({"attacks": "fgsm,deepfool"}, "Received: attacks='fgsm,deepfool'"),
    ({"adaptive_attacks": "pgd_transfer"}, "Received: adaptive_attacks='pgd_transfer'"),
    ({"curve_eps": "0,-2"}, "Received: curve_eps='0,-2'"),
    ({"curve_eps": "0,0.1234567"}, "at most 6 significant digits; give each in at most 6. Received: "
                                   "curve_eps='0,0.1234567'"),
    ({"square_images": "-1"}, "Received: square_images='-1'"),
    ({"pgd_eps": "0"}, "Setting pgd_eps (pgd's eps)"),
    ({"model": "vgg"}, "Received: model='vgg'"),
    ({"variants": "none,vgg"}, "Received: variants='none,vgg'"),
    ({"variants": ""}, "Received: variants=''"),
    ({"colour": "red", "seed": "1"}, "Unknown setting(s) ['colour'] for profile 'quick'. Expected a subset of"),
    ({"colour": "red", "seed": "1"}, "Received: colour='red'"),
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
    assert settings["adaptive_attacks"] == "" and settings["profile"] == "thesis+custom"
    assert settings["base_profile"] == "thesis"
    assert profiles.PROFILES["thesis"]["epochs"] == 30  # the registry itself is never modified


def test_settings_that_differ_from_the_profile_make_it_custom_and_move_no_alias():
    exact = profiles.resolve("quick", {"epochs": "8", "sigma": "4.0"})  # the profile's own values, as strings
    assert exact["profile"] == "quick" and profiles.default_aliases(exact) == ("quick",)
    custom = profiles.resolve("quick", {"sigma": "2"})
    assert custom["profile"] == "quick+custom" and profiles.default_aliases(custom) == ()
    replicate = profiles.resolve("quick", {"seed": "1"})  # another seed replicates the profile's run
    assert replicate["profile"] == "quick" and profiles.default_aliases(replicate) == ()
    assert profiles.changed(custom, sigma=4.0)["profile"] == "quick"
    subset = profiles.resolve("quick", {"variants": "lrp_eps, none"})  # some of the profile's own models
    assert subset["profile"] == "quick" and subset["variants"] == "none,lrp_eps"
    assert profiles.selected_variants(subset) == ("none", "lrp_eps")
    assert profiles.selected_variants(profiles.resolve("quick")) == tuple(defense.variants())


def test_a_model_is_tested_with_the_explainer_it_was_trained_with_unless_told_otherwise(tmp_path):
    from workflow import models

    tracking.configure(fresh_store(tmp_path))
    client, experiment = mlflow.MlflowClient(), tracking.experiment_id()

    def train_run(variant, **params):
        run = client.create_run(experiment, tags={"variant": variant})
        for key, value in params.items():
            client.log_param(run.info.run_id, key, value)
        return run.info.run_id

    seed0, seed1 = train_run("none", seed=0), train_run("none", seed=1)
    heatmap_model = train_run("lrp_eps", seed=1, explainer_run_id=seed1)
    client.create_registered_model(models.registered_name("none"))
    version = client.create_model_version(models.registered_name("none"), f"runs:/{seed0}/model", run_id=seed0)
    client.set_registered_model_alias(models.registered_name("none"), "quick", version.version)
    assert models.explainer_of(heatmap_model, None, "quick")[0] == seed1  # not the alias' seed 0
    assert models.explainer_of(seed1, None, "quick")[0] == seed1  # an Original model explains itself
    blur_model = train_run("blur", seed=1)
    assert models.explainer_of(blur_model, None, "quick") == (
        seed0, "models:/pixel-importance.none@quick (the model was trained on no heatmap; --explainer names another)")
    assert models.explainer_of(heatmap_model, f"runs:/{seed0}/model", "quick")[0] == seed0  # told otherwise
    with pytest.raises(ValueError, match="Received: model_uri='models:/pixel-importance.none@thesis'"):
        models.explainer_of(blur_model, None, "thesis")


def test_registry_parameters_are_profile_settings():
    quick = profiles.resolve("quick")
    assert quick["lrp_epsilon"] == 1e-7 and quick["fgsm_eps"] == 8 / 255 and quick["newtonfool_max_iter"] == 5
    assert profiles.resolve("thesis")["newtonfool_max_iter"] == 100  # the record's default
    assert profiles.attack_params(profiles.resolve("quick", {"fgsm_eps": "0.01"}), "fgsm") == {
        "norm": "inf", "eps": 0.01, "label_source": "true"}
    thesis = profiles.resolve("thesis")  # the thesis' FGSM as inferred: ART's eps=0.3 on [0, 255], predicted labels
    assert profiles.attack_params(thesis, "fgsm") == {"norm": "inf", "eps": 0.3 / 255, "label_source": "predicted"}
    with pytest.raises(ValueError, match="Received: label_source='guess'"):
        profiles.resolve("thesis", {"fgsm_labels": "guess"})
    assert profiles.heatmap_params(profiles.resolve("quick", {"lrp_epsilon": "0.25"}), "lrp_eps") == {"epsilon": 0.25}
    assert profiles.heatmap_params(profiles.resolve("quick", {"random_heatmap_seed": "0"}), "random") == {"seed": 0}
    assert profiles.heatmap_params(profiles.resolve("quick", {"pgd_heatmap_norm": "inf", "pgd_heatmap_eps": "0.03"}),
                                   "pgd") == {"norm": "inf", "eps": 0.03, "eps_step": 0.125, "max_iter": 10}
    spelled = profiles.resolve("thesis", {"pgd_heatmap_norm": "L2"})  # another spelling of the default
    assert profiles.heatmap_params(spelled, "pgd")["norm"] == "2" and spelled["profile"] == "thesis"


def test_metric_names_round_trip():
    grid = evaluation.cells(("fgsm", "newtonfool"), ("fgsm",))
    assert len(grid) == len(defense.test_sets()) * (1 + 2 + 3)
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


def test_quick_reproduce_registers_every_variant_model(quick_store):
    client = mlflow.MlflowClient(quick_store["uri"])
    for variant in defense.variants():
        version = client.get_model_version_by_alias(f"pixel-importance.{variant}", "quick")
        run = client.get_run(version.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["variant"] == variant and run.data.tags["profile"] == "quick"
        assert run.data.tags["git_commit"] and run.data.params["heatmap"] == variant
        assert "loss" in run.data.metrics and 0 <= run.data.metrics["train_accuracy"] <= 1
        assert not any(k.startswith("val_") for k in run.data.metrics)  # no test images in training
        assert run.data.params["optimizer"] == "adam" and run.data.params["augment"] == "False"
        history = client.get_metric_history(version.run_id, "loss")
        assert len(history) == profiles.PROFILES["quick"]["epochs"]  # one point per epoch
        assert run.inputs.dataset_inputs, "training dataset not logged"


@pytest.mark.skipif(Path("/dev/nvidiactl").exists(), reason="on a GPU machine TensorFlow's CUDA notes are kept")
def test_quick_reproduce_prints_no_third_party_noise(quick_store):
    for note in ("oneDNN custom operations are on", "Could not find cuda drivers", "failed call to cuInit",
                 "PyTorch not found", "registering model based on models:/", "The specified dataset source"):
        assert note not in quick_store["stderr"] and note not in quick_store["stdout"], note
    assert "start  train-none" in quick_store["stderr"] + quick_store["stdout"]  # progress lines still show
    assert f"models evaluated: {len(defense.variants())}/{len(defense.variants())}" in quick_store["stderr"]


def test_quick_reproduce_logs_the_full_grid(quick_store):
    evaluations = [r for r in _step_runs(quick_store["uri"]) if r.data.tags["step"] == "evaluate"]
    assert sorted(r.data.tags["variant"] for r in evaluations) == sorted(defense.variants())
    quick = profiles.resolve("quick")
    test_images = 3 * (quick["images_per_class"] - quick["train_per_class"])
    for run in evaluations:
        own = defense.variant(run.data.tags["variant"]).name
        cells = evaluation.cells(profiles.parse_attack_list(quick["attacks"], "attacks"),
                                 profiles.parse_attack_list(quick["adaptive_attacks"], "adaptive_attacks"), own)
        expected = [evaluation.metric_name(*c) for c in cells]
        # counted by hand for the quick profile: on each of the 7 test sets clean, FGSM before / after /
        # adaptive, NewtonFool before / after, PGD transfer after and PGD adaptive; Square on the original test
        # set and the model's own (one test set for the Original model, two for the others)
        assert len(defense.test_sets()) == 7 and len(set(expected)) == 7 * 8 + (1 if own == "original" else 2)
        # the new rows: adaptive PGD everywhere, Square on the original and the model's own test set, transfer
        assert f"accuracy/{own}/square/adaptive" in expected and "accuracy/original/square/adaptive" in expected
        assert len([c for c in cells if c.attack == "square"]) == len({"original", own})
        assert all(f"accuracy/{t}/pgd/adaptive" in expected and f"accuracy/{t}/pgd_transfer/after" in expected
                   for t in defense.test_sets())
        grid = {k: v for k, v in run.data.metrics.items() if evaluation.parse_metric(k)}
        assert sorted(grid) == sorted(expected)
        mlflow.set_tracking_uri(quick_store["uri"])
        table = tracking.load_table(run.info.run_id, "cells.json")
        assert len(table) == len(expected)
        for row in table.itertuples():
            assert row.n == (quick["square_images"] if row.attack == "square" else test_images)
            assert math.isclose(grid[row.metric], row.correct / row.n)
            assert row.ci95_low <= row.accuracy <= row.ci95_high
        # an attack costs accuracy: FGSM on the original test set is below clean accuracy
        assert grid["accuracy/original/fgsm/before"] < grid["accuracy/original/none"]


def test_quick_reproduce_logs_perturbation_sizes_and_robustness_curves(quick_store):
    quick = profiles.resolve("quick")
    budgets = evaluation.parse_curve_eps(quick["curve_eps"])
    mlflow.set_tracking_uri(quick_store["uri"])
    square_sizes = []
    for run in [r for r in _step_runs(quick_store["uri"]) if r.data.tags["step"] == "evaluate"]:
        metrics = run.data.metrics
        assert 0 < metrics["linf/original/fgsm/before"] <= quick["fgsm_eps"] + 1e-6
        # Square leaves an image it does not need to move (one the model already gets wrong) as it is, so a
        # weak quick model's median may be 0; it never exceeds the budget
        square_sizes.append(metrics["linf/original/square/adaptive"])
        assert 0 <= square_sizes[-1] <= quick["square_eps"] + 1e-6
        assert metrics["l2/lrp_eps/newtonfool/after"] > 0 and "l2/original/none" not in metrics
        own = defense.variant(run.data.tags["variant"]).name
        curves = tracking.load_table(run.info.run_id, "curves.json")
        assert set(curves["test_set"]) == {"original", own}
        assert tuple(sorted(set(curves["eps_255"]))) == budgets
        assert (curves["n"] == quick["curve_images"]).all()
        for test_set, lines in curves.groupby("test_set"):
            assert lines[lines["eps_255"] == 0]["accuracy"].nunique() == 1  # eps 0: clean, every line
            pgd = lines[(lines["attack"] == "pgd")].set_index("eps_255")["accuracy"]
            assert pgd[max(budgets)] < pgd[0]
            if test_set == "original":  # undefended: adaptive PGD is plain PGD, and 16/255 breaks these models
                assert pgd[max(budgets)] <= 0.10
    assert max(square_sizes) > 0
    cells = results.collect(quick_store["uri"], profile="quick")  # each attacked cell with its logged budget
    budget = {"fgsm": quick["fgsm_eps"], "pgd": quick["pgd_eps"], "pgd_transfer": quick["pgd_eps"],
              "square": quick["square_eps"]}
    for attack, eps in budget.items():
        assert (cells["attack"] == attack).any() and np.allclose(cells.loc[cells["attack"] == attack, "eps"], eps)
    assert cells.loc[cells["attack"].isin(["none", "newtonfool"]), "eps"].isna().all()


def test_every_logged_accuracy_is_the_mean_of_its_per_image_outcomes(quick_store):
    mlflow.set_tracking_uri(quick_store["uri"])
    quick = profiles.resolve("quick")
    test_images = 3 * (quick["images_per_class"] - quick["train_per_class"])
    checked = 0
    for run in [r for r in _step_runs(quick_store["uri"]) if r.data.tags["step"] == "evaluate"]:
        outcomes = tracking.load_arrays(run.info.run_id, "outcomes.npz")
        grid = {k: v for k, v in run.data.metrics.items() if evaluation.parse_metric(k)}
        assert sorted(k for k in outcomes if not k.startswith("indices:")) == sorted(grid)
        for metric, value in grid.items():
            correct = outcomes[metric]
            assert correct.dtype == bool and value == pytest.approx(correct.mean())
            expected = test_images
            if f"indices:{metric}" in outcomes:  # Square: on evenly spaced test images
                expected = len(outcomes[f"indices:{metric}"])
                assert expected < test_images
            assert len(correct) == expected
            checked += 1
    assert checked >= 7 * 7 * 8


def test_stored_attacked_images_follow_the_orders_definitions(quick_store):
    """Recomputed from the stored images with the plain heatmap and blur functions: ``after`` is T(A(x)) with
    the explainer's heatmaps of A(x), A crafted on the evaluated model; the transfer row is T(A(x)) with A
    crafted on the undefended explainer model; ``before`` attacks T(x), within the budget around it."""
    import blur
    from workflow import data as workflow_data
    from workflow import models

    client = mlflow.MlflowClient(quick_store["uri"])
    experiment = client.get_experiment_by_name("pixel-importance").experiment_id

    def trained(variant):
        return client.search_runs([experiment], f"tags.step = 'train' and tags.variant = '{variant}' and "
                                  "tags.profile = 'quick' and params.seed = '0' and attributes.status = 'FINISHED'")

    lrp_model = trained("lrp_eps")[0].info.run_id

    def attacked_by_the_lrp_model(attack, order):  # on the LRP-eps test set, the model trained on its images
        return client.search_runs([experiment], f"tags.step = 'attack' and tags.attack = '{attack}' and "
                                  f"tags.order = '{order}' and tags.test_set = 'lrp_eps' and tags.profile = 'quick' "
                                  f"and params.model_run_id = '{lrp_model}' and attributes.status = 'FINISHED'")[0]

    def lrp_blur(images, params):
        maps = heatmaps.compute(models.load(params["explainer_run_id"]), images, "lrp_eps",
                                epsilon=float(params["heatmap.epsilon"]))  # the explainer's predicted classes
        return blur.heatmap_blur(images, maps, float(params["keep_fraction"]), float(params["sigma"]))

    mlflow.set_tracking_uri(quick_store["uri"])
    for attack, crafted_on in (("fgsm", "model_run_id"), ("pgd_transfer", "explainer_run_id")):
        run = attacked_by_the_lrp_model(attack, "after")
        params, source = run.data.params, client.get_run(run.data.params["source_run_id"]).data.params
        assert (source["test_set"], source["order"]) == ("original", "before")
        assert source["model_run_id"] == params[crafted_on] and source["attack"] == attack.removesuffix("_transfer")
        crafted = tracking.load_arrays(params["source_run_id"], "adversarial.npz")
        stored = tracking.load_arrays(run.info.run_id, "adversarial.npz")
        np.testing.assert_array_equal(stored["indices"], crafted["indices"])
        np.testing.assert_allclose(stored["images"], lrp_blur(crafted["images"], params), atol=1e-6)

    split = workflow_data.load(profiles.resolve("quick", {}), quick_store["data"]).split
    run = attacked_by_the_lrp_model("fgsm", "before")
    stored = tracking.load_arrays(run.info.run_id, "adversarial.npz")
    x = split.x_test[stored["indices"]]
    eps = float(run.data.params["attack.eps"])
    attacked_from = lrp_blur(x, run.data.params)
    assert np.abs(stored["images"] - attacked_from).max() <= eps + 1e-6 < np.abs(stored["images"] - x).max()

    # the LRP-eps model trained on the heatmaps the undefended model (its seed's) gives its training images
    lrp = client.get_run(lrp_model).data.params
    assert lrp["explainer_run_id"] in {r.info.run_id for r in trained("none")}
    maps = tracking.load_arrays(lrp["heatmaps_run_id"], "heatmaps.npz")["train"]
    recomputed = heatmaps.compute(models.load(lrp["explainer_run_id"]), split.x_train, "lrp_eps",
                                  epsilon=float(lrp["heatmap.epsilon"]))
    np.testing.assert_allclose(maps, recomputed, rtol=1e-5, atol=1e-7)


def test_controls_overlap_and_findings_on_the_quick_store(quick_store, tmp_path):
    import findings
    import results

    assert {"blur", "random"} <= set(defense.variants())  # the controls are ordinary training variants
    overlap = results.collect_overlap(quick_store["uri"], profile="quick").set_index(["method_a", "method_b"])
    methods = list(heatmaps.METHODS)
    assert len(overlap) == math.comb(len(methods) + 2, 2)  # every pair, with two LRP sensitivity epsilons
    assert overlap.loc[("input_x_gradient", "lrp_eps"), "mean_iou"] > 0.99  # epsilon = 1e-7: the same masks
    assert overlap.loc[("gradient", "random"), "mean_iou"] < 0.2  # near chance (about 0.08)
    comparisons, claims = findings.evaluate_claims(results.collect_outcomes(quick_store["uri"], profile="quick"))
    verdicts = claims.set_index("claim")
    assert set(verdicts.index) == set(findings.CLAIMS)
    assert set(verdicts["verdict"]) <= {"supported", "not supported", "inconclusive"}
    assert verdicts.loc["heatmap_beats_random", "comparisons"] == 4 * 6  # 4 methods x (clean, 4 thesis rows, PGD)
    quick = profiles.resolve("quick")
    assert (comparisons["n"] == 3 * (quick["images_per_class"] - quick["train_per_class"])).all()


def test_the_launchers_run_is_the_entry_points_run_with_every_step_nested(quick_store):
    client = mlflow.MlflowClient(quick_store["uri"])
    experiment = client.get_experiment_by_name("pixel-importance")
    assert experiment.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"  # the UI opens on runs
    launched = client.search_runs([experiment.experiment_id], "tags.`mlflow.project.entryPoint` = 'reproduce'")
    assert len(launched) == 1 and launched[0].info.status == "FINISHED"
    entry = launched[0]
    assert entry.info.run_name == "reproduce-quick" and entry.data.tags["entry_point"] == "reproduce"
    assert entry.data.tags["step"] == "entry"  # never taken for a step run
    quick = profiles.resolve("quick")
    for key in profiles.setting_keys():  # the settings as params (MLflow keeps a -P value as the user typed it)
        assert entry.data.params[key] == str(quick[key]), key
    assert entry.data.params["profile"] == "quick" and entry.data.tags["profile"] == "quick"
    steps = _step_runs(quick_store["uri"])
    children = [r for r in steps if r.data.tags.get("mlflow.parentRunId") == entry.info.run_id]
    assert {r.data.tags["step"] for r in children} == {"train", "heatmaps", "overlap", "evaluate"}
    assert {r.info.run_name for r in children} >= {f"train-{v}" for v in defense.variants()}
    nested = {r.info.run_id: r for r in steps}
    for attack_run in (r for r in steps if r.data.tags["step"] == "attack"):  # under their evaluate run
        assert nested[attack_run.data.tags["mlflow.parentRunId"]].data.tags["step"] == "evaluate"
    table = tracking.load_table(entry.info.run_id, "steps.json", tracking_uri=quick_store["uri"])
    assert sorted(table["run_id"]) == sorted(r.info.run_id for r in steps)
    assert entry.data.tags["steps_reused"] == "0" and entry.data.tags["steps_run"] == str(len(steps))


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
    assert "PyTorch not found" not in result.stderr  # third-party import noise is silenced
    # the fully reused reproduction is still a named run with its settings and the runs it stands on
    client = mlflow.MlflowClient(quick_store["uri"])
    experiment = client.get_experiment_by_name("pixel-importance")
    again = client.search_runs([experiment.experiment_id], "tags.entry_point = 'reproduce'",
                               order_by=["attributes.start_time DESC"])[0]
    assert again.info.run_name == "reproduce-quick"
    assert again.data.params["epochs"] == str(profiles.PROFILES["quick"]["epochs"])
    table = tracking.load_table(again.info.run_id, "steps.json", tracking_uri=quick_store["uri"])
    assert again.data.tags["steps_run"] == "0" and int(again.data.tags["steps_reused"]) == len(table) >= 14
    assert table["reused"].all() and set(table["run_id"]) <= {r.info.run_id for r in before}


def test_two_seeds_run_the_grid_twice_with_the_images_fixed(tmp_path, data_root, capsys):
    import reproduce
    import results

    uri = fresh_store(tmp_path)
    tracking.configure(uri)
    tiny = {"images_per_class": 12, "train_per_class": 8, "epochs": 1, "attacks": "none", "adaptive_attacks": "none",
            "curve_eps": "none", "variants": "lrp_eps,none"}
    result = reproduce.reproduce("quick", str(data_root), seeds="0,1", **tiny)
    assert sorted(result["by_seed"]) == [0, 1] and result["cells"] == result["by_seed"][0]["cells"]
    said = capsys.readouterr().err  # each seed's progress says which seed it is and how many follow
    assert "seed 0: 2 models to train and evaluate; then 1 more seed\n" in said
    assert "seed 0: models evaluated: 2/2" in said and "seed 1: models evaluated: 1/2" in said
    assert "seed 1: 2 models to train and evaluate\n" in said and "quick+custom) seed 1 done in" in said
    first, second = (result["by_seed"][seed]["train_runs"] for seed in (0, 1))
    assert set(first) == set(second) == {"none", "lrp_eps"} and not set(first.values()) & set(second.values())
    client = mlflow.MlflowClient(uri)
    params = [client.get_run(run_id).data.params for run_id in (first["none"], second["none"])]
    assert params[0]["data_fingerprint"] == params[1]["data_fingerprint"]  # the same images
    assert (params[0]["seed"], params[1]["seed"]) == ("0", "1")
    aliases = {model.name: dict(model.aliases) for model in client.search_registered_models()}
    assert not any("quick" in named for named in aliases.values())  # custom settings move no profile alias
    cells = results.collect(uri, profile="quick+custom")
    assert cells.groupby("variant")["run_id"].nunique().to_dict() == {"none": 2, "lrp_eps": 2}
    assert set(cells["test_set"]) == set(defense.test_sets())  # each chosen model on every test set
    assert results.model_table(cells, "lrp_eps").loc["LRP-eps", "Blur"].endswith("(2 seeds)")
    assert set(cells["attack"]) == {"none"}  # every seed keeps the given settings (attacks=none): no attack ran
    assert not client.search_runs([client.get_experiment_by_name("pixel-importance").experiment_id],
                                  "tags.step = 'attack'")
    with pytest.raises(ValueError, match="Received: seeds='0,x'"):
        reproduce.reproduce("quick", str(data_root), seeds="0,x", **tiny)


def test_reproduction_progress_estimates_the_models_left_from_those_evaluated_here():
    from workflow.reproduce import progress_line
    # two models reused (seconds), then one resumed partway (10 min) and two evaluated whole (30 and 50 min)
    assert progress_line([0.05, 0.1, 10.0, 30.0, 50.0], 6) == (
        "models evaluated: 5/6 (90.2 min in this reproduction; 1 left, about 40 min at 40.0 min per model "
        "evaluated here)")
    assert progress_line([0.05, 10.0], 4) == (  # the only model that worked may have resumed: a lower bound
        "models evaluated: 2/4 (10.1 min in this reproduction; 2 left, at least 20 min at 10.0 min per model "
        "evaluated here; the only such model may have resumed partway)")
    assert progress_line([0.05], 5) == "models evaluated: 1/5 (0.1 min in this reproduction)"  # no pace yet
    assert progress_line([30.0, 50.0], 2) == "models evaluated: 2/2 (80.0 min in this reproduction)"  # none left


def test_keep_mask_shift_on_the_quick_store(quick_store, tmp_path):
    """bench/keep_mask_shift.py: heatmaps recomputed on the same images keep the same pixels; the random
    control's mask of a moved image is a new random mask, whose IoU with the old one is that of two independent
    random subsets of k of the n pixels, (k/n)^2 / (2 k/n - (k/n)^2)."""
    import importlib.util

    import blur
    from workflow import data as workflow_data

    spec = importlib.util.spec_from_file_location("keep_mask_shift", REPO / "bench" / "keep_mask_shift.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # a copy of the store without the Random model (not trained yet): only that model's column is left out
    copy = tmp_path / "store.db"
    with sqlite3.connect(quick_store["folder"] / "mlflow.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)
    uri = f"sqlite:///{copy}"
    client = mlflow.MlflowClient(uri)
    for run in client.search_runs([client.get_experiment_by_name("pixel-importance").experiment_id],
                                  "tags.step = 'train' and tags.variant = 'random'"):
        client.delete_run(run.info.run_id)
    result = module.keep_mask_shift(uri, quick_store["data"], profile="quick", seed=0)
    loaded = workflow_data.load(profiles.resolve("quick"), quick_store["data"])
    assert (result["images"], result["data_fingerprint"]) == (len(loaded.split.x_test), loaded.fingerprint)
    assert result["eps"] == profiles.attack_params(profiles.resolve("quick"), "fgsm")["eps"]
    iou = result["iou"]
    assert set(iou) == set(heatmaps.METHODS)
    trained_on = {record.heatmap for record in defense.variants().values() if record.heatmap} - {"random"}
    assert all(("fgsm on its model" in row) == (method in trained_on) for method, row in iou.items())
    assert list(result["missing"]) == ["random"] and "random model of seed 0" in result["missing"]["random"]
    assert all(row["recomputed"]["mean"] == 1.0 for row in iou.values())  # deterministic heatmaps
    share = blur.kept_pixel_count(result["keep_fraction"], 32, 32) / (32 * 32)
    independent = share**2 / (2 * share - share**2)
    assert all(abs(value["mean"] - independent) < 0.02 for moved, value in iou["random"].items()
               if moved != "recomputed")  # a moved image: a new random mask
    assert all(0.0 < value["mean"] < 1.0 for method in ("gradient", "lrp_eps") for moved, value in
               iou[method].items() if moved != "recomputed")  # the quick budget (8/255) moves these masks
    with pytest.raises(SystemExit, match="none model of seed 7"):
        module.keep_mask_shift(quick_store["uri"], quick_store["data"], profile="quick", seed=7)
