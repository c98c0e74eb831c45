"""Profiles: named sets of defaults for a whole reproduction (one registry).

``thesis`` follows the thesis' protocol (ResNet50, 400/100 images per class,
FGSM and NewtonFool at ART's defaults, both orders) and adds the adaptive
(BPDA) FGSM row. ``quick`` is the same grid on a small CNN, 100/50 images per
class (100/50) and a few attack iterations: minutes on 2 cores, for CI and demos.
``seed`` seeds training and attacks; ``data_seed`` the choice of images (kept
fixed when seeds are varied to measure training variance). Every value can be overridden; unknown keys and bad values are named.
"""

from __future__ import annotations

import math
from typing import Mapping

import attacks
import blur
import classifiers
import heatmaps

LRP_EPSILON = heatmaps.get("lrp_eps").defaults["epsilon"]
VARIANTS = ("none", *heatmaps.METHODS)  # training sets: original images + one per heatmap method

PROFILES: dict[str, dict] = {
    "thesis": {
        "model": "resnet50",
        "classes": "airplane,automobile,bird",
        "images_per_class": 500,
        "train_per_class": 400,
        "epochs": 20,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "sigma": blur.DEFAULT_SIGMA,
        "keep_fraction": blur.DEFAULT_KEEP_FRACTION,
        "lrp_epsilon": LRP_EPSILON,
        "attacks": "fgsm,newtonfool",
        "adaptive_attacks": "fgsm",
        "fgsm_eps": 8 / 255,
        "newtonfool_max_iter": 100,
        "newtonfool_eta": 0.01,
        "seed": 0,
        "data_seed": 0,
    },
    "quick": {
        "model": "small_cnn",
        "classes": "airplane,automobile,bird",
        "images_per_class": 150,
        "train_per_class": 100,
        "epochs": 8,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "sigma": blur.DEFAULT_SIGMA,
        "keep_fraction": blur.DEFAULT_KEEP_FRACTION,
        "lrp_epsilon": LRP_EPSILON,
        "attacks": "fgsm,newtonfool",
        "adaptive_attacks": "fgsm,newtonfool",
        "fgsm_eps": 8 / 255,
        "newtonfool_max_iter": 5,
        "newtonfool_eta": 0.01,
        "seed": 0,
        "data_seed": 0,
    },
}

INTEGER_KEYS = ("images_per_class", "train_per_class", "epochs", "batch_size", "newtonfool_max_iter", "seed", "data_seed")
POSITIVE_FLOAT_KEYS = ("learning_rate", "sigma", "lrp_epsilon", "fgsm_eps", "newtonfool_eta")


def check_profile(name: str) -> str:
    if name not in PROFILES:
        raise ValueError(f"Unknown profile. Expected one of {sorted(PROFILES)}. Received: profile={name!r}")
    return name


def parse_attack_list(value: str, key: str) -> tuple[str, ...]:
    """``"fgsm,newtonfool"`` -> names checked against the attack registry; ``""``/``none`` -> ()."""
    text = str(value).strip()
    if text.lower() in ("", "none"):
        return ()
    names = tuple(n.strip() for n in text.split(","))
    for n in names:
        if n not in attacks.ATTACKS:
            raise ValueError(f"Unknown attack in {key}. Expected names from {sorted(attacks.ATTACKS)}. "
                             f"Received: {key}={value!r}")
    return names


def _coerce(key: str, value, default):
    """Values arrive as strings from the CLI and `mlflow run`: convert and check them."""
    if key in INTEGER_KEYS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        minimum = 0 if key.endswith("seed") else 1
        if not math.isfinite(number) or number != int(number) or number < minimum:
            kind = "a non-negative integer" if key.endswith("seed") else "a positive integer"
            raise ValueError(f"{key} must be {kind}. Received: {key}={value!r}")
        return int(number)
    if key in POSITIVE_FLOAT_KEYS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not math.isfinite(number) or number <= 0:
            raise ValueError(f"{key} must be a positive number. Received: {key}={value!r}")
        return number
    if key == "keep_fraction":
        return blur.check_keep_fraction(float(value) if not isinstance(value, float) else value)
    return str(value) if value is not None else default


def resolve(profile: str, overrides: Mapping[str, object] | None = None) -> dict:
    """The profile's settings with ``overrides`` applied (``None`` values mean "not given")."""
    settings = dict(PROFILES[check_profile(profile)])
    given = {k: v for k, v in (overrides or {}).items() if v is not None and v != ""}
    unknown = sorted(set(given) - set(settings))
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown} for profile '{profile}'. "
                         f"Expected a subset of {sorted(settings)}. Received: {given}")
    for key, value in given.items():
        settings[key] = _coerce(key, value, settings[key])
    if settings["model"] not in classifiers.ARCHITECTURES:
        raise ValueError(f"Unknown model. Expected one of {sorted(classifiers.ARCHITECTURES)}. "
                         f"Received: model={settings['model']!r}")
    if settings["train_per_class"] >= settings["images_per_class"]:
        raise ValueError("train_per_class must be < images_per_class. Received: "
                         f"train_per_class={settings['train_per_class']}, "
                         f"images_per_class={settings['images_per_class']}")
    blur.check_sigma(settings["sigma"])
    attack_names = parse_attack_list(settings["attacks"], "attacks")
    adaptive = parse_attack_list(settings["adaptive_attacks"], "adaptive_attacks")
    missing = [a for a in adaptive if a not in attack_names]
    if missing:
        raise ValueError(f"adaptive_attacks must be a subset of attacks {list(attack_names)}. "
                         f"Received: adaptive_attacks={settings['adaptive_attacks']!r}")
    settings["profile"] = profile
    return settings


def attack_params(settings: Mapping[str, object], attack: str) -> dict:
    """The attack's parameters as the profile sets them (ART's defaults otherwise)."""
    if attack == "fgsm":
        params = {"eps": settings["fgsm_eps"]}
    elif attack == "newtonfool":
        params = {"max_iter": settings["newtonfool_max_iter"], "eta": settings["newtonfool_eta"]}
    else:
        params = {}
    return attacks.resolve_params(attack, params)


def heatmap_params(settings: Mapping[str, object], method: str) -> dict:
    params = {"epsilon": settings["lrp_epsilon"]} if method == "lrp_eps" else {}
    return heatmaps.resolve_params(method, params)
