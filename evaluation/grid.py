"""Names of the evaluation grid's cells: one MLflow metric per cell.

``accuracy/<test_set>/none`` for clean accuracy and
``accuracy/<test_set>/<attack>/<order>`` under an attack, with order in
``before``, ``after``, ``adaptive``. :func:`parse_metric` inverts
:func:`metric_name`, so reports never guess at names.
"""

from __future__ import annotations

from typing import NamedTuple

from defense import TEST_SETS
from evaluation.orders import ORDERS

CLEAN = "none"
PREFIX = "accuracy"


class Cell(NamedTuple):
    test_set: str
    attack: str  # "none" for clean
    order: str  # "" for clean


def metric_name(test_set: str, attack: str = CLEAN, order: str = "") -> str:
    if test_set not in TEST_SETS:
        raise ValueError(f"Unknown test set. Expected one of {list(TEST_SETS)}. Received: test_set={test_set!r}")
    if attack == CLEAN:
        return f"{PREFIX}/{test_set}/{CLEAN}"
    if order not in ORDERS:
        raise ValueError(f"Unknown attack order. Expected one of {list(ORDERS)}. Received: order={order!r}")
    return f"{PREFIX}/{test_set}/{attack}/{order}"


def parse_metric(name: str) -> Cell | None:
    """The cell a metric name stands for, or None when it is not a grid metric."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == PREFIX and parts[1] in TEST_SETS and parts[2] == CLEAN:
        return Cell(parts[1], CLEAN, "")
    if len(parts) == 4 and parts[0] == PREFIX and parts[1] in TEST_SETS and parts[3] in ORDERS:
        return Cell(parts[1], parts[2], parts[3])
    return None


def cells(attacks: tuple[str, ...], adaptive_attacks: tuple[str, ...]) -> list[Cell]:
    """Every cell of one model's grid: clean, each attack before/after, adaptive where asked."""
    grid = []
    for test_set in TEST_SETS:
        grid.append(Cell(test_set, CLEAN, ""))
        for attack in attacks:
            orders = ("before", "after", "adaptive") if attack in adaptive_attacks else ("before", "after")
            grid.extend(Cell(test_set, attack, order) for order in orders)
    return grid
