"""Results: tables from logged metrics, missing cells stay missing, the notebook runs headless."""

import json
import math
import sqlite3
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

import defense
import evaluation
import results
from results.stage_times import COLUMNS as STAGE_COLUMNS, chosen_step_runs, with_nested
from results.thesis import thesis_table
from tests.conftest import REPO, fresh_store, run_command


def _cells(rows):
    frame = pd.DataFrame(rows, columns=["variant", "seed", "run_id", "test_set", "attack", "order", "accuracy",
                                        "correct", "n", "ci95_low", "ci95_high"])
    return frame


def _row(variant, test_set, attack, order, correct, n=100, seed=0):
    low, high = evaluation.wilson_interval(correct, n)
    return [variant, seed, f"run{seed}", test_set, attack, order, correct / n, correct, n, low, high]


T2, T3, Z = 12.706204736174703, 4.302652729911275, 1.959963984540054  # t(0.975, 1), t(0.975, 2), z(0.975)


def _seeds_and_images(accuracies_pp, n, t):
    """The interval over seeds written out (pp): on each side, the seeds' t half-width and that side of the
    Wilson interval of the mean on one seed's n images, added in quadrature."""
    mean, k = np.mean(accuracies_pp), len(accuracies_pp)
    seeds = t * np.std(accuracies_pp, ddof=1) / math.sqrt(k)
    p = mean / 100
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    spread = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    low, high = 100 * (centre - spread), 100 * (centre + spread)
    return max(mean - math.hypot(seeds, mean - low), 0.0), min(mean + math.hypot(seeds, high - mean), 100.0)


def test_incomplete_grid_shows_missing_cells_as_missing_never_zero():
    cells = _cells([_row("none", "original", "none", "none", 81), _row("none", "blur", "fgsm", "before", 0)])
    text = results.model_table(cells, "none")
    numbers = results.model_table(cells, "none", numeric=True)
    assert list(text.index) == ["Original", "FGSM"]
    assert text.loc["Original", "Original"].startswith("81.0 [")
    assert text.loc["FGSM", "Blur"].startswith("0.0 [")  # a measured zero is shown as zero
    assert text.loc["Original", "Blur"] == "—" and math.isnan(numbers.loc["Original", "Blur"])
    assert text.loc["FGSM", "Original"] == "—" and math.isnan(numbers.loc["FGSM", "LRP-eps"])


def test_an_attack_row_never_takes_the_label_of_a_model_clean_row(tmp_path):
    cells = _cells([_row("pgd", "original", "none", "none", 78), _row("pgd", "original", "pgd", "before", 20)])
    table = results.model_table(cells, "pgd", numeric=True)
    assert list(table.index) == ["PGD", "PGD attack"] and table.loc["PGD attack", "Original"] == 20.0
    thesis_file = tmp_path / "thesis.csv"
    thesis_file.write_text("model,row,column,accuracy,source\nPGD,PGD,Original,80.0,T\n")
    compared = results.compared_cells(cells, results.load_thesis(thesis_file))
    assert compared[["row", "thesis"]].values.tolist() == [["PGD", 80.0]]  # the thesis' clean value, once


def test_cells_curves_and_outcomes_read_the_same_newest_run_per_model_and_seed():
    from types import SimpleNamespace

    def run(run_id, variant, seed, explainer="e", model=None):
        return SimpleNamespace(info=SimpleNamespace(run_id=run_id), data=SimpleNamespace(
            tags={"variant": variant}, params={"seed": str(seed), "explainer_run_id": explainer,
                                               "model_run_id": model or (explainer if variant == "none" else "m")}))

    newest_first = [run("new-none-0", "none", 0), run("none-1", "none", 1), run("old-none-0", "none", 0),
                    run("pgd-0", "pgd", 0), run("older-none-0", "none", 0)]
    kept = results.newest_evaluate_runs(newest_first)
    assert [r.info.run_id for r in kept] == ["new-none-0", "none-1", "pgd-0"]
    assert results.newest_evaluate_runs([]) == []
    # seed 1 started again on a new explainer: its models on the old one leave until evaluated on the new one
    newest_first = [run("none-1-new", "none", 1, "e2"), run("pgd-0", "pgd", 0), run("pgd-1-old", "pgd", 1, "e1"),
                    run("none-1-old", "none", 1, "e1"), run("none-0", "none", 0)]
    kept = results.newest_evaluate_runs(newest_first)
    assert [r.info.run_id for r in kept] == ["none-1-new", "pgd-0", "none-0"]
    # a model evaluated on another explainer (evaluate.py --explainer ...) stays out of a seed that has its
    # explainer's run, and replaces nothing; an Original model evaluated on another explainer is not one
    newest_first = [run("pgd-1-other", "pgd", 1, "x"), run("none-1-other", "none", 1, "x", model="e"),
                    run("lrp-1", "lrp_eps", 1), run("pgd-1", "pgd", 1), run("none-1", "none", 1)]
    kept = results.newest_evaluate_runs(newest_first)
    assert [r.info.run_id for r in kept] == ["lrp-1", "pgd-1", "none-1"]
    kept = results.newest_evaluate_runs([run("pgd-2-other", "pgd", 2, "x"), run("lrp-2", "lrp_eps", 2)])
    assert [r.info.run_id for r in kept] == ["pgd-2-other", "lrp-2"]  # no explainer run: every newest run
    other_profile = run("none-3-quick", "none", 3, "q")  # another profile's seed 3 is not this one's explainer
    other_profile.data.tags["profile"] = "quick"
    kept = results.newest_evaluate_runs([other_profile, run("lrp-3", "lrp_eps", 3)])
    assert [r.info.run_id for r in kept] == ["none-3-quick", "lrp-3"]


def test_outcomes_are_paired_across_seeds_only_on_the_same_test_images():
    from types import SimpleNamespace

    def run(variant, seed, **params):
        return SimpleNamespace(data=SimpleNamespace(tags={"variant": variant}, params={"seed": str(seed), **params}))

    same = [run("none", 0, data_seed="0", data_fingerprint="f"), run("none", 1, data_seed="0", data_fingerprint="f"),
            run("pgd", 2)]  # a run from before these parameters were logged agrees with any value
    results.check_same_test_images(same)
    with pytest.raises(ValueError, match=r"data_seed differs.*Received: data_seed=\{'0': \[\('none', 0\)\], "
                                         r"'3': \[\('none', 1\), \('pgd', 1\)\]\}"):
        results.check_same_test_images([run("none", 0, data_seed="0"), run("none", 1, data_seed="3"),
                                        run("pgd", 1, data_seed="3")])
    with pytest.raises(ValueError, match="images_per_class differs"):
        results.check_same_test_images([run("none", 0, images_per_class="500"), run("none", 1, images_per_class="50")])


