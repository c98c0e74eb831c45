"""What a sweep maximises: clean accuracy and robust accuracy of the defended model.

A trial's model is trained on images blurred by its heatmap method, and tested
behind the same defense (test set = that method). ``clean`` is its clean
accuracy; ``robust`` its accuracy under one attack and order (default
NewtonFool, adaptive: the attack sees the defense).
"""

from __future__ import annotations

from dataclasses import dataclass

import attacks
import evaluation

OBJECTIVES = ("both", "clean", "robust")


@dataclass(frozen=True)
class Objective:
    kind: str = "both"
    attack: str = "newtonfool"
    order: str = "adaptive"

    @property
    def directions(self) -> list[str]:
        return ["maximize", "maximize"] if self.kind == "both" else ["maximize"]

    @property
    def names(self) -> list[str]:
        return ["clean_accuracy", "robust_accuracy"] if self.kind == "both" else [f"{self.kind}_accuracy"]

    def values(self, clean: float, robust: float | None) -> list[float]:
        return {"both": [clean, robust], "clean": [clean], "robust": [robust]}[self.kind]


def resolve_objective(kind: str, attack: str, order: str) -> Objective:
    if kind not in OBJECTIVES:
        raise ValueError(f"Unknown objective. Expected one of {list(OBJECTIVES)}. Received: objective={kind!r}")
    attacks.get(attack)
    evaluation.check_order(order)
    if kind != "clean":  # before any model trains: a transfer attack runs "after" only
        evaluation.check_attack_order(attack, order)
    return Objective(kind, attack, order)
