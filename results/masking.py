"""Gradient-masking checks: signs that a white-box number overstates robustness.

Three rules, each on logged cells or curves (one flag per offending cell).
Two attacks are compared only at the same L-inf budget (the cells' ``eps``,
where logged): FGSM at 8/255 beside PGD at 0.3/255 says nothing of masking.

* ``black-box beats white-box``: the score-based Square attack, which uses no
  gradients, leaves lower accuracy than the white-box adaptive attacks on
  the same cell taken together (an image counts as broken if any of them
  broke it). Gradients that do not point anywhere useful are the usual
  reason (Athalye et al., 2018). Both attacks ran on the same trained
  model, so the test is paired: with the per-image outcomes
  (``results.collect_outcomes``), on the images Square ran on (it runs on a
  subset, ``square_images``), each image one unit over the seeds (the seeds
  share their test images): the exact sign-flip test of
  :mod:`results.shared_images`, McNemar's exact test for one seed,
  p < ALPHA after Holm's correction over the Square cells. Without outcomes
  (older runs), Square's upper 95% bound below the white-box lower bound: a
  weaker rule that compares different images and, over several seeds, holds
  the seeds' spread (training noise), which a within-model comparison does
  not contain.
* ``curve does not fall``: under adaptive PGD the accuracy at 16/255 stays
  above 10%; an L-inf budget of 16/255 breaks every undefended CIFAR-10 model.
* ``iterative weaker than one step``: adaptive PGD leaves higher accuracy than
  adaptive FGSM at the same budget: the stronger attack did not converge.
  Paired like the black-box check: on the same images, each image one unit
  over the seeds, the images FGSM broke and PGD did not against the other
  way round, p < ALPHA after Holm over the PGD cells. Without outcomes, by more
  than one image (1/n). Where PGD also leaves more than the clean accuracy
  by more than one image per seed (on the same images, counted in the flag),
  its gradient does not describe the defended model at all, and the flag
  says so: a defense that changes with its input needs an attack over that
  randomness (EOT), not BPDA alone.

Both paired checks pair a cell on all of its seeds or not at all: where some
seed's evaluate run logged no per-image outcomes, the cell falls back to the
unpaired rule, and the flag says so.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import attacks
from evaluation import CLEAN
from evaluation.grid import metric_name
from evaluation.paired import holm
from results.shared_images import paired_over_seeds
from results.tables import CLEAN_ORDER, cell_summary

CURVE_EPS_255 = 16.0
CURVE_LIMIT = 0.10
ALPHA = 0.05  # the paired checks: Holm-corrected over the Square cells, and over the PGD cells
COLUMNS = ["variant", "test_set", "check", "detail"]
Outcomes = dict  # (variant, seed) -> metric -> per-image "correct" (and ``indices:<metric>`` for a subset)


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


def _bounded(attack: str) -> bool:
    """Whether ``attack`` is a registered attack with an L-inf-style budget ``eps``: only such attacks are set
    against each other (an unbounded one, NewtonFool or HopSkipJump, leaves less by design, not by masking)."""
    return attack in attacks.ATTACKS and "eps" in attacks.crafting(attack).defaults


def _white_box_adaptive(summaries: dict, variant: str, test_set: str, like: dict) -> list[tuple[str, dict]]:
    """The bounded gradient attacks' adaptive cells of this model and test set at the budget of ``like``, lowest
    first (an attack without a budget, NewtonFool, is no yardstick for one with a budget)."""
    found = [(attack, s) for (v, t, attack, order), s in summaries.items()
             if v == variant and t == test_set and order == "adaptive" and _bounded(attack)
             and not attacks.get(attack).gradient_free and s["mean"] is not None and _same_budget(s, like)]
    return sorted(found, key=lambda item: item[1]["mean"])


def _on_images(outcome: dict, metric: str, images: np.ndarray) -> np.ndarray | None:
    """``metric``'s per-image outcomes on test images ``images`` (None where it did not run on all of them)."""
    if metric not in outcome:
        return None
    values = np.asarray(outcome[metric], dtype=bool).reshape(-1)
    ran_on = np.asarray(outcome.get(f"indices:{metric}", np.arange(values.size))).reshape(-1)
    if ran_on.size != values.size:
        return None
    position = {int(index): i for i, index in enumerate(ran_on)}
    if any(int(index) not in position for index in images):
        return None
    return values[[position[int(index)] for index in images]]


