"""Write the tables (Markdown, CSV, LaTeX), the thesis comparison and the figures to a folder."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import defense
from evaluation.orders import ORDER_RECORDS
from results.fidelity import compared_cells, fidelity_figure, fidelity_summary
from results.figures import bar_figure
from results.tables import model_labels, model_table, row_label
from results.thesis import load_thesis, thesis_difference, thesis_table


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
                          "mean ours - thesis (pp)": shown["mean_difference"].map(lambda v: f"{v:+.1f}"),
                          "mean abs difference (pp)": shown["mean_abs_difference"].map(lambda v: f"{v:.1f}"),
                          "thesis inside our 95% interval": [f"{i} of {n}" for i, n in
                                                             zip(shown["thesis_inside"], shown["cells"])]},
                         index=shown.index)
    return ["## Fidelity to the thesis", "",
            "Per row kind, over the cells both tables have (intervals: Wilson for one seed, t over seeds "
            "for several).", "", markdown(shown, "row kind"), "",
            "![ours against the thesis](figures/fidelity.png)", ""]


def write_report(cells: pd.DataFrame, folder: Path, thesis_path: Path | None = None) -> list[Path]:
    """Every table and figure for ``cells`` (from :func:`results.collect`); returns the files written."""
    folder = Path(folder)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    thesis = load_thesis(thesis_path) if thesis_path else load_thesis()
    written = [folder / "cells.csv"]
    cells.to_csv(written[0], index=False)
    lines = ["# Results", "", "Accuracy in %: one seed shows [95% Wilson interval], several seeds mean ± std.",
             "FGSM / NewtonFool: blur before the attack; _A: blur after it; adaptive: the attack sees the blur "
             "(BPDA). — = not measured.", ""]
    lines += _fidelity(cells, thesis, folder, written)
    labels = model_labels()
    for variant in [v for v in labels if v in set(cells["variant"])]:
        text = model_table(cells, variant)
        numbers = model_table(cells, variant, numeric=True)
        theirs = thesis_table(thesis, labels[variant], numbers)
        difference = thesis_difference(numbers, theirs)
        stem = folder / "tables" / variant
        text.to_csv(f"{stem}.csv")
        numbers.to_csv(f"{stem}_percent.csv")
        difference.to_csv(f"{stem}_minus_thesis.csv")
        number = defense.variant(variant).thesis_table
        caption = (f"Table {number}: model trained on {labels[variant]} images" if number
                   else f"Model trained on {labels[variant]} images (beyond the thesis)")
        Path(f"{stem}.tex").write_text(latex(text, caption))
        Path(f"{stem}.md").write_text(f"## {caption}\n\n{markdown(text, 'ours')}\n")
        written += [Path(f"{stem}{suffix}") for suffix in (".csv", "_percent.csv", "_minus_thesis.csv", ".tex", ".md")]
        lines += [f"## {caption}", "", markdown(text, "ours"), "", "Thesis:", "", markdown(theirs, "thesis"), "",
                  "Ours minus thesis (percentage points):", "", markdown(_signed(difference), "difference"), ""]
    for attack in [a for a in sorted(set(cells["attack"])) if a != "none"]:
        for order in ORDER_RECORDS:
            if not ((cells["attack"] == attack) & (cells["order"] == order)).any():
                continue
            path = folder / "figures" / f"{attack}_{order}.png"
            figure = bar_figure(cells, attack, order)
            figure.savefig(path)
            plt.close(figure)
            written.append(path)
            lines += [f"![{row_label(attack, order)}](figures/{path.name})", ""]
    (folder / "report.md").write_text("\n".join(lines))
    written.append(folder / "report.md")
    return written
