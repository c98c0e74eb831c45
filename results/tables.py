"""The thesis' tables: one per trained model, rows = clean and each attack/order, columns = test sets.

A cell is the accuracy in % with its 95% Wilson interval (one seed), or the
mean +/- std over seeds with a 95% interval that holds both the training
noise the seeds sample and the noise of the test images, which every seed
shares (see :mod:`results.shared_images`). A cell that was not measured is
missing (``None``, shown as an em dash), never zero.
"""

from __future__ import annotations

import math

import pandas as pd

import attacks
import defense
from evaluation.grid import CLEAN
from evaluation.orders import ORDER_RECORDS
from evaluation.statistics import mean_std
from results.shared_images import cell_interval, images_interval

MISSING = "—"
COUNT_FIELDS = frozenset({"seeds"})  # cell summary fields that are counts, not accuracies
CLEAN_ORDER = "none"  # the order column of a clean cell: it has no attack order


def model_labels() -> dict[str, str]:
    """Training variant -> its model's label ("none" -> "Original"), from the test-set registry."""
    return {name: record.label for name, record in defense.variants().items()}


def column_labels() -> dict[str, str]:
    """Test set -> its column label, in the thesis' column order."""
    return {name: record.label for name, record in defense.test_sets().items()}


def row_label(attack: str, order: str) -> str:
    """"FGSM", "FGSM_A", "FGSM adaptive": the attack's label and the order's suffix ("PGD attack" where the
    label would be a model's, the label of that model's clean row: the PGD attack before the blur)."""
    label = (attacks.ATTACKS[attack].label if attack in attacks.ATTACKS else "") or attack
    label += ORDER_RECORDS[order].suffix
    return f"{label} attack" if label in model_labels().values() else label


def row_labels(cells: pd.DataFrame, variant: str) -> list[tuple[str, str, str]]:
    """(label, attack, order) for every row: clean first, then each attack before, after, adaptive."""
    rows = [(model_labels().get(variant, variant), CLEAN, CLEAN_ORDER)]
    present = set(cells["attack"]) - {CLEAN}
    for attack in [a for a in attacks.ATTACKS if a in present] + sorted(present - set(attacks.ATTACKS)):
        for order in ORDER_RECORDS:
            if ((cells["attack"] == attack) & (cells["order"] == order)).any():
                rows.append((row_label(attack, order), attack, order))
    return rows


def cell_summary(values: pd.DataFrame) -> dict:
    """Accuracy of one cell over its seeds: mean, std, seeds and a 95% interval.

    One seed: the Wilson interval of its test images. Several, tested on the
    same images: :func:`results.shared_images.cell_interval` (the seeds'
    spread and the images' noise together; the seeds' spread alone where the
    image count was not logged), and as ``images_low``/``images_high`` the
    test images' share alone, the Wilson interval of the mean on one seed's
    image count (each image once, not once per seed; for one seed the same as
    ``low``/``high``).
    """
    values = values[values["accuracy"].notna()]  # a seed without an accuracy is no seed of the cell
    if values.empty:
        return {"mean": None, "std": None, "seeds": 0, "low": None, "high": None, "images_low": None,
                "images_high": None}
    mean, std = mean_std(values["accuracy"].tolist())
    seeds = len(values)
    if seeds > 1:
        n_images = int(values["n"].min()) if "n" in values and values["n"].notna().all() else None
        low, high = cell_interval(values["accuracy"].tolist(), n_images)
        images = images_interval(mean, n_images) if n_images else (None, None)
        return {"mean": mean, "std": std, "seeds": seeds, "low": low, "high": high,
                "images_low": images[0], "images_high": images[1]}
    low, high = values["ci95_low"].iloc[0], values["ci95_high"].iloc[0]
    low, high = (float(low) if _known(low) else None), (float(high) if _known(high) else None)
    return {"mean": mean, "std": std, "seeds": 1, "low": low, "high": high, "images_low": low, "images_high": high}


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def format_cell(summary: dict) -> str:
    if summary["mean"] is None:
        return MISSING
    if summary["seeds"] > 1:
        return (f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f} [{100 * summary['low']:.1f}, "
                f"{100 * summary['high']:.1f}] ({summary['seeds']} seeds)")
    if summary["low"] is not None:
        return f"{100 * summary['mean']:.1f} [{100 * summary['low']:.1f}, {100 * summary['high']:.1f}]"
    return f"{100 * summary['mean']:.1f}"


def model_table(cells: pd.DataFrame, variant: str, numeric: bool = False, field: str = "mean") -> pd.DataFrame:
    """One model's table (Table 4.1 for ``none`` ... 4.5 for ``pgd``).

    ``numeric=True`` gives numbers (NaN where missing) instead of text: the
    ``field`` of each cell's summary, in % (``mean``, the interval's
    ``low``/``high``, the test images' share ``images_low``/``images_high``) or as
    a count (``seeds``).
    """
    mine = cells[cells["variant"] == variant]
    labels = row_labels(cells, variant)
    data = {}
    for test_set, column in column_labels().items():
        entries = []
        for _, attack, order in labels:
            values = mine[(mine["test_set"] == test_set) & (mine["attack"] == attack) & (mine["order"] == order)]
            summary = cell_summary(values)
            if numeric:
                value = None if summary["mean"] is None else summary[field]
                entries.append(float("nan") if value is None else value if field in COUNT_FIELDS else 100 * value)
            else:
                entries.append(format_cell(summary))
        data[column] = entries
    return pd.DataFrame(data, index=[label for label, _, _ in labels])


def unbounded_attacks(cells: pd.DataFrame) -> list[str]:
    """The attacks in ``cells`` without an L-inf budget (NewtonFool): their perturbation sizes are the thing to
    report beside their accuracies."""
    return [a for a in dict.fromkeys(cells["attack"]) if a in attacks.ATTACKS
            and "eps" not in attacks.crafting(a).defaults]


def size_table(cells: pd.DataFrame, variant: str, attack_names: list[str]) -> pd.DataFrame:
    """Rows: each attack and order; columns: test sets; cell "accuracy · L2 · L-inf" (medians, mean over seeds)."""
    mine = cells[(cells["variant"] == variant) & cells["attack"].isin(attack_names)]
    rows = {}
    for attack in attack_names:
        for order in ORDER_RECORDS:
            chosen = mine[(mine["attack"] == attack) & (mine["order"] == order)]
            if chosen.empty:
                continue
            entries = []
            for test_set in column_labels():
                values = chosen[chosen["test_set"] == test_set]
                if values.empty:
                    entries.append(MISSING)
                    continue
                l2, linf = values["l2"].astype(float).mean(), values["linf"].astype(float).mean()
                sizes = "" if math.isnan(l2) else f" · L2 {l2:.2f} · L∞ {255 * linf:.1f}/255"
                entries.append(f"{100 * values['accuracy'].mean():.1f}{sizes}")
            rows[row_label(attack, order)] = entries
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(column_labels().values()))
