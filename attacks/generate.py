"""``attacks.generate``: adversarial images from any registered attack."""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

import checks
from attacks.classifier import Classifier, as_classifier
from attacks.estimator import compiled_estimator
from attacks.fast_paths import Progress
from attacks.registry import crafting, resolve_params

ENGINES = ("fast", "compiled", "art")


def art_estimator(classifier: Classifier, head: str):
    """ART's stock (eager) ``TensorFlowV2Classifier`` over ``classifier``: the reference engine."""
    import keras
    from art.estimators.classification import TensorFlowV2Classifier

    from attacks.estimator import OutputHead

    outputs = classifier.forward if head == "logits" else (lambda x: tf.nn.softmax(classifier.forward(x), axis=-1))
    return TensorFlowV2Classifier(
        model=OutputHead(outputs), nb_classes=classifier.num_classes, input_shape=classifier.input_shape,
        loss_object=keras.losses.CategoricalCrossentropy(from_logits=head == "logits"), clip_values=(0.0, 1.0),
    )


def generate(
    model,
    images: np.ndarray,
    labels: np.ndarray | None,
    name: str,
    batch_size: int = 128,
    engine: str = "fast",
    seed: int = 0,
    progress: Progress | None = None,
    **params,
) -> np.ndarray:
    """Adversarial versions of ``images`` (same shape, float32, clipped to [0, 1]).

    Args:
        model: a Keras model whose outputs are logits, or an ``attacks.Classifier``
            (e.g. a defended pipeline).
        images: (N, H, W, C) in [0, 1].
        labels: int labels the attack moves away from (pass the true labels, or
            the model's predictions to avoid label leaking). NewtonFool and
            HopSkipJump ignore them: they always leave the predicted class,
            as in their papers and in ART. ``None``, or the attack parameter
            ``label_source="predicted"`` (FGSM): the model's predictions, as in ART.
        name: one of ``attacks.ATTACKS``. A transfer record (``pgd_transfer``)
            crafts with its source attack (``pgd``) on ``model``, the source model.
        batch_size: images per compiled call.
        engine: ``"fast"`` (the record's whole-attack fast path where it has
            one that applies, else as ``"compiled"``, with repeated queries answered
            from memory for records that ``remembers_outputs``), ``"compiled"`` (ART's attack class on
            a compiled estimator), ``"art"`` (ART's attack on ART's stock
            estimator: the reference, slow).
        seed: seeds NumPy's global generator, which ART's random attacks use.
        progress: optional ``progress(done, total)`` callback (fast engine).
        **params: attack parameters, see ``attacks.ATTACKS[name].defaults``
            (a transfer record: its source attack's).
    """
    attack = crafting(name)
    resolved = resolve_params(attack.name, params)
    checks.one_of("engine", engine, ENGINES)
    batch_size = checks.positive_int("batch_size", batch_size)
    classifier = as_classifier(model)
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1:] != classifier.input_shape:
        raise ValueError(
            f"images must be shaped (N, {', '.join(map(str, classifier.input_shape))}). Received: images.shape={x.shape}"
        )
    y = None if labels is None else np.asarray(labels).astype(np.int64).reshape(-1)
    if y is not None and len(y) != len(x):
        raise ValueError(f"labels must have one entry per image. Received: {len(y)} labels for {len(x)} images")
    if len(x) == 0:
        return x.copy()
    if resolved.get("label_source") == "predicted":
        y = None  # the model's predictions, as ART uses them when generate() gets no y
    if y is None and attack.uses_labels:
        y = np.asarray(compiled_estimator(classifier, "logits", batch_size).predict(x)).argmax(1)

    adversarial = None
    if engine == "fast" and attack.fast_path is not None:
        adversarial = attack.fast_path(classifier, x, y, batch_size, progress, **resolved)
    if adversarial is None:
        np.random.seed(seed)
        estimator = (
            art_estimator(classifier, attack.head) if engine == "art"
            else compiled_estimator(classifier, attack.head, batch_size)
        )
        art_attack = attack.build(estimator, batch_size, **resolved)
        remembering = engine == "fast" and attack.remembers_outputs
        with estimator.remembering_outputs() if remembering else contextlib.nullcontext():
            adversarial = art_attack.generate(x, y=y if attack.uses_labels else None)
    return np.clip(np.asarray(adversarial, dtype=np.float32), 0.0, 1.0)
