"""Write the report to a folder: the tables (Markdown, CSV, LaTeX), the thesis comparison, the figures and the
report page that strings them together with the sections of :mod:`results.report_sections`."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import attacks
import defense
from evaluation.grid import CLEAN
from evaluation.orders import ORDER_RECORDS
from results.fidelity import compared_cells, fidelity_figure, fidelity_summary
from results.figures import bar_figure, curve_figure
from results.masking import masking_flags
from results.report_sections import (coverage_lines, overlap_lines, processor_lines, seed_noise_lines, sizes_lines,
                                     subset_lines, summary_lines)
from results.stage_times import stage_table, thesis_stages
from results.tables import column_labels, model_labels, model_table, row_label
from results.text_tables import latex, markdown, signed
from results.thesis import load_thesis, thesis_difference, thesis_table


def _fidelity(compared: pd.DataFrame, summary: pd.DataFrame, folder: Path, written: list[Path]) -> list[str]:
    """The fidelity summary and the ours-vs-thesis scatter of the compared cells (:func:`results.compared_cells`);
    returns the report's lines for them."""
    compared.to_csv(folder / "thesis_comparison.csv", index=False)
    summary.to_csv(folder / "fidelity.csv", index=False)
    figure = fidelity_figure(compared)
    figure.savefig(folder / "figures" / "fidelity.png")
    plt.close(figure)
    written += [folder / "thesis_comparison.csv", folder / "fidelity.csv", folder / "figures" / "fidelity.png"]
    shown = summary.set_index("row_kind")
    shown = pd.DataFrame({"cells": shown["cells"].astype(str),
                          "seeds": [str(a) if a == b else f"{a}-{b}" for a, b in
                                    zip(shown["seeds_min"], shown["seeds_max"])],
                          "mean ours - thesis (pp)": shown["mean_difference"].map(lambda v: f"{v:+.1f}"),
                          "mean abs difference (pp)": shown["mean_abs_difference"].map(lambda v: f"{v:.1f}"),
                          "thesis inside our 95% interval": [f"{i} of {n}" for i, n in
                                                             zip(shown["thesis_inside"], shown["intervals"])],
                          "its mean width (pp)": shown["mean_interval_width"].map(lambda v: f"{v:.1f}"),
                          "thesis inside the test images' share": [
                              f"{i} of {n}" for i, n in zip(shown["thesis_inside_images"], shown["intervals"])],
                          "attacked: mean abs difference given our clean accuracy (unscaled) (pp)": [
                              "—" if pd.isna(v) else f"{v:.1f} ({u:.1f})" for v, u in
                              zip(shown["mean_abs_difference_scaled"], shown["mean_abs_difference_unscaled"])]},
                         index=shown.index)
    return ["## Fidelity to the thesis", "",
            "Per row kind, over the cells both tables have (the counts: over the cells with an interval). Our "
            "interval is the Wilson interval of the test images for one seed; for several, it holds the seeds' "
            "spread (t quantile) and the noise of the test images, which every seed shares (each image counted "
            "once), so read the count inside it with its width. The test images' share alone is the Wilson "
            "interval of the mean on one seed's image count. The last column compares each attacked "
            "cell with the thesis' value scaled by our clean accuracy over theirs (same model and test set): "
            "the gap that remains when the attack keeps the same share of clean accuracy as in the thesis, "
            "beside the unscaled one over the same cells.", "", markdown(shown, "row kind"), "",
            "![ours against the thesis](figures/fidelity.png)", ""]


def _masking(flags: pd.DataFrame, folder: Path, written: list[Path]) -> list[str]:
    flags.to_csv(folder / "masking_flags.csv", index=False)
    written.append(folder / "masking_flags.csv")
    lines = ["## Gradient-masking checks", "",
             "Flagged when the score-based Square attack (no gradients) beats the white-box adaptive attacks "
             "taken together (an image broken if any of them broke it) on the images Square ran on (paired per "
             "image, each image one unit over the seeds: exact sign-flip test, McNemar's for one seed, "
             "Holm-corrected over the Square cells; where no "
             "per-image outcomes were logged, by more than both 95% intervals allow); when adaptive PGD at "
             "16/255 leaves more than 10% accuracy on a robustness curve; or when adaptive PGD does worse "
             "than adaptive FGSM at the same budget (paired in the same way: the images FGSM broke and PGD did "
             "not against the other way round, Holm over the PGD cells; without outcomes, by more than one "
             "image). A flag means the white-box numbers of that cell overstate robustness.", ""]
    if flags.empty:
        return lines + ["No cell flagged.", ""]
    shown = flags.assign(variant=flags["variant"].map(lambda v: model_labels().get(v, v)),
                         test_set=flags["test_set"].map(lambda t: column_labels().get(t, t)))
    table = shown.set_index("variant")[["test_set", "check", "detail"]]
    return lines + [markdown(table, "model"), ""]


def _curves(curves: pd.DataFrame, folder: Path, written: list[Path]) -> list[str]:
    if curves is None or curves.empty:
        return []
    curves.to_csv(folder / "curves.csv", index=False)
    written.append(folder / "curves.csv")
    images = int(curves["n"].max())
    lines = ["## Robustness curves", "",
             f"Accuracy against the L-inf budget on the original test set and each model's own, FGSM in every "
             f"order and adaptive PGD (BPDA through the blur), on {images} evenly spaced test images per seed "
             f"(`curve_images`); eps = 0 is clean accuracy on those images, so it can differ from the tables' "
             f"clean accuracy on all of them.", ""]
    for variant in [v for v in model_labels() if v in set(curves["variant"])]:
        path = folder / "figures" / f"curve_{variant}.png"
        figure = curve_figure(curves, variant)
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
        lines += [f"![curves of the model trained on {model_labels()[variant]}](figures/{path.name})", ""]
    return lines


