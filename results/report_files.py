"""Write the tables (Markdown, CSV, LaTeX), the thesis comparison and the figures to a folder."""

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
from results.stage_times import stage_table
from results.tables import (cell_summary, column_labels, format_cell, model_labels, model_table, row_label,
                            size_table, unbounded_attacks)
from results.thesis import load_thesis, thesis_accuracy, thesis_difference, thesis_table


def markdown(table: pd.DataFrame, corner: str = "") -> str:
    header = "| " + " | ".join([corner, *map(str, table.columns)]) + " |"
    rule = "|" + "---|" * (len(table.columns) + 1)
    body = ["| " + " | ".join([str(index), *(_text(v) for v in row)]) + " |" for index, row in table.iterrows()]
    return "\n".join([header, rule, *body])


def latex(table: pd.DataFrame, caption: str) -> str:
    def escape(text) -> str:
        return str(text).replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$").replace("—", "--")

    lines = [r"\begin{table}[ht]", r"\centering", r"\begin{tabular}{l" + "r" * len(table.columns) + "}",
             r"\hline", " & ".join(["", *map(escape, table.columns)]) + r" \\", r"\hline"]
    lines += [" & ".join([escape(i), *(escape(_text(v)) for v in row)]) + r" \\" for i, row in table.iterrows()]
    lines += [r"\hline", r"\end{tabular}", rf"\caption{{{escape(caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _text(value) -> str:
    if isinstance(value, float):
        return "—" if pd.isna(value) else f"{value:.1f}"
    return str(value)


def _signed(table: pd.DataFrame) -> pd.DataFrame:
    return table.map(lambda v: "—" if pd.isna(v) else f"{v:+.1f}")


def _fidelity(cells: pd.DataFrame, thesis: pd.DataFrame, folder: Path, written: list[Path]) -> list[str]:
    """The fidelity summary and the ours-vs-thesis scatter; returns the report's lines for them."""
    compared = compared_cells(cells, thesis)
    summary = fidelity_summary(compared)
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
                                                             zip(shown["thesis_inside"], shown["cells"])],
                          "its mean width (pp)": shown["mean_interval_width"].map(lambda v: f"{v:.1f}"),
                          "thesis inside the pooled Wilson interval": [
                              f"{i} of {n}" for i, n in zip(shown["thesis_inside_pooled"], shown["cells"])],
                          "attacked: mean abs difference given our clean accuracy (unscaled) (pp)": [
                              "—" if pd.isna(v) else f"{v:.1f} ({u:.1f})" for v, u in
                              zip(shown["mean_abs_difference_scaled"], shown["mean_abs_difference_unscaled"])]},
                         index=shown.index)
    return ["## Fidelity to the thesis", "",
            "Per row kind, over the cells both tables have. Our interval is the Wilson interval of the test "
            "images for one seed and the t interval over seeds for several; with 2 or 3 seeds it is wide "
            "(t = 12.7 or 4.3), so read the count inside it with its width. The pooled Wilson interval (all "
            "seeds' test images together) holds test-image noise only. The last column compares each attacked "
            "cell with the thesis' value scaled by our clean accuracy over theirs (same model and test set): "
            "the gap that remains when the attack keeps the same share of clean accuracy as in the thesis, "
            "beside the unscaled one over the same cells.", "", markdown(shown, "row kind"), "",
            "![ours against the thesis](figures/fidelity.png)", ""]


def _masking(flags: pd.DataFrame, folder: Path, written: list[Path]) -> list[str]:
    flags.to_csv(folder / "masking_flags.csv", index=False)
    written.append(folder / "masking_flags.csv")
    lines = ["## Gradient-masking checks", "",
             "Flagged when the score-based Square attack (no gradients) beats the white-box adaptive attacks "
             "taken together (an image broken if any of them broke it) on the images Square ran on (paired per image, every seed's images pooled: exact McNemar, "
             "Holm-corrected over the Square cells; where no per-image outcomes were logged, by more than both "
             "95% intervals allow); when adaptive PGD at 16/255 leaves more than 10% "
             "accuracy on a robustness curve; or when adaptive PGD does worse than adaptive FGSM at the same "
             "budget by more than one image. A flag means the white-box numbers of that cell overstate "
             "robustness.", ""]
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
    lines = ["## Robustness curves", "",
             "Accuracy against the L-inf budget on the original test set and each model's own, FGSM in every "
             "order and adaptive PGD (BPDA through the blur); eps = 0 is clean accuracy.", ""]
    for variant in [v for v in model_labels() if v in set(curves["variant"])]:
        path = folder / "figures" / f"curve_{variant}.png"
        figure = curve_figure(curves, variant)
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
        lines += [f"![curves of the model trained on {model_labels()[variant]}](figures/{path.name})", ""]
    return lines