def test_the_unbounded_attacks_are_those_without_a_budget():
    cells = _cells([_row("none", "original", a, o, 50) for a, o in
                    (("none", "none"), ("fgsm", "before"), ("newtonfool", "before"), ("pgd", "adaptive"))])
    assert results.unbounded_attacks(cells) == ["newtonfool"]
    more = _cells([_row("none", "original", a, o, 50) for a, o in
                   (("hopskipjump", "after"), ("pgd_transfer", "after"), ("square", "adaptive"), ("newtonfool", "after"))])
    assert results.unbounded_attacks(more) == ["hopskipjump", "newtonfool"]  # pgd_transfer crafts with PGD's budget
    assert results.unbounded_attacks(cells[cells["attack"] != "newtonfool"]) == []


def test_several_seeds_give_mean_and_std_and_points_over_the_bars():
    cells = _cells([_row("pgd", "original", "none", "none", c, seed=s) for s, c in enumerate((70, 80, 90))]
                   + [_row("pgd", "original", "fgsm", "before", c, seed=s) for s, c in enumerate((20, 30, 40))])
    low, high = _seeds_and_images([70, 80, 90], 100, T3)  # the seeds' spread and the 100 images they share
    assert results.model_table(cells, "pgd").loc["PGD", "Original"] == f"80.0 ± 10.0 [{low:.1f}, {high:.1f}] (3 seeds)"
    summary = results.cell_summary(cells[cells["attack"] == "none"])
    # the images' share alone: the mean on one seed's 100 images, not a count pooled over 300
    assert (summary["images_low"], summary["images_high"]) == pytest.approx(evaluation.wilson_interval(80, 100))
    figure = results.bar_figure(cells, "fgsm", "before")
    points = [c for c in figure.axes[0].collections if len(c.get_offsets()) == 3]
    assert len(points) == 1 and sorted(points[0].get_offsets()[:, 1]) == [20.0, 30.0, 40.0]


def test_seeds_that_agree_exactly_still_leave_the_test_images_noise():
    """Two seeds at 79.3% on the same 300 images: no training spread, but the images are a sample."""
    from results.shared_images import cell_interval, images_interval
    cells = _cells([_row("none", "original", "none", "none", 238, n=300, seed=s) for s in (0, 1)])
    summary = results.cell_summary(cells)
    assert summary["std"] == 0.0  # the interval is then the Wilson interval of the 300 images, not [79.3, 79.3]
    assert (summary["low"], summary["high"]) == pytest.approx(evaluation.wilson_interval(238, 300))
    assert cell_interval([0.0, 0.0], 300)[1] == pytest.approx(evaluation.wilson_interval(0, 300)[1])  # not [0, 0]
    rng = np.random.default_rng(4)
    for _ in range(200):  # the images' share always lies inside the whole interval
        accuracies = list(rng.uniform(0, 1) + rng.normal(0, 0.03, int(rng.integers(2, 5))).clip(-0.2, 0.2))
        accuracies = [min(max(a, 0.0), 1.0) for a in accuracies]
        low, high = cell_interval(accuracies, 300)
        images_low, images_high = images_interval(float(np.mean(accuracies)), 300)
        assert low <= images_low + 1e-12 and images_high <= high + 1e-12
    with pytest.raises(ValueError, match=r"Received: accuracies=\[0.5\]"):
        cell_interval([0.5], 300)


def test_a_seed_without_an_accuracy_is_not_counted_as_a_seed_of_the_cell():
    rows = [_row("pgd", "original", "none", "none", 70, seed=0), _row("pgd", "original", "none", "none", 80, seed=1)]
    rows[1][6:] = [float("nan")] * 5  # seed 1's row without its numbers
    summary = results.cell_summary(_cells(rows))
    low, high = evaluation.wilson_interval(70, 100)
    assert (summary["seeds"], summary["mean"], summary["low"], summary["high"]) == (1, 0.7, low, high)


def test_difference_to_thesis_only_where_both_exist(tmp_path):
    thesis_file = tmp_path / "thesis.csv"
    thesis_file.write_text("model,row,column,accuracy,source\nOriginal,Original,Original,90.0,Table 4.1\n"
                           "Original,Original,Blur,,Table 4.1\n")
    cells = _cells([_row("none", "original", "none", "none", 81), _row("none", "blur", "none", "none", 50)])
    ours = results.model_table(cells, "none", numeric=True)
    difference = results.thesis_difference(ours, thesis_table(results.load_thesis(thesis_file), "Original", ours))
    assert difference.loc["Original", "Original"] == pytest.approx(-9.0)
    assert math.isnan(difference.loc["Original", "Blur"])  # thesis value not transcribed
    assert math.isnan(difference.loc["Original", "PGD"])  # not measured by us


def test_shipped_thesis_file_covers_every_table_cell():
    thesis = results.load_thesis()
    assert len(thesis) == 5 * 5 * 6 and thesis["accuracy"].notna().all()
    # the thesis' five models and six columns; ours add the controls beyond the thesis
    assert set(thesis["model"]) == {t.label for t in defense.variants().values() if t.thesis_table}
    assert set(thesis["column"]) == {t.label for t in defense.test_sets().values() if not t.control}
    assert thesis["source"].str.startswith("Thesis Table 4.").all()
    cell = thesis.set_index(["model", "row", "column"])["accuracy"]
    # as printed in the thesis: Table 4.1's corner, its NewtonFool row, and Table 4.4's inconsistent pair
    assert cell["Original", "Original", "Original"] == 89.67 and cell["Original", "FGSM", "Original"] == 82.00
    assert cell["Original", "NewtonFool", "Original"] == 27.33
    assert (cell["LRP-eps", "NewtonFool", "Original"], cell["LRP-eps", "NewtonFool_A", "Original"]) == (36.0, 37.0)


def test_shipped_thesis_file_equals_the_checked_transcription():
    shared = REPO.parent / "shared" / "thesis" / "tables.csv"
    if not shared.is_file():
        pytest.skip(f"{shared} not here")
    expected = pd.read_csv(shared)
    pd.testing.assert_frame_equal(results.load_thesis().reset_index(drop=True), expected, check_dtype=False)


