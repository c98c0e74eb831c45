"""Where the attack sits relative to the defense: before, after, adaptive.

For a classifier f, a test transform T and an attack A:

* ``before`` (the thesis' "FGSM"): blur first, then attack the classifier on
  the blurred images: evaluate f(A_f(T(x))).
* ``after`` (the thesis' "FGSM_A"): attack the original images, then blur:
  evaluate f(T(A_f(x))). T's heatmaps are computed on the attacked images.
* ``adaptive``: attack the whole defended pipeline f o T end to end (BPDA for
  the keep mask): evaluate f(T(A_{f o T}(x))). This is what a defense must
  survive; the other two orders never let the attacker see T.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

import attacks
import checks
from defense import TestTransform

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Order:
    name: str
    suffix: str  # appended to the attack's label in table rows ("FGSM_A")
    title: str  # figure title


ORDER_RECORDS = {o.name: o for o in (
    Order("before", "", "blur before the attack"),
    Order("after", "_A", "blur after the attack"),
    Order("adaptive", " adaptive", "adaptive attack (BPDA through the blur)"),
)}
ORDERS = tuple(ORDER_RECORDS)


def check_order(order: str) -> str:
    return checks.one_of("order", order, ORDERS, what="attack order")


def defended_classifier(model: keras.Model, transform: TestTransform) -> attacks.Classifier:
    """f o T as an attack target: T's TensorFlow form (BPDA) followed by the model's logits."""
    forward_t = transform.tf_forward()
    target = attacks.as_classifier(model)
    return attacks.Classifier(
        lambda images: model(forward_t(images), training=False),
        target.input_shape, target.num_classes, name=f"{model.name}+{transform.name}",
    )


def attack_inputs(
    model: keras.Model,
    transform: TestTransform,
    images: np.ndarray,
    labels: np.ndarray,
    attack: str,
    order: str,
    batch_size: int = 128,
    seed: int = 0,
    attacked_original: np.ndarray | None = None,
    defended_clean: np.ndarray | None = None,
    progress: Progress | None = None,
    **attack_params,
) -> np.ndarray:
    """The images f is finally evaluated on for this (transform, attack, order).

    ``attacked_original``: A_f(x) when the caller already has it (it is the
    same for every transform in the ``after`` order, and for ``original``).
    ``defended_clean``: T(x) when the caller already has it (``before``).
    """
    check_order(order)

    def attack_model(target, x):
        return attacks.generate(target, x, labels, attack, batch_size=batch_size, seed=seed,
                                progress=progress, **attack_params)

    if order == "after" or transform.name == "original":
        adversarial = attacked_original if attacked_original is not None else attack_model(model, images)
        return transform(adversarial, batch_size=batch_size)
    if order == "before":
        clean = defended_clean if defended_clean is not None else transform(images, batch_size=batch_size)
        return attack_model(model, clean)
    adversarial = attack_model(defended_classifier(model, transform), images)
    return transform(adversarial, batch_size=batch_size)
