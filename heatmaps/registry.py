"""The closed set of heatmap methods: name -> builder, default parameters, description.

Every CLI and MLproject choice of a heatmap method comes from ``METHODS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from heatmaps.gradient import gradient, input_x_gradient
from heatmaps.lrp_epsilon import DEFAULT_EPSILON, lrp_epsilon
from heatmaps.pgd import DEFAULTS as PGD_DEFAULTS
from heatmaps.pgd import pgd


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable  # build(model, **params) -> (images, targets) -> heatmaps
    defaults: Mapping[str, object] = field(default_factory=dict)
    description: str = ""


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("gradient", gradient, {}, "d(target logit)/d(input)"),
        Method("input_x_gradient", input_x_gradient, {}, "input * d(target logit)/d(input)"),
        Method("lrp_eps", lrp_epsilon, {"epsilon": DEFAULT_EPSILON},
               "LRP epsilon rule at every layer, BatchNorm folded"),
        Method("pgd", pgd, dict(PGD_DEFAULTS), "|delta| of an untargeted PGD perturbation"),
    )
}


def get(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown heatmap method. Expected one of {sorted(METHODS)}. Received: method={name!r}")
    return METHODS[name]


def resolve_params(name: str, params: Mapping[str, object]) -> dict:
    """The method's defaults overridden by ``params``; unknown keys raise ``ValueError``."""
    method = get(name)
    unknown = sorted(set(params) - set(method.defaults))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {unknown} for heatmap method '{name}'. "
            f"Expected a subset of {sorted(method.defaults)}. Received: {dict(params)}"
        )
    return {**method.defaults, **params}
