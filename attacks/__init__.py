"""Evasion attacks through the Adversarial Robustness Toolbox (ART), compiled.

    x_adv = attacks.generate(model, images, labels, "newtonfool", max_iter=100, eta=0.01)

Attacks (``attacks.ATTACKS``): fgsm, pgd, pgd_transfer (PGD crafted on another
model), newtonfool, autoattack, square, hopskipjump. Models output logits; NewtonFool runs on a softmax head.
"""

import warnings

# ART warns at import that PyTorch is absent: nothing here uses ART's PyTorch-only parts.
warnings.filterwarnings("ignore", message="PyTorch not found", category=UserWarning)

from attacks.classifier import Classifier, as_classifier  # noqa: E402
from attacks.estimator import CompiledClassifier, compiled_estimator  # noqa: E402
from attacks.generate import ENGINES, art_estimator, generate  # noqa: E402
from attacks.registry import ATTACKS, Attack, crafting, get, register, resolve_params  # noqa: E402

__all__ = [
    "ATTACKS",
    "ENGINES",
    "Attack",
    "Classifier",
    "CompiledClassifier",
    "art_estimator",
    "as_classifier",
    "compiled_estimator",
    "crafting",
    "generate",
    "get",
    "register",
    "resolve_params",
]