def test_fidelity_summary_on_known_differences(tmp_path):
    thesis_file = tmp_path / "thesis.csv"
    thesis_file.write_text("model,row,column,accuracy,source\n"
                           "Original,Original,Original,90.0,T\nOriginal,Original,Blur,60.0,T\n"
                           "Original,FGSM,Original,80.0,T\nOriginal,FGSM,Blur,,T\nPGD,PGD,Original,70.0,T\n")
    cells = _cells([_row("none", "original", "none", "none", 85),  # -5, inside its Wilson interval
                    _row("none", "blur", "none", "none", 40),  # -20, outside
                    _row("none", "original", "fgsm", "before", 83),  # +3, inside
                    _row("none", "blur", "fgsm", "before", 10),  # thesis missing: not compared
                    *[_row("pgd", "original", "none", "none", c, seed=s) for s, c in enumerate((60, 70, 80))]])
    compared = results.compared_cells(cells, results.load_thesis(thesis_file))
    assert len(compared) == 4
    summary = results.fidelity_summary(compared).set_index("row_kind")
    assert list(summary.index) == ["clean", "FGSM", "all"]
    assert summary.loc["clean", "cells"] == 3
    assert summary.loc["clean", "mean_difference"] == pytest.approx((-5 - 20 + 0) / 3)
    assert summary.loc["clean", "mean_abs_difference"] == pytest.approx(25 / 3)
    # 90 lies in 85's Wilson interval, 60 not in 40's, 70 in the interval of (60, 70, 80)
    assert summary.loc["clean", "thesis_inside"] == 2
    assert summary.loc["FGSM", "mean_difference"] == pytest.approx(3.0) and summary.loc["FGSM", "thesis_inside"] == 1
    assert summary.loc["all", "cells"] == 4 and summary.loc["all", "thesis_inside"] == 3
    pgd = compared[compared["model"] == "PGD"].iloc[0]
    low, high = _seeds_and_images([60, 70, 80], 100, T3)
    assert (pgd["low"], pgd["high"]) == (pytest.approx(low), pytest.approx(high))
    images = evaluation.wilson_interval(70, 100)  # the three seeds share their 100 test images: each once
    assert pgd["seeds"] == 3 and (pgd["images_low"], pgd["images_high"]) == (pytest.approx(100 * images[0]),
                                                                           pytest.approx(100 * images[1]))
    assert (summary.loc["clean", "seeds_min"], summary.loc["clean", "seeds_max"]) == (1, 3)
    assert (summary.loc["FGSM", "seeds_min"], summary.loc["FGSM", "seeds_max"]) == (1, 1)
    widths = [100 * (h - l) for l, h in (evaluation.wilson_interval(85, 100), evaluation.wilson_interval(40, 100))]
    assert summary.loc["clean", "mean_interval_width"] == pytest.approx((sum(widths) + high - low) / 3)
    # the images' share of the PGD cell's interval (70 +/- ~9) still holds 70; one seed's is its Wilson one
    assert summary.loc["clean", "thesis_inside_images"] == 2 and summary.loc["all", "thesis_inside_images"] == 3
    assert summary.loc["clean", "intervals"] == 3 and summary.loc["clean", "share_inside"] == pytest.approx(2 / 3)
    # the thesis' FGSM value scaled by our clean accuracy over theirs (85 / 90): the gap the clean one leaves
    fgsm = compared[compared["row"] == "FGSM"].iloc[0]
    assert fgsm["thesis_scaled"] == pytest.approx(80 * 85 / 90)
    assert summary.loc["FGSM", "mean_abs_difference_scaled"] == pytest.approx(abs(83 - 80 * 85 / 90))
    assert math.isnan(summary.loc["clean", "mean_abs_difference_scaled"])
    assert summary.loc["all", "mean_abs_difference_scaled"] == pytest.approx(abs(83 - 80 * 85 / 90))
    assert summary.loc["all", "mean_abs_difference_unscaled"] == pytest.approx(3.0)  # FGSM's, the one scaled
    from matplotlib.collections import LineCollection, PathCollection

    figure = results.fidelity_figure(compared)
    drawn = figure.axes[0].collections
    assert len([c for c in drawn if isinstance(c, PathCollection)]) == 2  # one scatter per row kind
    bars = sorted((round(float(segment[0][1]), 6), round(float(segment[1][1]), 6))
                  for c in drawn if isinstance(c, LineCollection) for segment in c.get_segments())
    assert bars == sorted((round(low, 6), round(high, 6)) for low, high in zip(compared["low"], compared["high"]))


def test_notebook_rebuilds_tables_equal_to_logged_metrics(quick_store, tmp_path):
    import papermill  # in the test extra: a missing install fails here rather than skipping the test
    output = tmp_path / "notebook"
    papermill.execute_notebook(str(REPO / "notebooks" / "results.ipynb"), str(tmp_path / "executed.ipynb"),
                               parameters={"tracking_uri": quick_store["uri"], "profile": "quick",
                                           "output_dir": str(output), "seeds": "0"},
                               cwd=str(REPO / "notebooks"), progress_bar=False, kernel_name="python3")
    tables = json.loads((output / "tables.json").read_text())
    client = mlflow.MlflowClient(quick_store["uri"])
    cells = results.collect(quick_store["uri"], profile="quick")
    newest = cells.groupby("variant")["run_id"].first()
    assert sorted(tables) == sorted(newest.index) == sorted(results.model_labels())
    labels = {v: k for k, v in results.column_labels().items()}
    checked = 0
    for variant, run_id in newest.items():
        metrics = client.get_run(run_id).data.metrics
        rows = {label: (attack, order) for label, attack, order in results.row_labels(cells, variant)}
        grid = [name for name in metrics if evaluation.parse_metric(name)]
        shown = 0
        for column, values in tables[variant].items():
            for row, value in values.items():
                attack, order = rows[row]
                metric = evaluation.metric_name(labels[column], attack, "" if attack == "none" else order)
                if value is None or math.isnan(value):  # not measured (Square: two test sets): missing, not zero
                    assert metric not in metrics
                    continue
                assert value == pytest.approx(100 * metrics[metric])
                shown += 1
        assert shown == len(grid)  # every logged cell is in the table
        checked += shown
    assert checked >= 5 * 6 * 8  # clean, FGSM x3, NewtonFool x2, PGD adaptive, PGD transfer on every test set
    figures = sorted(p.name for p in (output / "figures").glob("*.png"))
    bars = [f"{a}_{o}.png" for a in ("fgsm", "newtonfool") for o in ("before", "after")]
    bars += ["fgsm_adaptive.png", "pgd_adaptive.png", "pgd_transfer_after.png", "square_adaptive.png"]
    assert figures == sorted(["fidelity.png", "findings.png", *bars,
                              *(f"curve_{v}.png" for v in results.model_labels())])
    import findings  # the notebook writes the report's findings files, with the same verdicts
    _, claims = findings.evaluate_claims(results.collect_outcomes(quick_store["uri"], profile="quick"))
    assert pd.read_csv(output / "findings_claims.csv")["verdict"].tolist() == claims["verdict"].tolist()
    assert "](figures/findings.png)" in (output / "findings.md").read_text()
    assert all((output / "figures" / f).stat().st_size > 10_000 for f in figures)
    fidelity = pd.read_csv(output / "fidelity.csv").set_index("row_kind")
    assert fidelity.loc["all", "cells"] == 150  # every thesis cell has a counterpart in the quick grid
    assert list(fidelity.index) == ["clean", "FGSM", "FGSM_A", "NewtonFool", "NewtonFool_A", "all"]
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    shown = {}
    for cell in executed["cells"]:
        for figure_call in ("fidelity_figure", "curve_figure", "forest_figure"):
            if figure_call in "".join(cell["source"]) and cell["cell_type"] == "code":
                shown[figure_call] = sum("image/png" in out.get("data", {}) for out in cell["outputs"])
    # figures show as images in the notebook, not as "<Figure size ...>"
    assert shown == {"fidelity_figure": 1, "curve_figure": len(results.model_labels()), "forest_figure": 1}
    summary = [out["data"]["text/markdown"] for cell in executed["cells"] if cell["cell_type"] == "code"
               and "summary_lines" in "".join(cell["source"]) for out in cell["outputs"] if "data" in out]
    assert len(summary) == 1 and "## Summary" in "".join(summary[0]) and "| Original |" in "".join(summary[0])


