"""Names of the evaluation grid's cells: one MLflow metric per cell.

``accuracy/<test_set>/none`` for clean accuracy and
``accuracy/<test_set>/<attack>/<order>`` under an attack, with order in
``before``, ``after``, ``adaptive``. :func:`parse_metric` inverts
:func:`metric_name`, so reports never guess at names. An attacked cell also
has the median size of what the attack changed: ``l2/<test_set>/<attack>/<order>``
and ``linf/...`` (:func:`size_metric_name`).
"""

from __future__ import annotations

from typing import NamedTuple

import attacks
from defense import test_set, test_sets
from evaluation.orders import ORDERS, check_order

CLEAN = "none"
PREFIX = "accuracy"
SIZES = ("l2", "linf")  # perturbation-size metrics of an attacked cell


class Cell(NamedTuple):
    test_set: str
    attack: str  # "none" for clean
    order: str  # "" for clean


def metric_name(test_set_name: str, attack: str = CLEAN, order: str = "") -> str:
    test_set(test_set_name)
    if attack == CLEAN:
        return f"{PREFIX}/{test_set_name}/{CLEAN}"
    return f"{PREFIX}/{test_set_name}/{attack}/{check_order(order)}"


def size_metric_name(size: str, cell: Cell) -> str:
    """``l2/<test_set>/<attack>/<order>``: the median perturbation size of an attacked cell."""
    if size not in SIZES or cell.attack == CLEAN:
        raise ValueError(f"Perturbation sizes exist for attacked cells, as {SIZES}. Received: {size!r}, {cell}")
    return size + metric_name(*cell)[len(PREFIX):]


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


def cells(attacks_: tuple[str, ...], adaptive_attacks: tuple[str, ...], own_test_set: str = "original") -> list[Cell]:
    """Every cell of one model's grid, test set by test set.

    Clean, then each of ``attacks_`` in the orders before and after, and each of
    ``adaptive_attacks`` adaptive, where the attack's record allows the order.
    An attack of scope ``own`` runs on ``original`` and ``own_test_set`` only.
    """
    own_test_set = test_set(own_test_set).name
    names = list(dict.fromkeys([*attacks_, *adaptive_attacks]))
    grid = []
    for name in test_sets():
        grid.append(Cell(name, CLEAN, ""))
        for attack in names:
            record = attacks.get(attack)
            if record.scope == "own" and name not in ("original", own_test_set):
                continue
            wanted = (("before", "after") if attack in attacks_ else ()) + (
                ("adaptive",) if attack in adaptive_attacks else ())
            grid.extend(Cell(name, attack, order) for order in ORDERS if order in wanted and order in record.orders)
    return grid
