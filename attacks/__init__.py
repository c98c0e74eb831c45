"""Evasion attacks through the Adversarial Robustness Toolbox (ART), compiled.

    x_adv = attacks.generate(model, images, labels, "newtonfool", max_iter=100, eta=0.01)

Attacks (``attacks.ATTACKS``): fgsm, pgd, newtonfool, autoattack, square,
hopskipjump. Models output logits; NewtonFool runs on a softmax head.
"""

from attacks.classifier import Classifier, as_classifier
from attacks.estimator import CompiledClassifier, compiled_estimator
from attacks.generate import ENGINES, art_estimator, generate
from attacks.registry import ATTACKS, Attack, get, resolve_params

__all__ = [
    "ATTACKS",
    "ENGINES",
    "Attack",
    "Classifier",
    "CompiledClassifier",
    "art_estimator",
    "as_classifier",
    "compiled_estimator",
    "generate",
    "get",
    "resolve_params",
]
