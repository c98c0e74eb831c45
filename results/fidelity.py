"""How close our tables come to the thesis': per row kind, the differences and the thesis' values inside our intervals.

A row kind is a table row without its model: ``clean`` (the model's own row),
``FGSM``, ``FGSM_A``, ``NewtonFool``, ... Only cells both tables have enter.
"Inside" means the thesis' value lies in our cell's 95% interval: the Wilson
interval of the test images for one seed; for several, an interval that
holds both the seeds' spread and the test images' noise (the images are the
same for every seed; see :mod:`results.shared_images`). The thesis measured
its own model on its own test images, so both kinds of noise separate its
number from ours. The summary also gives the intervals' mean width (a count
inside wide intervals says little) and the count inside the test images'
share alone (``thesis_inside_images``: what the images allow if training
were noiseless; the same as the first for one seed). A cell without an
interval (one seed that logged none) is not counted in either count, and
``intervals`` says how many had one.

Where our clean accuracy sits below the thesis', the attacked cells sit
below too even if the attacks act exactly as in the thesis. ``thesis_scaled``
separates the two: the thesis' attacked value scaled by our clean accuracy
over theirs (same model, same test set), i.e. what we would measure if the
attack kept the same share of the clean accuracy as in the thesis. The
summary's ``mean_abs_difference_scaled`` is |ours - thesis_scaled| over the
attacked cells that have a scaled value: the part of the gap the clean
accuracy does not explain; ``mean_abs_difference_unscaled`` is |ours -
thesis| over the same cells, to set beside it (the ``all`` row's
``mean_abs_difference`` also counts the clean cells).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from results.tables import model_labels, model_table  # noqa: E402
from results.thesis import thesis_table  # noqa: E402

CLEAN = "clean"
COLUMNS = ["row_kind", "cells", "seeds_min", "seeds_max", "mean_difference", "mean_abs_difference", "thesis_inside",
           "intervals", "share_inside", "mean_interval_width", "thesis_inside_images", "mean_abs_difference_scaled",
           "mean_abs_difference_unscaled"]
COMPARED_COLUMNS = ["model", "row", "column", "row_kind", "seeds", "ours", "low", "high", "images_low", "images_high",
                    "thesis", "difference", "thesis_scaled"]


def compared_cells(cells: pd.DataFrame, thesis: pd.DataFrame) -> pd.DataFrame:
    """One row per cell both have: model, row, column, row kind, seeds, ours, our interval, the test images'
    share of it, the thesis', the difference (accuracies in %)."""
    rows = []
    for variant, label in model_labels().items():
        if variant not in set(cells["variant"]):
            continue
        ours = model_table(cells, variant, numeric=True)
        fields = {field: model_table(cells, variant, numeric=True, field=field)
                  for field in ("seeds", "low", "high", "images_low", "images_high")}
        theirs = thesis_table(thesis, label, ours)
        for row in ours.index:
            for column in ours.columns:
                if pd.isna(ours.loc[row, column]) or pd.isna(theirs.loc[row, column]):
                    continue
                rows.append({"model": label, "row": row, "column": column,
                             "row_kind": CLEAN if row == label else row,
                             **{field: table.loc[row, column] for field, table in fields.items()},
                             "ours": ours.loc[row, column], "thesis": theirs.loc[row, column],
                             "difference": ours.loc[row, column] - theirs.loc[row, column]})
    frame = pd.DataFrame(rows, columns=COMPARED_COLUMNS[:-1])
    frame["thesis_scaled"] = frame["thesis"] * _clean_ratio(frame)
    return frame.astype({"seeds": int})


def _clean_ratio(compared: pd.DataFrame) -> pd.Series:
    """Per attacked cell, our clean accuracy over the thesis' (same model and column); NaN for clean cells and
    where either clean value is missing or the thesis' is 0."""
    clean = compared[compared["row_kind"] == CLEAN]
    ratio = (clean["ours"] / clean["thesis"].where(clean["thesis"] > 0)).set_axis(
        pd.MultiIndex.from_frame(clean[["model", "column"]]))
    keys = pd.MultiIndex.from_frame(compared[["model", "column"]])
    looked_up = ratio.reindex(keys).to_numpy(dtype=float) if len(ratio) else [float("nan")] * len(compared)
    return pd.Series(looked_up, index=compared.index, dtype=float).where(compared["row_kind"] != CLEAN)


def fidelity_summary(compared: pd.DataFrame) -> pd.DataFrame:
    """Per row kind (then ``all``): cells, their fewest and most seeds, mean difference and mean |difference| in pp,
    thesis values inside our interval, the cells with an interval, the share inside among those, the intervals'
    mean width in pp, thesis values inside the test images' share of the interval, and mean |ours -
    thesis_scaled| and |ours - thesis| in pp over the attacked cells with a scaled value (NaN for ``clean``)."""
    def inside(part: pd.DataFrame, low: str, high: str) -> int:
        return int(((part[low] <= part["thesis"]) & (part["thesis"] <= part[high])).sum())  # NaN bounds: not

    def summary(kind: str, part: pd.DataFrame) -> dict:
        inside_ours = inside(part, "low", "high")
        intervals = int((part["low"].notna() & part["high"].notna()).sum())
        return {"row_kind": kind, "cells": len(part), "seeds_min": int(part["seeds"].min()),
                "seeds_max": int(part["seeds"].max()), "mean_difference": part["difference"].mean(),
                "mean_abs_difference": part["difference"].abs().mean(), "thesis_inside": inside_ours,
                "intervals": intervals, "share_inside": inside_ours / intervals if intervals else float("nan"),
                "mean_interval_width": (part["high"] - part["low"]).mean(),
                "thesis_inside_images": inside(part, "images_low", "images_high"),
                "mean_abs_difference_scaled": (part["ours"] - part["thesis_scaled"]).abs().mean(),
                "mean_abs_difference_unscaled": part.loc[part["thesis_scaled"].notna(), "difference"].abs().mean()}

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