def _sizes(cells: pd.DataFrame) -> list[str]:
    """Median perturbation sizes of the unbounded attacks (no eps budget), beside their accuracies."""
    unbounded = unbounded_attacks(cells)
    if not unbounded or "l2" not in cells:
        return []
    lines = ["## Perturbation sizes of the unbounded attacks", "",
             "Accuracy %, then the median L2 and L-inf size of what the attack changed (on [0, 1] pixels; "
             "a 32x32x3 image changed by 8/255 everywhere has L2 = 1.74).", ""]
    for variant in [v for v in model_labels() if v in set(cells["variant"])]:
        table = size_table(cells, variant, unbounded)
        if not table.empty:
            lines += [f"### Model trained on {model_labels()[variant]}", "", markdown(table, "attack"), ""]
    return lines


def _stages(stages: pd.DataFrame | None, folder: Path, written: list[Path]) -> list[str]:
    if stages is None or stages.empty:
        return []
    written.append(folder / "stage_times.csv")
    stages.to_csv(written[-1], index=False)
    return ["## Wall time per stage", "",
            "Minutes of each step's own work (a step run inside another counts once; a reused step where it ran), "
            "from the `seconds` every step run logs:", "", markdown(stage_table(stages), "stage"), ""]


def overlap_lines(overlap: pd.DataFrame | None) -> list[str]:
    """The keep-mask overlap table (mean IoU per pair of methods) and what it says about LRP-epsilon."""
    if overlap is None or overlap.empty:
        return []
    labels = column_labels()

    def name(method: str) -> str:
        base, _, epsilon = method.partition("@")
        return labels.get(base, base) + (f" (epsilon={epsilon})" if epsilon else "")

    seeds = sorted(set(overlap["seed"])) if "seed" in overlap else []
    ordered = [tuple(sorted(pair)) for pair in zip(overlap["method_a"], overlap["method_b"])]  # (a, b) = (b, a)
    overlap = overlap.assign(method_a=[a for a, _ in ordered], method_b=[b for _, b in ordered])
    overlap = overlap.groupby(["method_a", "method_b"], sort=False, as_index=False).agg(
        mean_iou=("mean_iou", "mean"), images=("images", "min"))  # the mean over the seeds' explainers
    methods = list(dict.fromkeys([*overlap["method_a"], *overlap["method_b"]]))
    matrix = pd.DataFrame(float("nan"), index=[name(m) for m in methods], columns=[name(m) for m in methods])
    for method in methods:
        matrix.loc[name(method), name(method)] = 1.0
    for row in overlap.itertuples():
        matrix.loc[name(row.method_a), name(row.method_b)] = row.mean_iou
        matrix.loc[name(row.method_b), name(row.method_a)] = row.mean_iou
    names = [str(seed) if seed >= 0 else "unrecorded" for seed in seeds]
    explainers = (f", the mean over the explainers (Original models) of seeds {', '.join(names)} (a pair measured "
                  "by fewer of them: the mean over those)" if len(seeds) > 1
                  else f", by the explainer (Original model) of seed {names[0]}" if seeds else "")
    lines = ["## Keep-mask overlap", "",
             f"Mean intersection over union of the kept pixels, over {int(overlap['images'].iloc[0])} test images"
             f"{explainers} (1 = the same pixels kept; two independent random 15% masks give about 0.08).", "",
             markdown(matrix.map(lambda v: "—" if pd.isna(v) else f"{v:.3f}"), "mean IoU"), ""]
    pair = overlap[((overlap["method_a"] == "input_x_gradient") & (overlap["method_b"] == "lrp_eps"))
                   | ((overlap["method_a"] == "lrp_eps") & (overlap["method_b"] == "input_x_gradient"))]
    if len(pair):
        lines += [f"LRP-epsilon at the thesis' epsilon keeps the pixels Input x Gradient keeps (mean IoU "
                  f"{pair['mean_iou'].iloc[0]:.4f}): at so small an epsilon the epsilon rule is the gradient times "
                  "the input, and the LRP-eps and In*Grad models are trained on practically the same images. "
                  "The rows with a larger epsilon show how far that changes.", ""]
    return lines


