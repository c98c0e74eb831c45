"""A new heatmap method or attack is one builder plus one registry record: it then appears everywhere.

The test registers a throw-away heatmap method and a throw-away attack (and a
throw-away profile: profiles are a registry too), runs a small grid and the
report in-process, and finds them in the settings, the step keys, the tables,
the figures and the report, with nothing else changed.
"""

import mlflow
import pandas as pd
import pytest
import tensorflow as tf

import attacks
import defense
import heatmaps
import results
from tests.conftest import fresh_store
from workflow import entry_run, profiles, reproduce, tracking

TINY_PROFILE = {**profiles.PROFILES["quick"], "images_per_class": 12, "train_per_class": 8, "epochs": 1,
                "attacks": "bim", "adaptive_attacks": "none", "curve_eps": ""}


def _brightness(model):
    """Heatmap = the image itself: the brightest 15% of pixels are kept."""
    return lambda images, targets: tf.identity(images)


def _bim(estimator, batch_size, eps, eps_step, max_iter):
    from art.attacks.evasion import BasicIterativeMethod

    return BasicIterativeMethod(estimator, eps=eps, eps_step=eps_step, max_iter=max_iter, batch_size=batch_size,
                                verbose=False)


@pytest.fixture
def throw_away_records(monkeypatch):
    method = heatmaps.Method("brightness", _brightness, {}, "the image itself", label="Brightness",
                             colour="#8c564b")
    attack = attacks.Attack("bim", _bim, {"eps": 0.03, "eps_step": 0.01, "max_iter": 2}, label="BIM",
                            description="Basic Iterative Method", profile_keys={"eps": "bim_eps"})
    monkeypatch.setitem(heatmaps.METHODS, method.name, method)
    monkeypatch.setitem(attacks.ATTACKS, attack.name, attack)
    monkeypatch.setitem(profiles.PROFILES, "tiny", TINY_PROFILE)
    return method, attack


def test_records_reach_settings_test_sets_and_labels(throw_away_records):
    assert "brightness" in defense.test_sets() and "brightness" in defense.variants()
    assert defense.test_set("brightness").colour == "#8c564b"
    settings = profiles.resolve("tiny", {"bim_eps": "0.02"})
    assert settings["profile"] == "tiny+custom" and profiles.attack_params(settings, "bim")["eps"] == 0.02
    with pytest.raises(ValueError, match="Received: eps='-1'"):
        profiles.resolve("tiny", {"bim_eps": "-1"})
    assert results.column_labels()["brightness"] == "Brightness" and results.row_label("bim", "after") == "BIM_A"


def test_registering_a_name_twice_is_refused(throw_away_records):
    method, attack = throw_away_records
    with pytest.raises(ValueError, match="Received: method='brightness'"):
        heatmaps.register(method)
    with pytest.raises(ValueError, match="Received: attack='bim'"):
        attacks.register(attack)


def test_a_throw_away_method_and_attack_run_through_the_grid_and_the_report(throw_away_records, tmp_path,
                                                                             data_root):
    import report

    tracking.configure(fresh_store(tmp_path))
    chosen = ("none", "lrp_eps", "brightness")  # the new one among registered ones (fewer models: faster)
    settings = profiles.resolve("tiny", {"variants": ",".join(chosen)})
    with entry_run("reproduce", settings, data=str(data_root)):
        grid = reproduce(settings, str(data_root), aliases=("tiny",))
    assert set(grid["train_runs"]) == set(chosen)
    assert all(f"accuracy/{t}/none" in grid["cells"]["none"] for t in defense.test_sets())  # every test set
    assert "accuracy/brightness/bim/after" in grid["cells"]["brightness"]
    client = mlflow.MlflowClient()
    trained = client.get_run(grid["train_runs"]["brightness"])
    assert trained.data.tags["variant"] == "brightness" and trained.data.params["sigma"] == str(TINY_PROFILE["sigma"])
    evaluated = client.get_run(grid["evaluate_runs"]["none"])
    assert evaluated.data.params["bim.eps"] == "0.03"  # the attack's parameters are in the evaluate key

    written = report.report("tiny", output=str(tmp_path / "reports"), data=str(data_root))
    folder = tmp_path / "reports" / "tiny"
    text = (folder / "report.md").read_text()
    assert "Model trained on Brightness images (beyond the thesis)" in text
    assert "Table 4.4: model trained on LRP-eps images" in text
    table = pd.read_csv(folder / "tables" / "brightness.csv", index_col=0)
    assert list(table.columns) == list(results.column_labels().values()) and "Brightness" in table.columns
    assert list(table.index) == ["Brightness", "BIM", "BIM_A"]
    percent = pd.read_csv(folder / "tables" / "brightness_percent.csv", index_col=0)
    logged = client.get_run(grid["evaluate_runs"]["brightness"]).data.metrics
    assert percent.loc["BIM", "Brightness"] == pytest.approx(100 * logged["accuracy/brightness/bim/before"])
    assert percent.loc["BIM_A", "Original"] == pytest.approx(100 * logged["accuracy/original/bim/after"])
    for name in ("bim_before.png", "bim_after.png", "heatmap_gallery.png"):
        assert (folder / "figures" / name).stat().st_size > 10_000, name
    assert written["variants"] == sorted(chosen)
