"""Classifier architectures (all output logits) and their training.

    model = classifiers.build("resnet50", num_classes=3)
    classifiers.train(model, x, y, classifiers.Recipe(epochs=10, augment=True, recalibrate_bn=True))
"""

from classifiers.architectures import (
    ARCHITECTURES,
    INPUT_SHAPE,
    WEIGHTS,
    Architecture,
    build,
    check_weights,
    resnet50,
    small_cnn,
)
from classifiers.recipe import (
    OPTIMIZERS,
    SCHEDULES,
    Recipe,
    augment_batch,
    recalibrate_batchnorm,
    steps_per_epoch,
    training_batches,
)
from classifiers.training import (
    compile_classifier,
    make_deterministic,
    predict_labels,
    predict_logits,
    train,
)

__all__ = [
    "OPTIMIZERS",
    "Recipe",
    "SCHEDULES",
    "augment_batch",
    "recalibrate_batchnorm",
    "steps_per_epoch",
    "training_batches",
    "ARCHITECTURES",
    "WEIGHTS",
    "check_weights",
    "INPUT_SHAPE",
    "Architecture",
    "build",
    "compile_classifier",
    "make_deterministic",
    "predict_labels",
    "predict_logits",
    "resnet50",
    "small_cnn",
    "train",
]
