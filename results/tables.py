"""The thesis' tables: one per trained model, rows = clean and each attack/order, columns = test sets.

A cell is the accuracy in % with its 95% Wilson interval (one seed), or the
mean +/- std over seeds. A cell that was not measured is missing (``None``,
shown as an em dash), never zero.
"""

from __future__ import annotations

import math

import pandas as pd

from defense import TEST_SETS
from evaluation.statistics import mean_std

MODEL_LABELS = {"none": "Original", "gradient": "Gradient", "input_x_gradient": "In*Grad", "lrp_eps": "LRP-eps",
                "pgd": "PGD"}
COLUMN_LABELS = {"original": "Original", "blur": "Blur", "gradient": "Gradient", "input_x_gradient": "In*Grad",
                 "lrp_eps": "LRP-eps", "pgd": "PGD"}
ATTACK_LABELS = {"fgsm": "FGSM", "newtonfool": "NewtonFool", "pgd": "PGD", "autoattack": "AutoAttack",
                 "square": "Square", "hopskipjump": "HopSkipJump"}
ORDER_SUFFIX = {"before": "", "after": "_A", "adaptive": " adaptive"}
MISSING = "—"


def row_labels(cells: pd.DataFrame, variant: str) -> list[tuple[str, str, str]]:
    """(label, attack, order) for every row: clean first, then each attack before, after, adaptive."""
    rows = [(MODEL_LABELS.get(variant, variant), "none", "none")]
    attacks = [a for a in ATTACK_LABELS if a in set(cells["attack"])] + sorted(
        set(cells["attack"]) - set(ATTACK_LABELS) - {"none"})
    for attack in attacks:
        for order in ("before", "after", "adaptive"):
            if ((cells["attack"] == attack) & (cells["order"] == order)).any():
                rows.append((ATTACK_LABELS.get(attack, attack) + ORDER_SUFFIX[order], attack, order))
    return rows


def cell_summary(values: pd.DataFrame) -> dict:
    """Accuracy of one cell over its seeds: mean, std, seeds, and the Wilson interval when one seed."""
    if values.empty:
        return {"mean": None, "std": None, "seeds": 0, "low": None, "high": None}
    mean, std = mean_std(values["accuracy"].tolist())
    single = len(values) == 1
    return {"mean": mean, "std": std, "seeds": len(values),
            "low": float(values["ci95_low"].iloc[0]) if single and _known(values["ci95_low"].iloc[0]) else None,
            "high": float(values["ci95_high"].iloc[0]) if single and _known(values["ci95_high"].iloc[0]) else None}


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def format_cell(summary: dict) -> str:
    if summary["mean"] is None:
        return MISSING
    if summary["seeds"] > 1:
        return f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f} ({summary['seeds']} seeds)"
    if summary["low"] is not None:
        return f"{100 * summary['mean']:.1f} [{100 * summary['low']:.1f}, {100 * summary['high']:.1f}]"
    return f"{100 * summary['mean']:.1f}"


def model_table(cells: pd.DataFrame, variant: str, numeric: bool = False) -> pd.DataFrame:
    """One model's table (Table 4.1 for ``none`` ... 4.5 for ``pgd``).

    ``numeric=True`` gives mean accuracies in % (NaN where missing) instead of text.
    """
    mine = cells[cells["variant"] == variant]
    labels = row_labels(cells, variant)
    data = {}
    for test_set in TEST_SETS:
        column = []
        for _, attack, order in labels:
            values = mine[(mine["test_set"] == test_set) & (mine["attack"] == attack) & (mine["order"] == order)]
            summary = cell_summary(values)
            if numeric:
                column.append(float("nan") if summary["mean"] is None else 100 * summary["mean"])
            else:
                column.append(format_cell(summary))
        data[COLUMN_LABELS[test_set]] = column
    return pd.DataFrame(data, index=[label for label, _, _ in labels])