def test_report_entry_point_writes_and_logs_everything(quick_store, tmp_path):
    result = run_command([sys.executable, REPO / "report.py", "--profile", "quick", "--output", tmp_path,
                          "--data", quick_store["data"], "--seeds", "0"], cwd=tmp_path,
                         env={"MLFLOW_TRACKING_URI": quick_store["uri"]})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert mlflow.MlflowClient(quick_store["uri"]).get_run(summary["run_id"]).data.params["seeds"] == "0"
    folder = tmp_path / "quick"
    for variant in ("none", "lrp_eps"):
        for suffix in (".md", ".csv", ".tex", "_percent.csv", "_minus_thesis.csv"):
            assert (folder / "tables" / f"{variant}{suffix}").stat().st_size > 0
    assert not (folder / "tables" / "random_minus_thesis.csv").exists()  # a control: no thesis table
    client = mlflow.MlflowClient(quick_store["uri"])
    logged = client.search_runs([client.get_experiment_by_name("pixel-importance").experiment_id],
                                "tags.step = 'evaluate' and tags.variant = 'none' and tags.profile = 'quick' and "
                                "params.seed = '0' and attributes.status = 'FINISHED'",
                                order_by=["attributes.start_time DESC"])[0].data.metrics
    percent = pd.read_csv(folder / "tables" / "none_percent.csv", index_col=0)
    minus = pd.read_csv(folder / "tables" / "none_minus_thesis.csv", index_col=0)
    assert percent.loc["Original", "Original"] == pytest.approx(100 * logged["accuracy/original/none"])
    assert percent.loc["FGSM", "LRP-eps"] == pytest.approx(100 * logged["accuracy/lrp_eps/fgsm/before"])
    assert percent.loc["NewtonFool_A", "Blur"] == pytest.approx(100 * logged["accuracy/blur/newtonfool/after"])
    assert minus.loc["Original", "Original"] == pytest.approx(percent.loc["Original", "Original"] - 89.67)
    assert minus.loc["FGSM", "Original"] == pytest.approx(percent.loc["FGSM", "Original"] - 82.00)
    report = (folder / "report.md").read_text()
    control = report[report.index("## Model trained on Random (control)"):]
    assert "Thesis:" not in control.split("\n## ")[0]
    assert (folder / "figures" / "heatmap_gallery.png").exists()
    assert "\\begin{tabular}" in (folder / "tables" / "pgd.tex").read_text()
    assert "\\caption{Model trained on PGD images (the thesis' Table 4.5)}" in (folder / "tables" / "pgd.tex").read_text()
    report = (folder / "report.md").read_text()
    assert "## Gradient-masking checks" in report and "## Robustness curves" in report
    assert "## Perturbation sizes of the unbounded attacks" in report and "L2" in report
    assert "## Wall time per stage" in report and "| newtonfool before |" in report
    assert (folder / "masking_flags.csv").exists() and (folder / "curves.csv").stat().st_size > 0
    assert all((folder / "figures" / f"curve_{v}.png").exists() for v in results.model_labels())
    artifacts = mlflow.MlflowClient(quick_store["uri"]).list_artifacts(summary["run_id"], "report/tables")
    # five files per thesis model table, four per control (no minus-thesis table)
    expected = sum(5 if defense.variant(v).thesis_table else 4 for v in results.model_labels())
    assert len(artifacts) == expected and expected == 5 * 5 + 2 * 4


