"""Gradient-masking checks: signs that a white-box number overstates robustness.

Three rules, each on logged cells or curves (one flag per offending cell).
Two attacks are compared only at the same L-inf budget (the cells' ``eps``,
where logged): FGSM at 8/255 beside PGD at 0.3/255 says nothing of masking.

* ``black-box beats white-box``: the score-based Square attack, which uses no
  gradients, leaves lower accuracy than the strongest white-box adaptive
  attack on the same cell, by more than both 95% intervals allow (Square's
  upper bound below the white-box lower bound). Gradients that do not point
  anywhere useful are the usual reason (Athalye et al., 2018).
* ``curve does not fall``: under adaptive PGD the accuracy at 16/255 stays
  above 10%; an L-inf budget of 16/255 breaks every undefended CIFAR-10 model.
* ``iterative weaker than one step``: adaptive PGD leaves higher accuracy than
  adaptive FGSM at the same budget by more than one image (1/n): the stronger
  attack did not converge. Where it also leaves more than the clean accuracy,
  its gradient does not describe the defended model at all, and the flag says
  so: a defense that changes with its input needs an attack over that
  randomness (EOT), not BPDA alone.
"""

from __future__ import annotations

import math

import pandas as pd

import attacks
from evaluation import CLEAN
from results.tables import CLEAN_ORDER, cell_summary

CURVE_EPS_255 = 16.0
CURVE_LIMIT = 0.10
COLUMNS = ["variant", "test_set", "check", "detail"]


def _summaries(cells: pd.DataFrame) -> dict[tuple, dict]:
    grouped = cells.groupby(["variant", "test_set", "attack", "order"], sort=False)
    return {key: {**cell_summary(group), "n": int(group["n"].iloc[0]) if "n" in group and pd.notna(
        group["n"].iloc[0]) else None, "eps": _eps(group)} for key, group in grouped}


def _eps(group: pd.DataFrame) -> float | None:
    """The cell's budget, None where not logged (older runs, attacks without one)."""
    if "eps" not in group or group["eps"].isna().all():
        return None
    return float(group["eps"].dropna().iloc[0])


def _same_budget(a: dict, b: dict) -> bool:
    """Whether two cells ran at the same budget (unknown budgets are taken as the same: older runs)."""
    return a["eps"] is None or b["eps"] is None or math.isclose(a["eps"], b["eps"], rel_tol=1e-9)


def _white_box_adaptive(summaries: dict, variant: str, test_set: str, like: dict) -> tuple[str, dict] | None:
    """The gradient attack with the lowest adaptive accuracy on this cell, at the budget of ``like``."""
    found = [(attack, s) for (v, t, attack, order), s in summaries.items()
             if v == variant and t == test_set and order == "adaptive" and attack in attacks.ATTACKS
             and not attacks.get(attack).gradient_free and s["mean"] is not None and _same_budget(s, like)]
    return min(found, key=lambda item: item[1]["mean"]) if found else None


def black_box_flags(cells: pd.DataFrame) -> list[dict]:
    summaries = _summaries(cells)
    flags = []
    for (variant, test_set, attack, order), black in summaries.items():
        if order != "adaptive" or attack not in attacks.ATTACKS or not attacks.get(attack).gradient_free:
            continue
        white = _white_box_adaptive(summaries, variant, test_set, black)
        if white is None or black["high"] is None or white[1]["low"] is None:
            continue
        if black["high"] < white[1]["low"]:
            flags.append({"variant": variant, "test_set": test_set, "check": "black-box beats white-box",
                          "detail": f"{attacks.get(attack).label} {100 * black['mean']:.1f}% "
                                    f"[{100 * black['low']:.1f}, {100 * black['high']:.1f}] < "
                                    f"{attacks.get(white[0]).label} adaptive {100 * white[1]['mean']:.1f}% "
                                    f"[{100 * white[1]['low']:.1f}, {100 * white[1]['high']:.1f}]"})
    return flags


def strength_flags(cells: pd.DataFrame, strong: str = "pgd", weak: str = "fgsm") -> list[dict]:
    summaries = _summaries(cells)
    flags = []
    for (variant, test_set, attack, order), s in summaries.items():
        if attack != strong or order != "adaptive" or s["mean"] is None:
            continue
        other = summaries.get((variant, test_set, weak, "adaptive"))
        if other is None or other["mean"] is None or not s["n"] or not _same_budget(s, other):
            continue
        if s["mean"] > other["mean"] + 1 / s["n"] + 1e-12:
            detail = (f"{attacks.get(strong).label} adaptive {100 * s['mean']:.1f}% > "
                      f"{attacks.get(weak).label} adaptive {100 * other['mean']:.1f}% + 1/{s['n']}")
            clean = summaries.get((variant, test_set, CLEAN, CLEAN_ORDER))
            if clean is not None and clean["mean"] is not None and s["mean"] > clean["mean"] + 1 / s["n"] + 1e-12:
                detail += (f"; above clean accuracy {100 * clean['mean']:.1f}%: the gradient does not describe "
                           "the defended model (a defense that changes with its input, such as a mask drawn "
                           "from a hash of the image, needs an attack over that randomness, EOT, not BPDA)")
            flags.append({"variant": variant, "test_set": test_set, "check": "iterative weaker than one step",
                          "detail": detail})
    return flags


def curve_flags(curves: pd.DataFrame, attack: str = "pgd", order: str = "adaptive",
                eps_255: float = CURVE_EPS_255, limit: float = CURVE_LIMIT) -> list[dict]:
    if curves.empty:
        return []
    at = curves[(curves["attack"] == attack) & (curves["order"] == order)
                & ((curves["eps_255"].astype(float) - eps_255).abs() < 1e-9)]
    flags = []
    for (variant, test_set), group in at.groupby(["variant", "test_set"], sort=False):
        value = float(group["accuracy"].mean())
        if not math.isnan(value) and value > limit:
            flags.append({"variant": variant, "test_set": test_set, "check": "curve does not fall",
                          "detail": f"{attacks.get(attack).label} {order} at {eps_255:g}/255: "
                                    f"{100 * value:.1f}% > {100 * limit:.0f}%"})
    return flags


def masking_flags(cells: pd.DataFrame, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every flag of the three checks, one row per flagged cell (empty: nothing flagged)."""
    flags = black_box_flags(cells) + strength_flags(cells)
    if curves is not None:
        flags += curve_flags(curves)
    return pd.DataFrame(flags, columns=COLUMNS)
