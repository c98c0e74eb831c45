"""The claims put to test: the thesis' three conclusions and two a reviewer would add (one registry).

A claim lists its comparisons: pairs of cells (A, B) measured on the same test
images, and the direction it asserts: B ``greater`` than A, B ``less`` than A,
or B ``equivalent`` to A (within a margin). A cell is (training variant, test
set, attack, order) of the evaluation grid; a system is a model behind its own
defense, i.e. the variant on its own test set. Comparisons whose cells were not
measured are left out (and the page says how many were used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import defense
import heatmaps
from evaluation.grid import CLEAN

KINDS = ("greater", "less", "equivalent")
THESIS_ROWS = (("fgsm", "before"), ("fgsm", "after"), ("newtonfool", "before"), ("newtonfool", "after"))


class CellRef(NamedTuple):
    variant: str
    test_set: str
    attack: str  # CLEAN for a clean cell
    order: str  # "" for clean


class Comparison(NamedTuple):
    label: str
    a: CellRef
    b: CellRef


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str  # what is claimed, in words
    source: str  # where the claim comes from
    kind: str  # B greater / less / equivalent to A
    comparisons: Callable[[], list[Comparison]]


def own(variant: str) -> str:
    return defense.variant(variant).name


def heatmap_variants() -> list[str]:
    """The thesis' heatmap-blur models: variants of heatmap methods that are not controls."""
    return [v for v, t in defense.variants().items()
            if t.heatmap is not None and not heatmaps.get(t.heatmap).control]


def control_variant() -> str | None:
    found = [v for v, t in defense.variants().items() if t.heatmap is not None and heatmaps.get(t.heatmap).control]
    return found[0] if found else None


def _label(variant: str) -> str:
    return defense.variant(variant).label


def _more_robust() -> list[Comparison]:
    return [Comparison(f"{_label(m)} vs Original, {attack} {order}", CellRef("none", "original", attack, order),
                       CellRef(m, own(m), attack, order))
            for m in heatmap_variants() for attack, order in THESIS_ROWS]


def _after_keeps_accuracy() -> list[Comparison]:
    return [Comparison(f"{_label(m)}: clean vs {attack} after", CellRef(m, own(m), CLEAN, ""),
                       CellRef(m, own(m), attack, "after"))
            for m in heatmap_variants() for attack in ("fgsm", "newtonfool")]


def _before_drops() -> list[Comparison]:
    return [Comparison(f"{_label(m)}: {attack} after vs before", CellRef(m, own(m), attack, "after"),
                       CellRef(m, own(m), attack, "before"))
            for m in heatmap_variants() for attack in ("fgsm", "newtonfool")]


def _beats_random() -> list[Comparison]:
    control = control_variant()
    if control is None:
        return []
    rows = ((CLEAN, ""), *THESIS_ROWS, ("pgd", "adaptive"))
    return [Comparison(f"{_label(m)} vs {_label(control)}, {'clean' if attack == CLEAN else f'{attack} {order}'}",
                       CellRef(control, own(control), attack, order), CellRef(m, own(m), attack, order))
            for m in heatmap_variants() for attack, order in rows]


def _survives_adaptive() -> list[Comparison]:
    return [Comparison(f"{_label(m)}: FGSM after vs FGSM adaptive", CellRef(m, own(m), "fgsm", "after"),
                       CellRef(m, own(m), "fgsm", "adaptive"))
            for m in heatmap_variants()]


CLAIMS: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if claim.name in CLAIMS:
        raise ValueError(f"Claim already registered. Received: claim={claim.name!r}")
    if claim.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}. Received: kind={claim.kind!r}")
    CLAIMS[claim.name] = claim
    return claim


for _claim in (
    Claim("more_robust", "Models trained on heatmap-blurred images are more robust than the model trained on "
          "the original images (each behind its own defense, same attack).", "thesis, conclusion 1", "greater",
          _more_robust),
    Claim("after_keeps_accuracy", "Accuracy stays about the same when the blur comes after the attack "
          "(attacked-then-blurred vs clean, within the margin).", "thesis, conclusion 2", "equivalent",
          _after_keeps_accuracy),
    Claim("before_drops", "Accuracy drops when the blur comes before the attack (the attacker sees the blurred "
          "image) compared with after it.", "thesis, conclusion 3", "less", _before_drops),
    Claim("heatmap_beats_random", "The heatmap matters: blurring all but the heatmap's top 15% beats blurring all "
          "but a random 15% (models trained and tested alike, same attack).", "beyond the thesis (control)",
          "greater", _beats_random),
    Claim("survives_adaptive", "The defense survives an adaptive attack: FGSM through the blur (BPDA) leaves "
          "about the accuracy of FGSM followed by the blur.", "beyond the thesis (adaptive)", "equivalent",
          _survives_adaptive),
):
    register(_claim)