def _per_seed(outcomes: Outcomes, variant: str, seeds, anchor: str, metrics: list[str]
              ) -> tuple[np.ndarray, dict[str, np.ndarray | None], int] | None:
    """On the images metric ``anchor`` ran on (all test images, or its ``indices:`` subset), a row per seed:
    (anchor's per-image "correct", shaped (seeds, images); per metric the same, None where some seed did not
    measure it on all of those images; the number of seeds). None when some seed's outcomes lack ``anchor``
    or the seeds' anchors ran on different images: a cell is paired on all of its seeds or not at all, never
    on a silent subset."""
    measured, shared = [], None
    for seed in seeds:
        outcome = outcomes.get((variant, int(seed)), {})
        if anchor not in outcome:
            return None
        images = np.asarray(outcome.get(f"indices:{anchor}", np.arange(np.asarray(outcome[anchor]).size))).reshape(-1)
        if shared is not None and not np.array_equal(images, shared):
            return None
        shared = images
        measured.append((_on_images(outcome, anchor, images),
                         {metric: _on_images(outcome, metric, images) for metric in metrics}))
    if not measured or any(right is None for right, _ in measured):
        return None
    return (np.stack([right for right, _ in measured]),
            {metric: None if any(rights[metric] is None for _, rights in measured)
             else np.stack([rights[metric] for _, rights in measured]) for metric in metrics},
            len(measured))


def paired_on_black_box_images(outcomes: Outcomes, variant: str, seeds, test_set: str, black: str,
                               whites: list[str]) -> tuple[list[str], np.ndarray, np.ndarray, int] | None:
    """On the images the black-box attack ran on, a row per seed: (the white-box attacks measured on all of them;
    per seed and image, right under every one of those, i.e. no white-box attack broke it; right under the
    black-box attack; the number of seeds). None when some seed lacks the black-box cell's outcomes or no
    white-box attack lines up with it."""
    metric = {white: metric_name(test_set, white, "adaptive") for white in whites}
    found = _per_seed(outcomes, variant, seeds, metric_name(test_set, black, "adaptive"), list(metric.values()))
    if found is None:
        return None
    black_right, rights, seeds_used = found
    usable = [white for white in whites if rights[metric[white]] is not None]
    if not usable:
        return None
    return usable, np.logical_and.reduce([rights[metric[w]] for w in usable]), black_right, seeds_used


def black_box_flags(cells: pd.DataFrame, outcomes: Outcomes | None = None) -> list[dict]:
    summaries = _summaries(cells)
    seeds = cells.groupby(["variant", "test_set", "attack", "order"], sort=False)["seed"].unique()
    flags, paired = [], []
    for (variant, test_set, attack, order), black in summaries.items():
        if order != "adaptive" or not _bounded(attack) or not attacks.get(attack).gradient_free:
            continue  # an unbounded black-box attack (HopSkipJump) would beat any budget: no sign of masking
        whites = _white_box_adaptive(summaries, variant, test_set, black)
        if not whites:
            continue
        found = paired_on_black_box_images(outcomes or {}, variant, seeds[(variant, test_set, attack, order)],
                                           test_set, attack, [white for white, _ in whites])
        if found is not None:  # image by image against every white-box attack: broken if any of them broke it
            used, white_right, black_right, seeds_used = found
            test = paired_over_seeds(white_right, black_right)  # b: no white-box attack broke it, Square did
            paired.append({"variant": variant, "test_set": test_set, "black": attack, "whites": used,
                           "n": test.images, "seeds": seeds_used, "white_accuracy": float(white_right.mean()),
                           "black_accuracy": float(black_right.mean()), "only_black": test.b,
                           "only_white": test.c, "p": test.p_value})
            continue
        white, strongest = whites[0]
        if black["high"] is None or strongest["low"] is None:
            continue
        if black["high"] < strongest["low"]:
            flags.append({"variant": variant, "test_set": test_set, "check": "black-box beats white-box",
                          "detail": f"{attacks.get(attack).label} {100 * black['mean']:.1f}% "
                                    f"[{100 * black['low']:.1f}, {100 * black['high']:.1f}] < "
                                    f"{attacks.get(white).label} adaptive {100 * strongest['mean']:.1f}% "
                                    f"[{100 * strongest['low']:.1f}, {100 * strongest['high']:.1f}] "
                                    "(different images: no per-image outcomes pair them)"})
    adjusted = holm([test["p"] for test in paired]) if paired else []
    for test, p in zip(paired, adjusted):
        if p < ALPHA and test["black_accuracy"] < test["white_accuracy"]:
            black = attacks.get(test["black"]).label
            whites = " or ".join(attacks.get(white).label for white in attacks.ATTACKS if white in test["whites"])
            flags.append({"variant": test["variant"], "test_set": test["test_set"],
                          "check": "black-box beats white-box",
                          "detail": f"{black} {100 * test['black_accuracy']:.1f}% < "
                                    f"{100 * test['white_accuracy']:.1f}% left by {whites} adaptive on the same "
                                    f"{test['n']} images ({_count(test['seeds'], 'seed')}; an image counts as broken "
                                    "if any of them broke it): "
                                    f"{test['only_black']} broken by {black} only, {test['only_white']} by them "
                                    f"only{_over_seeds(test)}; {_test_name(test)} p = {p:.2g} (Holm over "
                                    f"{_count(len(paired), 'gradient-free cell')})"})
    return flags


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _over_seeds(test: dict) -> str:
    return " (image-seed pairs)" if test["seeds"] > 1 else ""


def _test_name(test: dict) -> str:
    return "exact McNemar" if test["seeds"] == 1 else "exact sign-flip test over the images"


