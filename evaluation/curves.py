"""Robustness curves: accuracy against the L-inf budget, one line per (attack, order).

A defense's accuracy under a gradient attack must fall towards zero as the
budget grows; a curve that stays high at 16/255 under an adaptive PGD points
at gradient masking, not robustness (Athalye et al., 2018; Carlini et al., 2019).

Budgets are given in units of 1/255 (``"0,0.3,1,2,4,8,16"``). The point at
eps = 0 is the clean accuracy of the defended pipeline, f(T(x)), for every line.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import attacks
import checks
from classifiers import predict_labels
from evaluation.orders import attack_inputs, check_attack_order
from evaluation.statistics import Accuracy, accuracy

# (attack, order) of every curve: FGSM in each order and the iterative adaptive attack.
CURVE_LINES = (("fgsm", "before"), ("fgsm", "after"), ("fgsm", "adaptive"), ("pgd", "adaptive"))
COLUMNS = ["test_set", "attack", "order", "eps", "eps_255", "correct", "n", "accuracy", "ci95_low", "ci95_high"]


def parse_curve_eps(value) -> tuple[float, ...]:
    """``"0,0.3,1,2,4,8,16"`` (units of 1/255) -> those budgets, ascending; ``""``/``none`` -> () (no curves)."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "none"):
        return ()
    try:
        budgets = [checks.non_negative_number("curve_eps", part.strip()) for part in text.split(",")]
    except ValueError:
        raise ValueError("curve_eps must be non-negative budgets in units of 1/255, separated by commas. "
                         f"Received: curve_eps={value!r}") from None
    return tuple(sorted(set(budgets)))


def curve_rows(
    test_set: str,
    budgets_255: tuple[float, ...],
    clean: Callable[[], Accuracy],
    point: Callable[[str, str, float], Accuracy],
    lines: tuple[tuple[str, str], ...] = CURVE_LINES,
) -> list[dict]:
    """The curve table for one test set: ``clean()`` at eps 0, ``point(attack, order, eps)`` elsewhere.

    ``eps`` passed to ``point`` is on the [0, 1] pixel scale (``eps_255 / 255``).
    """
    for attack, order in lines:
        check_attack_order(attack, order)
        if "eps" not in attacks.crafting(attack).defaults:
            raise ValueError(f"Curves need an attack with an eps budget. Received: attack={attack!r}")
    rows = []
    at_zero = clean() if 0.0 in budgets_255 else None
    for attack, order in lines:
        for eps_255 in budgets_255:
            result = at_zero if eps_255 == 0.0 else point(attack, order, eps_255 / 255)
            rows.append({"test_set": test_set, "attack": attack, "order": order, "eps": eps_255 / 255,
                         "eps_255": eps_255, "correct": result.correct, "n": result.n, "accuracy": result.value,
                         "ci95_low": result.low, "ci95_high": result.high})
    return rows


def robustness_curve(
    model,
    transform,
    images: np.ndarray,
    labels: np.ndarray,
    budgets_255: tuple[float, ...],
    lines: tuple[tuple[str, str], ...] = CURVE_LINES,
    batch_size: int = 128,
    seed: int = 0,
    attack_params: dict | None = None,
) -> list[dict]:
    """The curve of ``model`` behind ``transform`` on ``images``, computed here (the workflow reuses steps instead).

    ``attack_params``: attack name -> its parameters other than ``eps``.
    """
    params = attack_params or {}

    def clean() -> Accuracy:
        return accuracy(predict_labels(model, transform(images, batch_size=batch_size)), labels)

    def point(attack: str, order: str, eps: float) -> Accuracy:
        evaluated = attack_inputs(model, transform, images, labels, attack, order, batch_size=batch_size, seed=seed,
                                  **{**params.get(attack, {}), "eps": eps})
        return accuracy(predict_labels(model, evaluated), labels)

    return curve_rows(transform.name, budgets_255, clean, point, lines)
