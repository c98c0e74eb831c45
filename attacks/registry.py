"""The closed set of attacks: one record per attack carries everything about it.

A record names the ART attack, its defaults and choices, the model head it
runs on, whether it uses labels, its label in tables, the profile setting
each parameter is read from (``fgsm_eps`` for FGSM's ``eps``) and its
optional fast path. Every CLI, MLproject, profile and table choice of an
attack comes from ``ATTACKS``: a new attack is one builder plus one
:func:`register` call. Defaults are this project's (logged with every run);
eps values are on the [0, 1] pixel scale (8/255 is the usual CIFAR-10 L-inf
budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

import checks
from attacks.fast_paths import fgsm_fast_path, newtonfool_fast_path

EPS_8 = 8 / 255
EPS_2 = 2 / 255
NORMS = ("inf", "2", "1")
# An attack with a ``label_source`` parameter moves away from the ``true`` labels it is given, or from the
# model's ``predicted`` ones (what ART does when ``generate`` gets no ``y``); :func:`attacks.generate` applies it.
LABEL_SOURCES = ("true", "predicted")


def _norm(value: str):
    return np.inf if value == "inf" else int(value)


@dataclass(frozen=True)
class Attack:
    name: str
    build: Callable  # build(estimator, batch_size, **params) -> ART EvasionAttack
    defaults: Mapping[str, object]
    head: str = "logits"  # "probabilities": run on a softmax head
    uses_labels: bool = True  # False: the attack always moves away from the prediction
    description: str = ""
    choices: Mapping[str, tuple] = field(default_factory=dict)
    label: str = ""  # row label in tables ("NewtonFool"); the name where empty
    profile_keys: Mapping[str, str] = field(default_factory=dict)  # parameter -> profile setting
    # fast_path(classifier, images, y, batch_size, progress, **params) -> adversarial images, or None
    # where it does not apply (then ART's attack runs); it must equal ART's result (tests check it).
    fast_path: Callable | None = None
    orders: tuple[str, ...] = ("before", "after", "adaptive")  # the orders it can be evaluated in
    # "all" test sets, or "own": only the original test set and the evaluated model's own (costly attacks)
    scope: str = "all"
    # A transfer attack: adversarials crafted by this other attack on a source model (the undefended one),
    # then passed through the evaluated model's defense. It has no parameters of its own: the source's.
    transfer_from: str | None = None
    # Profile setting limiting how many test images the attack runs on (evenly spaced; 0 = all).
    images_key: str | None = None
    gradient_free: bool = False  # uses model outputs only (a check against gradient masking)
    # The fast engine answers the attack's repeated queries of the same input from memory (score-based attacks).
    remembers_outputs: bool = False


def _fgsm(estimator, batch_size, norm, eps, label_source):
    from art.attacks.evasion import FastGradientMethod

    return FastGradientMethod(estimator, norm=_norm(norm), eps=eps, eps_step=eps, batch_size=batch_size)


def _pgd(estimator, batch_size, norm, eps, step_fraction, max_iter, num_random_init):
    from art.attacks.evasion import ProjectedGradientDescentNumpy

    return ProjectedGradientDescentNumpy(
        estimator, norm=_norm(norm), eps=eps, eps_step=eps * step_fraction, max_iter=max_iter,
        num_random_init=num_random_init, batch_size=batch_size, verbose=False,
    )


def _newtonfool(estimator, batch_size, max_iter, eta):
    from art.attacks.evasion import NewtonFool

    return NewtonFool(estimator, max_iter=max_iter, eta=eta, batch_size=batch_size, verbose=False)


def _autoattack(estimator, batch_size, norm, eps, eps_step):
    from art.attacks.evasion import AutoAttack

    return AutoAttack(estimator, norm=_norm(norm), eps=eps, eps_step=eps_step, batch_size=batch_size)


def _square(estimator, batch_size, norm, eps, max_iter, p_init, nb_restarts):
    from art.attacks.evasion import SquareAttack

    return SquareAttack(
        estimator, norm=_norm(norm), eps=eps, max_iter=max_iter, p_init=p_init,
        nb_restarts=nb_restarts, batch_size=batch_size, verbose=False,
    )


def _hopskipjump(estimator, batch_size, norm, max_iter, max_eval, init_eval, init_size):
    from art.attacks.evasion import HopSkipJump

    return HopSkipJump(
        estimator, norm=_norm(norm), max_iter=max_iter, max_eval=max_eval, init_eval=init_eval,
        init_size=init_size, batch_size=batch_size, verbose=False,
    )


ATTACKS: dict[str, Attack] = {}


SCOPES = ("all", "own")


def register(attack: Attack) -> Attack:
    """Add ``attack`` to the registry (a name may be registered once)."""
    if attack.name in ATTACKS:
        raise ValueError(f"Attack already registered. Received: attack={attack.name!r}")
    checks.one_of("scope", attack.scope, SCOPES)
    if attack.transfer_from is not None and attack.transfer_from not in ATTACKS:
        raise ValueError(f"transfer_from must name a registered attack. Received: transfer_from={attack.transfer_from!r}")
    if not attack.orders or any(o not in ("before", "after", "adaptive") for o in attack.orders):
        raise ValueError(f"orders must be a non-empty subset of before, after, adaptive. Received: orders={attack.orders}")
    ATTACKS[attack.name] = attack
    return attack


for _attack in (
    Attack("fgsm", _fgsm, {"norm": "inf", "eps": EPS_8, "label_source": "true"},
           description="Fast Gradient Sign Method (Goodfellow et al., 2015)",
           choices={"norm": NORMS, "label_source": LABEL_SOURCES}, label="FGSM",
           profile_keys={"eps": "fgsm_eps", "label_source": "fgsm_labels"}, fast_path=fgsm_fast_path),
    Attack("pgd", _pgd, {"norm": "inf", "eps": EPS_8, "step_fraction": 0.25, "max_iter": 20, "num_random_init": 1},
           description="Projected Gradient Descent (Madry et al., 2018): random start, step eps * step_fraction",
           choices={"norm": NORMS}, label="PGD",
           profile_keys={"eps": "pgd_eps", "max_iter": "pgd_max_iter"}),
    Attack("pgd_transfer", None, {}, description="PGD adversarials crafted on the undefended (explainer) model, "
           "then passed through the evaluated model's defense (a transfer check)", label="PGD transfer",
           orders=("after",), transfer_from="pgd"),
    Attack("newtonfool", _newtonfool, {"max_iter": 100, "eta": 0.01}, head="probabilities",
           uses_labels=False, description="NewtonFool (Jang et al., 2017) on softmax probabilities",
           label="NewtonFool", profile_keys={"max_iter": "newtonfool_max_iter", "eta": "newtonfool_eta"},
           fast_path=newtonfool_fast_path),
    Attack("autoattack", _autoattack, {"norm": "inf", "eps": EPS_8, "eps_step": EPS_2},
           description="AutoAttack ensemble as ART builds it (Croce & Hein, 2020)", choices={"norm": NORMS},
           label="AutoAttack"),
    Attack("square", _square, {"norm": "inf", "eps": EPS_8, "max_iter": 100, "p_init": 0.8, "nb_restarts": 1},
           description="Square Attack, score-based (Andriushchenko et al., 2020): queries outputs, no gradients",
           choices={"norm": ("inf", "2")}, label="Square",
           profile_keys={"eps": "square_eps", "max_iter": "square_max_iter"}, scope="own",
           images_key="square_images", gradient_free=True, remembers_outputs=True),
    Attack("hopskipjump", _hopskipjump,
           {"norm": "2", "max_iter": 10, "max_eval": 1000, "init_eval": 100, "init_size": 100},
           uses_labels=False, description="HopSkipJump, decision-based (Chen et al., 2020)",
           choices={"norm": ("2", "inf")}, label="HopSkipJump", gradient_free=True),
):
    register(_attack)


def get(name: str) -> Attack:
    if name not in ATTACKS:
        raise ValueError(f"Unknown attack. Expected one of {sorted(ATTACKS)}. Received: attack={name!r}")
    return ATTACKS[name]


def crafting(name: str) -> Attack:
    """The record that crafts ``name``'s adversarials: itself, or its ``transfer_from`` source attack."""
    attack = get(name)
    return get(attack.transfer_from) if attack.transfer_from else attack


def resolve_params(name: str, params: Mapping[str, object]) -> dict:
    """Defaults overridden by ``params``, each checked; a bad one is named."""
    attack = get(name)
    unknown = sorted(set(params) - set(attack.defaults))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {unknown} for attack '{name}'. "
            f"Expected a subset of {sorted(attack.defaults)}. Received: {dict(params)}"
        )
    resolved = {}
    for key, default in attack.defaults.items():
        value = params.get(key, default)
        if isinstance(default, str):
            value = str(value).lower().replace("np.", "")
            if value not in attack.choices.get(key, (default,)):
                raise ValueError(f"Attack '{name}' parameter {key} must be one of {attack.choices.get(key)}. "
                                 f"Received: {key}={params.get(key)!r}")
        elif isinstance(default, int):
            value = checks.positive_int(key, value, minimum=0 if key == "num_random_init" else 1)
        else:
            value = checks.positive_number(key, value)
        resolved[key] = value
    return resolved
