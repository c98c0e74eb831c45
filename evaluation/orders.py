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

import weakref
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


_DEFENDED: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def defended_classifier(model: keras.Model, transform: TestTransform) -> attacks.Classifier:
    """f o T as an attack target: T's TensorFlow form (BPDA) followed by the model's logits.

    Built once per (model, transform settings, explainer) and kept with the model, so the
    compiled functions of every later attack on the same pipeline are reused, not traced again.
    """
    key = (type(transform), transform.name, id(transform.explainer), transform.sigma, transform.keep_fraction,
           tuple(sorted(transform.heatmap_params.items())))
    cached = _DEFENDED.setdefault(model, {})
    if key not in cached:
        forward_t = transform.tf_forward()
        target = attacks.as_classifier(model)
        weak = weakref.ref(model)  # the cache entry must not keep its own key (the model) alive
        cached[key] = attacks.Classifier(
            lambda images: weak()(forward_t(images), training=False),
            target.input_shape, target.num_classes, name=f"{model.name}+{transform.name}",
        )
    return cached[key]


@dataclass(frozen=True)
class AttackedImages:
    """What one (transform, attack, order) produces.

    ``images``: what f is finally evaluated on. ``l2``/``linf``: per image, the
    size of what the attack changed (its output minus its input: A(T(x)) - T(x)
    before, A(x) - x after and for transfer, A_{f o T}(x) - x adaptive), flattened over pixels and channels.
    """

    images: np.ndarray
    l2: np.ndarray
    linf: np.ndarray


def perturbation_sizes(attacked: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image L2 and L-inf norms of ``attacked - clean``."""
    delta = (np.asarray(attacked, np.float64) - np.asarray(clean, np.float64)).reshape(len(clean), -1)
    if delta.shape[1] == 0:
        return np.zeros(len(clean)), np.zeros(len(clean))
    return np.linalg.norm(delta, axis=1), np.abs(delta).max(axis=1)


def check_attack_order(attack: str, order: str) -> str:
    """``order`` if ``attack`` can be evaluated in it (a transfer attack only ``after``)."""
    record = attacks.get(attack)
    if check_order(order) not in record.orders:
        raise ValueError(f"Attack '{attack}' is evaluated in orders {list(record.orders)} only. Received: order={order!r}")
    return order


def attack_cell(
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
    source_model: keras.Model | None = None,
    progress: Progress | None = None,
    **attack_params,
) -> AttackedImages:
    """The images f is finally evaluated on for this (transform, attack, order), and the perturbation sizes.

    ``attacked_original``: A_f(x) when the caller already has it (it is the
    same for every transform in the ``after`` order, and for ``original``);
    for a transfer attack, A_source(x). ``defended_clean``: T(x) when the
    caller already has it (``before``). ``source_model``: the model a transfer
    attack crafts on (the undefended one).
    """
    check_attack_order(attack, order)
    images = np.asarray(images, dtype=np.float32)
    transfer = attacks.get(attack).transfer_from is not None
    if transfer and attacked_original is None and source_model is None:
        raise ValueError(f"Transfer attack '{attack}' crafts on a source model: pass source_model= "
                         "(or attacked_original=). Received: source_model=None")

    def attack_model(target, x):
        return attacks.generate(target, x, labels, attack, batch_size=batch_size, seed=seed,
                                progress=progress, **attack_params)

    if order == "after" or transform.name == "original":
        adversarial = (attacked_original if attacked_original is not None
                       else attack_model(source_model if transfer else model, images))
        return AttackedImages(transform(adversarial, batch_size=batch_size), *perturbation_sizes(adversarial, images))
    if order == "before":
        clean = defended_clean if defended_clean is not None else transform(images, batch_size=batch_size)
        adversarial = attack_model(model, clean)
        return AttackedImages(adversarial, *perturbation_sizes(adversarial, clean))
    adversarial = attack_model(defended_classifier(model, transform), images)
    return AttackedImages(transform(adversarial, batch_size=batch_size), *perturbation_sizes(adversarial, images))


def attack_inputs(model: keras.Model, transform: TestTransform, images: np.ndarray, labels: np.ndarray, attack: str,
                  order: str, **options) -> np.ndarray:
    """The images f is finally evaluated on for this (transform, attack, order); see :func:`attack_cell`."""
    return attack_cell(model, transform, images, labels, attack, order, **options).images


def subset_indices(total: int, count: int) -> np.ndarray:
    """``count`` evenly spaced indices into ``total`` images (all of them for ``count`` 0 or >= ``total``).

    Test sets are stored class by class, so evenly spaced indices keep the classes balanced.
    """
    if count <= 0 or count >= total:
        return np.arange(total)
    return np.unique(np.round(np.linspace(0, total - 1, count)).astype(int))
