"""The closed set of heatmap methods: one record per method carries everything about it.

A record names the builder and its default parameters, and what the rest of
the project needs to show and configure the method: the label of its column
and of the model trained on its images, the colour of its bars, the thesis
table of that model (where the thesis has one), and the profile setting each
parameter is read from (``lrp_epsilon`` for LRP-epsilon's ``epsilon``). Test
sets, training variants, profiles, step keys, tables and figures are derived
from ``METHODS``: a new method is one module plus one :func:`register` call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

from heatmaps.gradient import gradient, input_x_gradient
from heatmaps.lrp_epsilon import DEFAULT_EPSILON, lrp_epsilon
from heatmaps.pgd import DEFAULTS as PGD_DEFAULTS
from heatmaps.pgd import NORMS as PGD_NORMS
from heatmaps.pgd import normalise_norm
from heatmaps.pgd import pgd
from heatmaps.random_scores import random_heatmap


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable  # build(model, **params) -> (images, targets) -> heatmaps
    defaults: Mapping[str, object] = field(default_factory=dict)
    description: str = ""
    label: str = ""  # column and model label in tables ("LRP-eps"); the name where empty
    colour: str = "#7f7f7f"  # bar colour in figures
    thesis_table: str | None = None  # the thesis' table of the model trained on this method's images
    profile_keys: Mapping[str, str] = field(default_factory=dict)  # parameter -> profile setting
    control: bool = False  # a control (not a heatmap method of the thesis): shown as beyond the thesis
    may_be_zero: tuple[str, ...] = ()  # parameters that may be 0 (seeds); every other number must be positive
    choices: Mapping[str, tuple] = field(default_factory=dict)  # a text parameter -> the values it may take
    normalise: Mapping[str, Callable] = field(default_factory=dict)  # a text parameter -> its spelling made canonical


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (a name may be registered once)."""
    if method.name in METHODS:
        raise ValueError(f"Heatmap method already registered. Received: method={method.name!r}")
    METHODS[method.name] = method
    return method


for _method in (
    Method("gradient", gradient, {}, "d(target logit)/d(input)",
           label="Gradient", colour="#d62728", thesis_table="4.2"),
    Method("input_x_gradient", input_x_gradient, {}, "input * d(target logit)/d(input)",
           label="In*Grad", colour="#f2c500", thesis_table="4.3"),
    Method("lrp_eps", lrp_epsilon, {"epsilon": DEFAULT_EPSILON}, "LRP epsilon rule at every layer, BatchNorm folded",
           label="LRP-eps", colour="#2ca02c", thesis_table="4.4", profile_keys={"epsilon": "lrp_epsilon"}),
    Method("pgd", pgd, dict(PGD_DEFAULTS), "|delta| of an untargeted PGD perturbation",
           label="PGD", colour="#1f77b4", thesis_table="4.5",
           profile_keys={"norm": "pgd_heatmap_norm", "eps": "pgd_heatmap_eps", "eps_step": "pgd_heatmap_eps_step",
                         "max_iter": "pgd_heatmap_max_iter"},
           choices={"norm": PGD_NORMS}, normalise={"norm": normalise_norm}),
    Method("random", random_heatmap, {"seed": 1}, "a seeded pseudo-random score per value: a random 15% kept",
           label="Random (control)", colour="#9467bd", profile_keys={"seed": "random_heatmap_seed"}, control=True,
           may_be_zero=("seed",)),
):
    register(_method)


def get(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown heatmap method. Expected one of {sorted(METHODS)}. Received: method={name!r}")
    return METHODS[name]


def resolve_params(name: str, params: Mapping[str, object]) -> dict:
    """The method's defaults overridden by ``params``, converted to the defaults' types.

    Unknown keys, texts outside the record's ``choices``, and numbers that are
    not positive (or negative, for the record's ``may_be_zero`` parameters),
    or not whole where the default is an int, raise ``ValueError`` naming the
    value.
    """
    method = get(name)
    unknown = sorted(set(params) - set(method.defaults))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {unknown} for heatmap method '{name}'. "
            f"Expected a subset of {sorted(method.defaults)}. Received: {dict(params)}"
        )
    return {key: _converted(method, key, params[key], default) if key in params else default
            for key, default in method.defaults.items()}


def _converted(method: Method, key: str, value, default):
    if isinstance(default, str):
        text = method.normalise.get(key, str)(value)
        allowed = method.choices.get(key)
        if allowed is not None and text not in allowed:
            raise ValueError(f"Heatmap method '{method.name}' parameter {key} must be one of {list(allowed)}. "
                             f"Received: {key}={str(value)!r}")
        return text
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    whole = isinstance(default, int) and not isinstance(default, bool)
    lowest_ok = 0 if key in method.may_be_zero else math.nextafter(0, 1)
    if isinstance(value, bool) or not math.isfinite(number) or number < lowest_ok or (whole and number != int(number)):
        sign = "a non-negative" if key in method.may_be_zero else "a positive"
        kind = f"{sign} integer" if whole else f"{sign} number"
        raise ValueError(f"Heatmap method '{method.name}' parameter {key} must be {kind}. Received: {key}={value!r}")
    return int(number) if whole else number