def strength_flags(cells: pd.DataFrame, outcomes: Outcomes | None = None, strong: str = "pgd",
                   weak: str = "fgsm") -> list[dict]:
    summaries = _summaries(cells)
    seeds = cells.groupby(["variant", "test_set", "attack", "order"], sort=False)["seed"].unique()
    flags, paired = [], []
    for (variant, test_set, attack, order), s in summaries.items():
        if attack != strong or order != "adaptive" or s["mean"] is None:
            continue
        other = summaries.get((variant, test_set, weak, "adaptive"))
        if other is None or other["mean"] is None or not _same_budget(s, other):
            continue
        clean = summaries.get((variant, test_set, CLEAN, CLEAN_ORDER))
        clean_mean = None if clean is None else clean["mean"]
        weak_metric, clean_metric = metric_name(test_set, weak, "adaptive"), metric_name(test_set, CLEAN, CLEAN_ORDER)
        found = _per_seed(outcomes or {}, variant, seeds[(variant, test_set, attack, order)],
                          metric_name(test_set, strong, "adaptive"), [weak_metric, clean_metric])
        if found is not None and found[1][weak_metric] is not None:  # image by image, each image one unit
            strong_right, rights, seeds_used = found
            weak_right, clean_right = rights[weak_metric], rights[clean_metric]
            test = paired_over_seeds(weak_right, strong_right)  # c: FGSM broke it, PGD did not
            if clean_right is not None:  # more than one image per seed right only under the attack
                above = int((strong_right & ~clean_right).sum()), int((~strong_right & clean_right).sum())
                note = (_above_clean(clean_right.mean(), f" on the same images ({above[0]} right only under "
                                     f"{attacks.get(strong).label}, {above[1]} only clean)")
                        if above[0] - above[1] > seeds_used else "")
            else:  # no clean outcomes: the clean cell's mean, by more than one image
                note = _above_clean(clean_mean) if _above_by_an_image(s, clean_mean) else ""
            paired.append({"variant": variant, "test_set": test_set, "n": test.images,
                           "seeds": seeds_used, "strong_accuracy": float(strong_right.mean()),
                           "weak_accuracy": float(weak_right.mean()), "note": note,
                           "only_weak": test.c, "only_strong": test.b, "p": test.p_value})
            continue
        if _above_by_an_image(s, other["mean"]):
            detail = (f"{attacks.get(strong).label} adaptive {100 * s['mean']:.1f}% > "
                      f"{attacks.get(weak).label} adaptive {100 * other['mean']:.1f}% + 1/{s['n']} "
                      "(no per-image outcomes pair them)")
            if _above_by_an_image(s, clean_mean):
                detail += _above_clean(clean_mean)
            flags.append({"variant": variant, "test_set": test_set, "check": "iterative weaker than one step",
                          "detail": detail})
    adjusted = holm([test["p"] for test in paired]) if paired else []
    for test, p in zip(paired, adjusted):
        if p < ALPHA and test["strong_accuracy"] > test["weak_accuracy"]:
            strong_label, weak_label = attacks.get(strong).label, attacks.get(weak).label
            detail = (f"{strong_label} adaptive {100 * test['strong_accuracy']:.1f}% > {weak_label} adaptive "
                      f"{100 * test['weak_accuracy']:.1f}% on the same {test['n']} images "
                      f"({_count(test['seeds'], 'seed')}): {test['only_weak']} "
                      f"broken by {weak_label} only, {test['only_strong']} by {strong_label} only"
                      f"{_over_seeds(test)}; {_test_name(test)} p = {p:.2g} (Holm over "
                      f"{_count(len(paired), strong_label + ' cell')}){test['note']}")
            flags.append({"variant": test["variant"], "test_set": test["test_set"],
                          "check": "iterative weaker than one step", "detail": detail})
    return flags


def _above_by_an_image(cell: dict, other: float | None) -> bool:
    """Whether ``cell``'s mean accuracy exceeds ``other`` by more than one of its ``n`` images (the unpaired
    rule; False where either is unknown)."""
    return bool(other is not None and cell["n"] and cell["mean"] > other + 1 / cell["n"] + 1e-12)


def _above_clean(clean: float, where: str = "") -> str:
    return (f"; above clean accuracy {100 * clean:.1f}%{where}: the gradient does not describe "
            "the defended model (a defense that changes with its input, such as a mask drawn "
            "from a hash of the image, needs an attack over that randomness, EOT, not BPDA)")


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


def masking_flags(cells: pd.DataFrame, curves: pd.DataFrame | None = None,
                  outcomes: Outcomes | None = None) -> pd.DataFrame:
    """Every flag of the three checks, one row per flagged cell (empty: nothing flagged); with ``outcomes``
    (:func:`results.collect_outcomes`) the black-box and strength checks are paired on the same images."""
    flags = black_box_flags(cells, outcomes) + strength_flags(cells, outcomes)
    if curves is not None:
        flags += curve_flags(curves)
    return pd.DataFrame(flags, columns=COLUMNS)