def _stages(stages: pd.DataFrame | None, thesis: pd.DataFrame, folder: Path, written: list[Path]) -> list[str]:
    if stages is None or stages.empty:
        return []
    written.append(folder / "stage_times.csv")
    stages.to_csv(written[-1], index=False)
    return ["## Wall time per stage", "",
            "Minutes of each step's own work (a step run inside another counts once; a reused step where it ran), "
            "from the `seconds` every step run logs. The last row sums the stages the thesis' tables need ("
            + ", ".join(f"`{stage}`" for stage in thesis_stages(thesis["row"]))
            + "; they include the controls and the Random control's test set where a seed ran them); the rest "
            "checks beyond the thesis:", "", markdown(stage_table(stages, thesis["row"]), "stage"), ""]


def write_report(cells: pd.DataFrame, folder: Path, thesis_path: Path | None = None,
                 curves: pd.DataFrame | None = None, overlap: pd.DataFrame | None = None,
                 stages: pd.DataFrame | None = None, masking: pd.DataFrame | None = None,
                 processors: pd.DataFrame | None = None, seeds: tuple[int, ...] = ()) -> list[Path]:
    """Every table and figure for ``cells`` (from :func:`results.collect`), ``curves``
    (:func:`results.collect_curves`), ``overlap``, ``stages`` (:func:`results.stage_times`), the
    gradient-masking flags ``masking`` (:func:`results.masking_flags`; computed from cells and curves, without
    per-image outcomes, when not given), the ``processors`` the steps ran on (:func:`results.processor_table`)
    and the ``seeds`` asked for (a seed without any evaluated model is listed too);
    returns the files written."""
    folder = Path(folder)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    thesis = load_thesis(thesis_path) if thesis_path else load_thesis()
    written = [folder / "cells.csv"]
    cells.to_csv(written[0], index=False)
    lines = ["# Results", "", "Accuracy in %: one seed shows [95% Wilson interval]; several seeds mean ± std "
             "[95% interval] (n seeds), the interval holding both the seeds' spread and the noise of the test "
             "images they share (each image once). The fidelity counts and the bar charts' whiskers use the "
             "same intervals.",
             "FGSM / NewtonFool: blur before the attack; _A: blur after it; adaptive: the attack sees the blur "
             "(a gradient attack through it by BPDA; Square by querying the defended model). — = not measured.", ""]
    masking = masking_flags(cells, curves) if masking is None else masking
    compared = compared_cells(cells, thesis)  # seconds on a full grid: once, for the summary and the section
    fidelity = fidelity_summary(compared)
    lines += coverage_lines(cells, seeds)
    lines += summary_lines(cells, thesis, fidelity, masking, stages)
    lines += subset_lines(cells)
    lines += _fidelity(compared, fidelity, folder, written)
    lines += seed_noise_lines(cells)
    labels = model_labels()
    for variant in [v for v in labels if v in set(cells["variant"])]:
        text = model_table(cells, variant)
        numbers = model_table(cells, variant, numeric=True)
        theirs = thesis_table(thesis, labels[variant], numbers)
        difference = thesis_difference(numbers, theirs)
        stem = folder / "tables" / variant
        text.to_csv(f"{stem}.csv")
        numbers.to_csv(f"{stem}_percent.csv")
        number = defense.variant(variant).thesis_table
        caption = (f"Table {number}: model trained on {labels[variant]} images" if number
                   else f"Model trained on {labels[variant]} images (beyond the thesis)")
        Path(f"{stem}.tex").write_text(latex(text, f"Model trained on {labels[variant]} images"  # LaTeX numbers it
                                             + (f" (the thesis' Table {number})" if number else " (beyond the thesis)")))
        Path(f"{stem}.md").write_text(f"## {caption}\n\n{markdown(text, 'ours')}\n")
        written += [Path(f"{stem}{suffix}") for suffix in (".csv", "_percent.csv", ".tex", ".md")]
        lines += [f"## {caption}", "", markdown(text, "ours"), ""]
        if number:  # a control has no thesis table to set beside ours
            difference.to_csv(f"{stem}_minus_thesis.csv")
            written.append(Path(f"{stem}_minus_thesis.csv"))
            lines += ["Thesis:", "", markdown(theirs, "thesis"), "",
                      "Ours minus thesis (percentage points):", "", markdown(signed(difference), "difference"), ""]
    present = set(cells["attack"]) - {CLEAN}
    for attack in [a for a in attacks.ATTACKS if a in present] + sorted(present - set(attacks.ATTACKS)):
        for order in ORDER_RECORDS:
            if not ((cells["attack"] == attack) & (cells["order"] == order)).any():
                continue
            path = folder / "figures" / f"{attack}_{order}.png"
            figure = bar_figure(cells, attack, order)
            figure.savefig(path)
            plt.close(figure)
            written.append(path)
            lines += [f"![{row_label(attack, order)}](figures/{path.name})", ""]
    lines += overlap_lines(overlap)
    lines += _masking(masking, folder, written)
    lines += _curves(curves, folder, written)
    lines += sizes_lines(cells)
    lines += _stages(stages, thesis, folder, written)
    if processors is not None and not processors.empty:
        written.append(folder / "processors.csv")
        processors.to_csv(written[-1], index=False)
        lines += processor_lines(processors)
    (folder / "report.md").write_text("\n".join(lines))
    written.append(folder / "report.md")
    return written
