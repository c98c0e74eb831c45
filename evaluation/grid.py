"""Names of the evaluation grid's cells: one MLflow metric per cell.

``accuracy/<test_set>/none`` for clean accuracy and
``accuracy/<test_set>/<attack>/<order>`` under an attack, with order in
``before``, ``after``, ``adaptive``. :func:`parse_metric` inverts
:func:`metric_name`, so reports never guess at names.
"""

from __future__ import annotations

from typing import NamedTuple

from defense import test_set, test_sets
from evaluation.orders import ORDERS, check_order

CLEAN = "none"
PREFIX = "accuracy"


class Cell(NamedTuple):
    test_set: str
    attack: str  # "none" for clean
    order: str  # "" for clean


def metric_name(test_set_name: str, attack: str = CLEAN, order: str = "") -> str:
    test_set(test_set_name)
    if attack == CLEAN:
        return f"{PREFIX}/{test_set_name}/{CLEAN}"
    return f"{PREFIX}/{test_set_name}/{attack}/{check_order(order)}"


def parse_metric(name: str) -> Cell | None:
    """The cell a metric name stands for, or None when it is not a grid metric."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != PREFIX or parts[1] not in test_sets():
        return None
    if len(parts) == 3 and parts[2] == CLEAN:
        return Cell(parts[1], CLEAN, "")
    if len(parts) == 4 and parts[3] in ORDERS:
        return Cell(parts[1], parts[2], parts[3])
    return None


def cells(attacks: tuple[str, ...], adaptive_attacks: tuple[str, ...]) -> list[Cell]:
    """Every cell of one model's grid: clean, each attack before/after, adaptive where asked."""
    grid = []
    for name in test_sets():
        grid.append(Cell(name, CLEAN, ""))
        for attack in attacks:
            orders = ORDERS if attack in adaptive_attacks else ("before", "after")
            grid.extend(Cell(name, attack, order) for order in orders)
    return grid