def own_clean_cells(cells: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The clean cells (every seed) of ``variant``'s model on its own test set."""
    own = defense.variant(variant).name
    return cells[(cells["variant"] == variant) & (cells["test_set"] == own) & (cells["attack"] == CLEAN)]


def summary_lines(cells: pd.DataFrame, thesis: pd.DataFrame, masking: pd.DataFrame,
                  stages: pd.DataFrame | None) -> list[str]:
    """The report's opening: each model's clean accuracy on its own test set beside the thesis', the fidelity in
    one line, the gradient-masking flags by check, the step work per seed."""
    labels, columns = model_labels(), column_labels()
    rows = []
    for variant in [v for v in labels if v in set(cells["variant"])]:
        own = defense.variant(variant).name
        clean = own_clean_cells(cells, variant)
        theirs = thesis_accuracy(thesis, labels[variant], labels[variant], columns.get(own))
        rows.append({"model": labels[variant], "clean, own test set (%)": format_cell(cell_summary(clean)),
                     "thesis (%)": "—" if pd.isna(theirs) else f"{theirs:.2f}"})
    lines = ["## Summary", "", markdown(pd.DataFrame(rows).set_index("model"), "model"), ""]
    overall = fidelity_summary(compared_cells(cells, thesis)).set_index("row_kind")
    if "all" in overall.index and overall.loc["all", "cells"] > 0:
        row = overall.loc["all"]
        scaled = ("" if pd.isna(row["mean_abs_difference_scaled"]) else
                  f"; over the attacked cells {row['mean_abs_difference_scaled']:.1f} pp given our clean accuracy "
                  f"({row['mean_abs_difference_unscaled']:.1f} pp unscaled)")
        lines += [f"- Fidelity: mean |ours - thesis| {row['mean_abs_difference']:.1f} pp over {int(row['cells'])} "
                  f"cells, the thesis' value inside our 95% interval in {int(row['thesis_inside'])}{scaled}."]
    counts = masking["check"].value_counts() if not masking.empty else pd.Series(dtype=int)
    lines += ["- Gradient-masking flags: " + ("none." if counts.empty else "; ".join(
        f"{check}: {n} cell{'s' if n > 1 else ''}" for check, n in counts.items()) + ".")]
    if stages is not None and not stages.empty:
        per_seed = stages.groupby("seed")["seconds"].sum() / 60.0
        lines += ["- Step work: " + ", ".join(f"seed {seed} {minutes:.0f} min" for seed, minutes in per_seed.items())
                  + " (wall time per stage below)."]
    return [*lines, ""]


def seed_noise_lines(cells: pd.DataFrame) -> list[str]:
    """Training noise beside test-image noise: for each model evaluated with several seeds, its clean accuracy
    on its own test set per seed, their spread, and the 95% Wilson half-width of one seed's test images."""
    rows = []
    for variant, label in model_labels().items():
        clean = own_clean_cells(cells, variant).sort_values("seed")
        if clean["seed"].nunique() < 2:
            continue
        accuracy = 100 * clean["accuracy"].astype(float)
        rows.append({"model": label, "seeds": len(clean),
                     "clean accuracy per seed (%)": ", ".join(f"{s}: {a:.1f}" for s, a in zip(clean["seed"], accuracy)),
                     "std over seeds (pp)": f"{accuracy.std(ddof=1):.1f}",
                     "range (pp)": f"{accuracy.max() - accuracy.min():.1f}",
                     "one seed's 95% half-width (pp)":
                         f"{(50 * (clean['ci95_high'] - clean['ci95_low']).astype(float)).mean():.1f}"})
    if not rows:
        return []
    return ["## Training noise and test-image noise", "",
            "Each model's clean accuracy on its own test set, per training seed (the images fixed): the spread over "
            "seeds is training noise, which one seed's Wilson interval (test-image noise) does not contain. Where "
            "the spread is as large as the half-width, a difference between two single models says little about "
            "their recipes.", "", markdown(pd.DataFrame(rows).set_index("model"), "model"), ""]


def subset_lines(cells: pd.DataFrame) -> list[str]:
    """A line for each attack that ran on fewer test images than the clean cells (Square: ``square_images``)."""
    clean = cells.loc[cells["attack"] == CLEAN, "n"].dropna()
    if clean.empty:
        return []
    total, lines = int(clean.max()), []
    for attack, group in cells[cells["attack"] != CLEAN].groupby("attack", sort=True):
        used = group["n"].dropna()
        if attack not in attacks.ATTACKS or used.empty or int(used.max()) >= total:
            continue
        key = attacks.get(attack).images_key
        lines.append(f"{attacks.get(attack).label} rows: {int(used.max())} of the {total} test images per cell "
                     f"(evenly spaced{f', `{key}`' if key else ''}); their accuracy is of those images, whose "
                     "clean accuracy differs from all images'. The gradient-masking checks compare them with the "
                     "white-box attacks on the same images.")
    return [*lines, ""] if lines else []


def coverage_lines(cells: pd.DataFrame) -> list[str]:
    """Which models each seed has evaluated so far (a reproduction in progress, or a ``variants`` subset)."""
    labels = model_labels()
    lines = []
    for seed, group in cells.groupby("seed", sort=True):
        present = set(group["variant"])
        done = [label for variant, label in labels.items() if variant in present]
        missing = [label for variant, label in labels.items() if variant not in present]
        lines.append(f"- Seed {seed}: {len(done)} of {len(labels)} models evaluated"
                     + (f"; not evaluated: {', '.join(missing)}." if missing else "."))
    return ["Models evaluated:", "", *lines, ""] if lines else []


def write_report(cells: pd.DataFrame, folder: Path, thesis_path: Path | None = None,
                 curves: pd.DataFrame | None = None, overlap: pd.DataFrame | None = None,
                 stages: pd.DataFrame | None = None, masking: pd.DataFrame | None = None) -> list[Path]:
    """Every table and figure for ``cells`` (from :func:`results.collect`), ``curves``
    (:func:`results.collect_curves`), ``overlap``, ``stages`` (:func:`results.stage_times`) and the
    gradient-masking flags ``masking`` (:func:`results.masking_flags`; computed from cells and curves, without
    per-image outcomes, when not given); returns the files written."""
    folder = Path(folder)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    thesis = load_thesis(thesis_path) if thesis_path else load_thesis()
    written = [folder / "cells.csv"]
    cells.to_csv(written[0], index=False)
    lines = ["# Results", "", "Accuracy in %: one seed shows [95% Wilson interval]; several seeds mean ± std "
             "[95% Wilson interval of the pooled count] (n seeds). The fidelity counts and the bar charts' "
             "whiskers use the t interval over seeds instead.",
             "FGSM / NewtonFool: blur before the attack; _A: blur after it; adaptive: the attack sees the blur "
             "(BPDA). — = not measured.", ""]
    masking = masking_flags(cells, curves) if masking is None else masking
    lines += coverage_lines(cells)
    lines += summary_lines(cells, thesis, masking, stages)
    lines += subset_lines(cells)
    lines += _fidelity(cells, thesis, folder, written)
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
        Path(f"{stem}.tex").write_text(latex(text, caption))
        Path(f"{stem}.md").write_text(f"## {caption}\n\n{markdown(text, 'ours')}\n")
        written += [Path(f"{stem}{suffix}") for suffix in (".csv", "_percent.csv", ".tex", ".md")]
        lines += [f"## {caption}", "", markdown(text, "ours"), ""]
        if number:  # a control has no thesis table to set beside ours
            difference.to_csv(f"{stem}_minus_thesis.csv")
            written.append(Path(f"{stem}_minus_thesis.csv"))
            lines += ["Thesis:", "", markdown(theirs, "thesis"), "",
                      "Ours minus thesis (percentage points):", "", markdown(_signed(difference), "difference"), ""]
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
    lines += _sizes(cells)
    lines += _stages(stages, folder, written)
    (folder / "report.md").write_text("\n".join(lines))
    written.append(folder / "report.md")
    return written