def test_a_store_snapshot_gives_the_report_what_the_store_gives(quick_store, tmp_path):
    """Saved without its models, heatmaps and adversarial images, restored elsewhere: the same cells, outcomes,
    curves and stage times; the report runs on it (without the heatmap gallery, whose heatmaps are left out)."""
    from workflow import store_snapshot

    saved = store_snapshot.save(quick_store["uri"], tmp_path / "snap", max_file_bytes=100_000)  # outcomes: < 25 kB
    assert saved["runs_pruned"] and saved["bytes_left_out"] > 10 * saved["bytes_kept"]
    uri = store_snapshot.restore(tmp_path / "snap", tmp_path / "store")["tracking_uri"]
    experiment = "pixel-importance"
    root = (tmp_path / "store" / "mlruns").resolve().as_uri()
    with sqlite3.connect(tmp_path / "store" / "mlflow.db") as db:  # the models: relocated, their runs pruned
        models = db.execute("select artifact_location, source_run_id from logged_models").fetchall()
        stored = [row[0] for row in db.execute("select storage_location from model_versions")]
        aliases = db.execute("select count(*) from registered_model_aliases").fetchone()[0]
    assert models and all(location.startswith(root) for location, _ in models)
    assert stored and all(location.startswith(root) for location in stored)
    assert {run_id for _, run_id in models} <= set(saved["runs_pruned"]) and aliases == 0
    pd.testing.assert_frame_equal(results.collect(uri, experiment, profile="quick"),
                                  results.collect(quick_store["uri"], experiment, profile="quick"))
    pd.testing.assert_frame_equal(results.collect_curves(uri, experiment, profile="quick"),
                                  results.collect_curves(quick_store["uri"], experiment, profile="quick"))
    pd.testing.assert_frame_equal(results.stage_times(results.collect_stage_runs(uri, experiment, "quick")),
                                  results.stage_times(results.collect_stage_runs(quick_store["uri"], experiment,
                                                                                 "quick")))
    ours, theirs = (results.collect_outcomes(u, experiment, profile="quick") for u in (uri, quick_store["uri"]))
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].keys() == theirs[key].keys()
        for name in ours[key]:
            np.testing.assert_array_equal(ours[key][name], theirs[key][name])
    result = run_command([sys.executable, REPO / "report.py", "--profile", "quick", "--output", tmp_path / "out",
                          "--data", quick_store["data"]], cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no heatmap gallery" in result.stderr
    assert not (tmp_path / "out" / "quick" / "figures" / "heatmap_gallery.png").exists()
    assert (tmp_path / "out" / "quick" / "findings.md").stat().st_size > 0


def test_report_of_chosen_seeds(quick_store, tmp_path):
    frame = pd.DataFrame({"seed": [0, 1, 2, 1], "value": [1, 2, 3, 4]})
    assert list(results.of_seeds(frame, (1,))["value"]) == [2, 4]
    assert list(results.of_seeds(frame, (0, 2))["value"]) == [1, 3] and results.of_seeds(frame, ()) is frame
    every = results.collect_outcomes(quick_store["uri"], profile="quick")
    assert {seed for _, seed in every} == {0} and results.collect_outcomes(quick_store["uri"], profile="quick",
                                                                           seeds=(1,)) == {}
    assert results.collect_outcomes(quick_store["uri"], profile="quick", seeds=(0,)).keys() == every.keys()
    result = run_command([sys.executable, REPO / "report.py", "--profile", "quick", "--output", tmp_path,
                          "--seeds", "1"], cwd=tmp_path, env={"MLFLOW_TRACKING_URI": quick_store["uri"]})
    assert result.returncode == 2  # the quick store has seed 0 only
    assert "No finished evaluate runs for this profile and seeds" in result.stderr and "seeds='1'" in result.stderr
    result = run_command([sys.executable, REPO / "report.py", "--profile", "quick", "--output", tmp_path,
                          "--seeds", "two"], cwd=tmp_path, env={"MLFLOW_TRACKING_URI": quick_store["uri"]})
    assert result.returncode == 2 and "seeds='two'" in result.stderr


def test_report_on_an_empty_store_fails_clearly(tmp_path):
    result = run_command([sys.executable, REPO / "report.py", "--profile", "quick", "--output", tmp_path],
                         cwd=tmp_path, env={"MLFLOW_TRACKING_URI": fresh_store(tmp_path, "empty.db")})
    assert result.returncode == 2
    assert "No finished evaluate runs" in result.stderr and "profile='quick'" in result.stderr


def test_stage_times_count_nested_steps_once():
    runs = pd.DataFrame(
        [("t0", "entry", 0, "train", 40.0), ("h0", "t0", 0, "heatmaps", 5.0),  # heatmaps ran inside train
         ("e0", "entry", 0, "evaluate", 100.0), ("a0", "e0", 0, "fgsm before", 30.0),
         ("a1", "e0", 0, "fgsm before", 20.0), ("c0", "e0", 0, "curves", 15.0),
         ("t1", "entry", 1, "train", 50.0), ("a2", "gone", 1, "fgsm before", 7.0)],  # parent not finished
        columns=list(STAGE_COLUMNS))
    times = results.stage_times(runs).set_index(["seed", "stage"])
    assert times.loc[(0, "train"), "seconds"] == 35.0 and times.loc[(0, "heatmaps"), "seconds"] == 5.0
    assert times.loc[(0, "evaluate"), "seconds"] == 35.0  # 100 - 30 - 20 - 15
    assert times.loc[(0, "fgsm before"), ["runs", "seconds"]].tolist() == [2, 50.0]
    assert times.loc[(1, "fgsm before"), "seconds"] == 7.0
    assert times.loc[0, "seconds"].sum() == 140.0  # the seed's wall time: outer runs' seconds
    assert list(times.loc[0].index) == ["train", "heatmaps", "fgsm before", "curves", "evaluate"]  # order of work
    table = results.stage_table(results.stage_times(runs))
    assert table.loc["total", "seed 0"] == f"{140 / 60:.1f}" and table.loc["heatmaps", "seed 1"] == "—"
    with pytest.warns(UserWarning, match="Received: run_id='t0'"):  # a run without its own seconds counts 0
        broken = results.stage_times(runs.assign(seconds=runs["seconds"].where(runs["run_id"] != "t0", 0.0)))
    assert broken.set_index(["seed", "stage"]).loc[(0, "train"), "seconds"] == 0.0
    assert results.stage_times(runs.iloc[:0]).empty
    from results.stage_times import stage_of, stage_order
    assert stage_of("attack", "attack-square-before-original", "square", "before", "original") == "square on original"
    assert stage_of("attack", "attack-fgsm-before-gradient", "fgsm", "before", "gradient") == "fgsm before"
    assert stage_of("attack", "attack-pgd-adaptive-gradient-eps16", "pgd", "adaptive", "gradient") == "curves"
    assert stage_order().index("square on original") < stage_order().index("square adaptive")


def test_the_thesis_stages_are_those_its_table_rows_need():
    from results.stage_times import THESIS_ROW, thesis_stages
    rows = set(results.load_thesis()["row"])
    stages = thesis_stages(rows)
    # by hand from the thesis' rows FGSM, FGSM_A, NewtonFool, NewtonFool_A
    assert set(stages) == {"train", "heatmaps", "evaluate", "fgsm on original", "fgsm before", "fgsm after",
                           "newtonfool on original", "newtonfool before", "newtonfool after"}
    assert thesis_stages({"FGSM_A"}) == ["train", "heatmaps", "fgsm on original", "fgsm after", "evaluate"]
    runs = pd.DataFrame(
        [("t0", "entry", 0, "train", 60.0), ("e0", "entry", 0, "evaluate", 600.0),
         ("a0", "e0", 0, "newtonfool before", 120.0), ("a1", "e0", 0, "pgd adaptive", 240.0),
         ("a2", "e0", 0, "square adaptive", 60.0), ("c0", "e0", 0, "curves", 30.0)],
        columns=list(STAGE_COLUMNS))
    times = results.stage_times(runs)
    table = results.stage_table(times, rows)
    # thesis' stages: train 60 + newtonfool 120 + evaluate's own 600 - 450 = 330 s of 660
    assert list(table.index[-2:]) == ["total", THESIS_ROW]
    assert table.loc["total", "seed 0"] == "11.0" and table.loc[THESIS_ROW, "seed 0"] == "5.5"
    assert THESIS_ROW not in results.stage_table(times).index


def test_stage_runs_come_from_the_newest_finished_reproduction_of_each_seed():
    entries = [  # newest first
        {"seeds": "1,2", "variants": "none,gradient", "run_ids": ["s1-none", "s2-none", "s2-gradient"]},
        {"seeds": "0", "variants": "all", "run_ids": ["s0-none", "s0-gradient", "s0-random"]},
        {"seeds": "0", "variants": "all", "run_ids": ["old-recipe-s0"]},  # superseded by the newer seed-0 run
        {"seeds": "1", "variants": "all", "run_ids": ["s1-none", "s1-random"]},  # seed 1's controls, run earlier
        {"seeds": "1", "variants": "all", "run_ids": ["older-s1"]},  # seed 1 complete by now
    ]
    assert chosen_step_runs(entries) == {
        "s1-none": {1, 2}, "s2-none": {1, 2}, "s2-gradient": {1, 2}, "s0-none": {0}, "s0-gradient": {0},
        "s0-random": {0}, "s1-random": {1}}
    assert set(chosen_step_runs(entries[:1])) == {"s1-none", "s2-none", "s2-gradient"}
    assert chosen_step_runs([]) == {}  # nothing finished: the caller counts every step run of a seed
    # an older two-seed run counts only for the seed no newer run completed
    overlap = [{"seeds": "0", "variants": "all", "run_ids": ["new0"]},
               {"seeds": "0,1", "variants": "all", "run_ids": ["old0", "old1"]}]
    assert chosen_step_runs(overlap) == {"new0": {0}, "old0": {1}, "old1": {1}}
    # every variant named is as complete as "all"
    every = ",".join(defense.variants())
    spelled = [{"seeds": "0", "variants": every, "run_ids": ["new0"]},
               {"seeds": "0", "variants": "all", "run_ids": ["old0"]}]
    assert chosen_step_runs(spelled) == {"new0": {0}}


def test_thesis_scaled_is_missing_where_a_clean_value_is_missing_or_zero(tmp_path):
    thesis_file = tmp_path / "thesis.csv"
    thesis_file.write_text("model,row,column,accuracy,source\n"
                           "Original,Original,Original,0.0,T\nOriginal,FGSM,Original,10.0,T\n"
                           "Original,FGSM,Blur,20.0,T\n")  # no clean thesis value for Blur
    cells = _cells([_row("none", "original", "none", "none", 50), _row("none", "original", "fgsm", "before", 40),
                    _row("none", "blur", "none", "none", 45), _row("none", "blur", "fgsm", "before", 30)])
    compared = results.compared_cells(cells, results.load_thesis(thesis_file))
    assert len(compared) == 3 and compared["thesis_scaled"].isna().all()
    summary = results.fidelity_summary(compared).set_index("row_kind")
    assert math.isnan(summary.loc["FGSM", "mean_abs_difference_scaled"])
    assert math.isnan(summary.loc["FGSM", "mean_abs_difference_unscaled"])
    assert summary.loc["FGSM", "mean_abs_difference"] == pytest.approx((30 + 10) / 2)


def test_a_reused_step_brings_the_steps_nested_in_it_and_in_its_interrupted_attempts():
    runs = pd.DataFrame([  # run_id, parent, step key, status
        ("e1", "r1", "K-eval", "KILLED"), ("a1", "e1", "K-a1", "FINISHED"),  # first attempt: a1 finished, then killed
        ("a2x", "e1", "K-a2", "KILLED"),  # interrupted inside the first attempt
        ("e2", "r2", "K-eval", "FINISHED"), ("a2", "e2", "K-a2", "FINISHED"),  # second attempt reused a1, ran a2
        ("c1", "a2", "K-c1", "FINISHED"),  # nested one level deeper
        ("t0", "r1", "K-train", "FINISHED"), ("e9", "r0", "K-other", "FINISHED"), ("a9", "e9", "K-a9", "FINISHED"),
        ("x1", "r1", "", "FINISHED")], columns=["run_id", "parent_run_id", "step_key", "status"])
    # the newest reproduction reused e2 and t0 only (its steps.json)
    assert with_nested({"e2", "t0"}, runs) == {"e2", "t0", "a1", "a2", "c1"}
    assert with_nested({"e9"}, runs) == {"e9", "a9"}
    assert with_nested(set(), runs) == set()
    # another FINISHED run of the same key (two workers raced) is not an attempt: its nested runs stay out
    raced = pd.concat([runs, pd.DataFrame([("e3", "r3", "K-eval", "FINISHED"), ("a3", "e3", "K-a3", "FINISHED")],
                                          columns=runs.columns)])
    assert with_nested({"e2"}, raced) == {"e2", "a1", "a2", "c1"}


def test_stage_times_of_the_quick_store_add_up_to_the_reproduction(quick_store):
    client = mlflow.MlflowClient(quick_store["uri"])
    entry = client.search_runs([client.get_experiment_by_name("pixel-importance").experiment_id],
                               "tags.step = 'entry' and tags.entry_point = 'reproduce'",
                               order_by=["attributes.start_time ASC"])[0]  # the one that ran the steps
    wall = (entry.info.end_time - entry.info.start_time) / 1000.0
    runs = results.collect_stage_runs(quick_store["uri"], "pixel-importance", "quick")
    times = results.stage_times(runs)
    assert set(times["seed"]) == {0}
    assert {"train", "heatmaps", "overlap", "evaluate", "curves", "newtonfool before", "pgd adaptive"} <= set(
        times["stage"])
    assert times["runs"].sum() == len(runs)  # every finished step run counted once
    outermost = ~runs["parent_run_id"].isin(set(runs["run_id"]))  # nested in no other step run
    # own work adds up to the outermost step runs' seconds (nested work counted once), inside the entry's wall time
    assert times["seconds"].sum() == pytest.approx(runs.loc[outermost, "seconds"].astype(float).sum(), rel=1e-9)
    assert times["seconds"].sum() <= wall
    # every step run recorded the processor it ran on: this one
    from workflow.machine import machine_tags, processor_of
    assert set(runs["processor"]) == {processor_of(machine_tags())}
    processors = results.processor_table(runs)
    assert processors[["seed", "processor", "runs"]].values.tolist() == [[0, processor_of(machine_tags()), len(runs)]]
    assert processors["minutes"].iloc[0] == pytest.approx(times["seconds"].sum() / 60.0, abs=0.05)


def test_processor_table_counts_each_seeds_runs_per_processor_and_names_a_mixed_seed(tmp_path):
    from workflow.machine import UNRECORDED
    runs = pd.DataFrame(
        [("t0", "entry", 0, "train", 60.0, "A isa 1"), ("e0", "entry", 0, "evaluate", 120.0, "A isa 1"),
         ("a0", "e0", 0, "fgsm before", 90.0, "A isa 1"), ("t1", "entry", 1, "train", 30.0, UNRECORDED),
         ("e1", "entry", 1, "evaluate", 300.0, "A isa 1"), ("a1", "e1", 1, "fgsm before", 60.0, "B isa 2"),
         ("t2", "entry", 2, "train", 6.0, UNRECORDED), ("e2", "entry", 2, "evaluate", 6.0, "A isa 1")],
        columns=[*STAGE_COLUMNS, "processor"])
    table = results.processor_table(runs)
    rows = {(seed, processor): (count, minutes) for seed, processor, count, minutes in table.values.tolist()}
    assert rows == {(0, "A isa 1"): (3, 3.0),  # own work: 60 + (120 - 90) + 90 s
                    (1, "A isa 1"): (1, 4.0), (1, "B isa 2"): (1, 1.0), (1, UNRECORDED): (1, 0.5),
                    (2, "A isa 1"): (1, 0.1), (2, UNRECORDED): (1, 0.1)}
    assert results.mixed_seeds(table) == [1]  # seed 2's unrecorded run is no second processor
    lines = "\n".join(results.processor_lines(table))
    assert "**Seed 1 ran on more than one kind of processor**" in lines and "Seed 0 ran" not in lines
    assert "Seed 2 ran" not in lines
    written = results.write_report(_cells([_row("none", "original", "none", "none", 81)]), tmp_path,
                                   processors=table)
    assert tmp_path / "processors.csv" in written
    assert pd.read_csv(tmp_path / "processors.csv")["runs"].sum() == len(runs)
    assert "## Processors" in (tmp_path / "report.md").read_text()
    with pytest.raises(ValueError, match="needs a 'processor' column"):
        results.processor_table(runs.drop(columns="processor"))


def test_curve_figure_marks_the_measured_budgets_and_one_panel_per_test_set():
    budgets = (0.0, 0.3, 1.0, 16.0)
    curves = pd.DataFrame([{"variant": "lrp_eps", "seed": 0, "test_set": test_set, "attack": "pgd",
                            "order": "adaptive", "eps_255": eps, "correct": max(0, 30 - 2 * int(eps)), "n": 30,
                            "accuracy": max(0, 30 - 2 * int(eps)) / 30}
                           for test_set in ("original", "lrp_eps") for eps in budgets])
    figure = results.curve_figure(curves, "lrp_eps")
    assert len(figure.axes) == 2
    for panel in figure.axes:
        assert [float(t) for t in panel.get_xticks()] == list(budgets)
        assert [t.get_text() for t in panel.get_xticklabels()] == ["0", "0.3", "1", "16"]
        assert panel.get_xlim()[0] < 0 < 16 < panel.get_xlim()[1]  # no point on the frame
    assert "LRP-eps" in figure._suptitle.get_text() and "on 30 test images per seed" in figure._suptitle.get_text()


def test_bar_titles_say_how_the_attack_meets_the_blur_and_on_which_images():
    cells = _cells([_row("gradient", "gradient", "none", "none", 230, n=300),
                    _row("gradient", "gradient", "square", "adaptive", 25, n=60),
                    _row("gradient", "gradient", "pgd", "adaptive", 200, n=300)])
    square = results.bar_figure(cells, "square", "adaptive").axes[0].get_title()
    assert "queries the defended model (no gradients)" in square and "BPDA" not in square
    assert "light: clean on all 300 test images, dark: attacked, on 60 of them" in square
    pgd = results.bar_figure(cells, "pgd", "adaptive").axes[0].get_title()
    assert "BPDA" in pgd and pgd.endswith("(light: clean, dark: attacked)")


def test_report_says_which_models_each_seed_has_evaluated():
    cells = _cells([_row("none", "original", "none", "none", 81), _row("lrp_eps", "original", "none", "none", 70),
                    _row("none", "original", "none", "none", 79, seed=1)])
    lines = results.coverage_lines(cells)
    total = len(defense.variants())
    assert lines[2] == (f"- Seed 0: 2 of {total} models evaluated; "
                        "not evaluated: Blur, Gradient, In*Grad, PGD, Random (control).")
    assert lines[3].startswith(f"- Seed 1: 1 of {total} models evaluated; not evaluated: Blur, Gradient, In*Grad, LRP")
    assert lines[4].startswith("- Not every seed has every model: a cell's mean is over the seeds that measured")
    assert results.incomplete_seeds(cells) == [1] and results.incomplete_seeds(cells, (0, 1, 2)) == [1, 2]
    asked = results.coverage_lines(cells, (0, 1, 2))  # a seed asked for that evaluated nothing is named
    assert asked[4] == f"- Seed 2: 0 of {total} models evaluated; not evaluated: " + ", ".join(
        results.model_labels().values()) + "."
    everything = _cells([_row(v, "original", "none", "none", 50) for v in defense.variants()])
    assert results.coverage_lines(everything)[2] == f"- Seed 0: {total} of {total} models evaluated."
    assert results.incomplete_seeds(everything) == [] and len(results.coverage_lines(everything)) == 4


def test_report_says_which_attacks_ran_on_fewer_images():
    cells = _cells([_row("none", "original", "none", "none", 240, n=300),
                    _row("none", "original", "fgsm", "before", 200, n=300),
                    _row("none", "original", "square", "adaptive", 50, n=60)])
    lines = results.subset_lines(cells)
    assert len(lines) == 2 and lines[0].startswith("Square rows: 60 of the 300 test images per cell "
                                                   "(evenly spaced, `square_images`)")
    assert results.subset_lines(cells[cells["attack"] != "square"]) == []  # every attack on all
    assert results.subset_lines(cells[cells["attack"] != "none"]) == []  # no clean cell to compare


def test_overlap_table_is_the_mean_over_the_seeds_explainers():
    rows = [("input_x_gradient", "lrp_eps", 0.998, 0), ("gradient", "lrp_eps", 0.40, 0),
            ("input_x_gradient", "lrp_eps", 0.996, 1), ("gradient", "lrp_eps", 0.50, 1)]
    overlap = pd.DataFrame([{"method_a": a, "method_b": b, "mean_iou": iou, "min_iou": iou - 0.1, "images": 300,
                             "seed": seed} for a, b, iou, seed in rows])
    lines = "\n".join(results.overlap_lines(overlap))
    assert "over 300 test images, the mean over the explainers (Original models) of seeds 0, 1" in lines
    assert [line for line in lines.splitlines() if line.startswith("| Gradient |")] == [
        "| Gradient | — | 1.000 | 0.450 |"]  # In*Grad vs Gradient: not measured
    assert "(mean IoU 0.9970)" in lines
    one = "\n".join(results.overlap_lines(overlap[overlap["seed"] == 1]))
    assert "by the explainer (Original model) of seed 1 (" in one and "(mean IoU 0.9960)" in one
    # a pair stored the other way round on one seed is the same pair
    flipped = overlap.assign(method_a=["input_x_gradient", "lrp_eps", "lrp_eps", "gradient"],
                             method_b=["lrp_eps", "gradient", "input_x_gradient", "lrp_eps"])
    assert "(mean IoU 0.9970)" in "\n".join(results.overlap_lines(flipped))
    assert "of seed unrecorded" in "\n".join(results.overlap_lines(overlap.assign(seed=-1)))
    assert "keeps the pixels Input x Gradient keeps (mean IoU 0.9970)" in lines
    apart = "\n".join(results.overlap_lines(overlap.assign(mean_iou=[0.41, 0.4, 0.39, 0.5])))  # lrp_epsilon=0.25
    assert "keep different pixels (mean IoU 0.4000)" in apart and "keeps the pixels Input x" not in apart


def test_training_noise_is_set_beside_one_seeds_interval():
    cells = _cells([_row("none", "original", "none", "none", 240, n=300),
                    _row("none", "original", "none", "none", 210, n=300, seed=1),
                    _row("none", "original", "none", "none", 225, n=300, seed=2),
                    _row("lrp_eps", "lrp_eps", "none", "none", 200, n=300),  # one seed: no row
                    _row("none", "original", "fgsm", "before", 100, n=300, seed=1)])  # attacked: not counted
    lines = "\n".join(results.seed_noise_lines(cells)).splitlines()
    half = 50 * sum(evaluation.wilson_interval(c, 300)[1] - evaluation.wilson_interval(c, 300)[0]
                    for c in (240, 210, 225)) / 3
    row = [line for line in lines if line.startswith("| Original |")]
    assert row == [f"| Original | 3 | 0: 80.0, 1: 70.0, 2: 75.0 | 5.0 | 10.0 | {half:.1f} |"]
    assert results.seed_noise_lines(cells[cells["seed"] == 0]) == []  # one seed: nothing to show


def test_report_opens_with_a_summary_of_clean_accuracy_fidelity_flags_and_time():
    cells = _cells([_row("none", "original", "none", "none", 240, n=300),
                    _row("none", "original", "none", "none", 246, n=300, seed=1),
                    _row("lrp_eps", "lrp_eps", "none", "none", 210, n=300)])
    masking = pd.DataFrame([{"variant": "lrp_eps", "test_set": "lrp_eps", "check": "black-box beats white-box",
                             "detail": ""}] * 2 + [{"variant": "none", "test_set": "random",
                                                    "check": "curve does not fall", "detail": ""}])
    stages = pd.DataFrame({"seed": [0, 0, 0, 1], "stage": ["train", "evaluate", "curves", "train"],
                           "runs": [1, 1, 1, 1], "seconds": [600.0, 1200.0, 600.0, 900.0]})
    thesis = results.load_thesis()
    fidelity = results.fidelity_summary(results.compared_cells(cells, thesis))
    text = "\n".join(results.summary_lines(cells, thesis, fidelity, masking, stages))
    low, high = _seeds_and_images([80.0, 82.0], 300, T2)
    assert f"| Original | 81.0 ± 1.4 [{low:.1f}, {high:.1f}] (2 seeds) | 89.67 |" in text
    low, high = evaluation.wilson_interval(210, 300)
    assert f"| LRP-eps | 70.0 [{100 * low:.1f}, {100 * high:.1f}] | 88.67 |" in text
    # |81.0 - 89.67| and |70.0 - 88.67|; over two seeds the interval (81.0 +/- 18.4) holds the thesis' 89.67
    assert "- Fidelity: mean |ours - thesis| 13.7 pp over 2 cells, the thesis' value inside our 95% interval in 1." \
        in text
    assert "- Gradient-masking flags: black-box beats white-box: 2 cells; curve does not fall: 1 cell." in text
    assert ("- Step work: seed 0 40 min (30 in the thesis' stages), seed 1 15 min (15 in the thesis' stages); "
            "wall time per stage below.") in text  # curves are beyond the thesis
    empty = "\n".join(results.summary_lines(cells, thesis, fidelity, masking.iloc[:0], None))
    assert "- Gradient-masking flags: none." in empty and "Step work" not in empty


def test_compare_cells_gives_the_differences_of_two_reports_exactly(tmp_path):
    """bench/compare_cells.py on two synthetic cells files whose differences are known."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_cells", REPO / "bench" / "compare_cells.py")
    compare_cells = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare_cells)

    def cells(rows):
        return pd.DataFrame([{"variant": v, "seed": s, "test_set": t, "attack": "none", "order": "none",
                              "accuracy": acc, "ci95_low": acc - hw, "ci95_high": acc + hw}
                             for v, s, t, acc, hw in rows])

    a = cells([("none", 0, "original", 0.50, 0.05), ("none", 0, "blur", 0.40, 0.05), ("pgd", 0, "pgd", 0.70, 0.05),
               ("pgd", 0, "blur", 0.30, 0.05), ("none", 1, "original", 0.90, 0.05)])
    b = cells([("none", 0, "original", 0.52, 0.04), ("none", 0, "blur", 0.36, 0.06), ("pgd", 0, "pgd", 0.80, 0.03),
               ("none", 1, "original", 0.10, 0.05)])
    table, totals = compare_cells.compare(a, b, seeds=(0,))
    assert table.loc["none", "cells"] == 2 and table.loc["none", "mean_difference"] == pytest.approx(-1.0)
    assert table.loc["none", "mean_abs_difference"] == pytest.approx(3.0)
    assert table.loc["none", "beyond_half_width"] == 0  # |-4| < 6, the larger half-width
    assert table.loc["pgd", "max_abs_difference"] == pytest.approx(10.0) and table.loc["pgd", "beyond_half_width"] == 1
    assert totals == {"cells": 3, "only_in_a": 1, "only_in_b": 0, "mean_difference": 2.67,
                      "mean_abs_difference": 5.33, "max_abs_difference": 10.0, "beyond_half_width": 1,
                      "mean_half_width": 5.33}
    assert compare_cells.compare(a, b)[1]["max_abs_difference"] == pytest.approx(80.0)  # seed 1 too
    with pytest.raises(ValueError, match="share no cell"):
        compare_cells.compare(a, b, seeds=(2,))
    with pytest.raises(ValueError, match="file B has a cell twice.*'test_set': 'original'"):
        compare_cells.compare(a, pd.concat([b, b.iloc[:1]]))
    with pytest.raises(ValueError, match="lacks columns \\['ci95_high'\\]"):
        compare_cells.compare(a.drop(columns="ci95_high"), b)
    with pytest.raises(ValueError, match="1 shared cells with another eps. Received: .*'test_set': 'pgd'.*eps=0.0012"):
        compare_cells.compare(a.assign(eps=0.0012), b.assign(eps=[0.0012, 0.0012, 8 / 255, 0.0012]))
    # one file, two seeds: A's seed 0 against B's seed 1 (only "none"/"original" has both: 0.90 - 0.50)
    paired = compare_cells.compare(a, a, seed_pair=(0, 1))[1]
    assert (paired["cells"], paired["only_in_a"], paired["mean_difference"]) == (1, 3, 40.0)
    with pytest.raises(ValueError, match="not both. Received: seeds=\\[0\\], seed_pair=\\(0, 1\\)"):
        compare_cells.compare(a, a, seeds=(0,), seed_pair=(0, 1))
    with pytest.raises(ValueError, match="share no cell.*seed_pair=\\(0, 2\\)"):
        compare_cells.compare(a, a, seed_pair=(0, 2))
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    assert compare_cells.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--seeds", "0"]) == 0
    assert compare_cells.main([str(tmp_path / "a.csv"), str(tmp_path / "a.csv"), "--seed-pair", "0,1"]) == 0
    assert compare_cells.main([str(tmp_path / "a.csv"), str(tmp_path / "a.csv"), "--seed-pair", "0,x"]) == 2
    assert compare_cells.main([str(tmp_path / "a.csv"), str(tmp_path / "a.csv"), "--seed-pair", "0"]) == 2
    assert compare_cells.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--seeds", "x"]) == 2
