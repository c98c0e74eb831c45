"""How close our tables come to the thesis': per row kind, the differences and the thesis' values inside our intervals.

A row kind is a table row without its model: ``clean`` (the model's own row),
``FGSM``, ``FGSM_A``, ``NewtonFool``, ... Only cells both tables have enter.
"Inside" means the thesis' value lies in our cell's 95% interval: the Wilson
interval of the test images for one seed, the t interval over seeds for
several (see :func:`results.tables.cell_summary`).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from results.tables import model_labels, model_table  # noqa: E402
from results.thesis import thesis_table  # noqa: E402

CLEAN = "clean"
COLUMNS = ["row_kind", "cells", "mean_difference", "mean_abs_difference", "thesis_inside", "share_inside"]


def compared_cells(cells: pd.DataFrame, thesis: pd.DataFrame) -> pd.DataFrame:
    """One row per cell both have: model, row, column, row kind, ours, our interval, the thesis', the difference."""
    rows = []
    for variant, label in model_labels().items():
        if variant not in set(cells["variant"]):
            continue
        ours = model_table(cells, variant, numeric=True)
        low = model_table(cells, variant, numeric=True, field="low")
        high = model_table(cells, variant, numeric=True, field="high")
        theirs = thesis_table(thesis, label, ours)
        for row in ours.index:
            for column in ours.columns:
                if pd.isna(ours.loc[row, column]) or pd.isna(theirs.loc[row, column]):
                    continue
                rows.append({"model": label, "row": row, "column": column,
                             "row_kind": CLEAN if row == label else row,
                             "ours": ours.loc[row, column], "low": low.loc[row, column],
                             "high": high.loc[row, column], "thesis": theirs.loc[row, column],
                             "difference": ours.loc[row, column] - theirs.loc[row, column]})
    return pd.DataFrame(rows, columns=["model", "row", "column", "row_kind", "ours", "low", "high", "thesis",
                                       "difference"])


def fidelity_summary(compared: pd.DataFrame) -> pd.DataFrame:
    """Per row kind (then ``all``): cells, mean difference and mean |difference| in pp, thesis values inside."""
    def summary(kind: str, part: pd.DataFrame) -> dict:
        inside = int(((part["low"] <= part["thesis"]) & (part["thesis"] <= part["high"])).sum())
        return {"row_kind": kind, "cells": len(part), "mean_difference": part["difference"].mean(),
                "mean_abs_difference": part["difference"].abs().mean(), "thesis_inside": inside,
                "share_inside": inside / len(part) if len(part) else float("nan")}

    kinds = list(dict.fromkeys(compared["row_kind"]))
    rows = [summary(kind, compared[compared["row_kind"] == kind]) for kind in kinds]
    if len(compared):
        rows.append(summary("all", compared))
    return pd.DataFrame(rows, columns=COLUMNS)


def fidelity_figure(compared: pd.DataFrame) -> plt.Figure:
    """Ours against the thesis', one point per cell with our 95% interval as a vertical bar (a bar crossing the
    diagonal: the thesis' value lies inside it), coloured by row kind, with the diagonal."""
    figure, axes = plt.subplots(figsize=(5.6, 5.2), dpi=120)
    axes.plot([0, 100], [0, 100], color="black", linewidth=0.8, label="ours = thesis")
    for kind, part in compared.groupby("row_kind", sort=False):
        drawn = axes.scatter(part["thesis"], part["ours"], s=14, alpha=0.8, label=f"{kind} ({len(part)})")
        below, above = part["ours"] - part["low"], part["high"] - part["ours"]  # our 95% interval
        axes.errorbar(part["thesis"], part["ours"], yerr=[below.clip(lower=0), above.clip(lower=0)], fmt="none",
                      ecolor=drawn.get_facecolor()[0], elinewidth=0.6, alpha=0.5)
    axes.set_xlim(0, 100)
    axes.set_ylim(0, 100)
    axes.set_xlabel("thesis accuracy (%)")
    axes.set_ylabel("our accuracy (%)")
    axes.set_title("Each table cell: ours (95% interval) against the thesis'", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    return figure
