"""Classifier architectures (all output logits) and their training.

    model = classifiers.build("resnet50", num_classes=3)
    classifiers.train(model, x, y, epochs=10)
"""

from classifiers.architectures import ARCHITECTURES, INPUT_SHAPE, Architecture, build, resnet50, small_cnn
from classifiers.training import (
    check_training_params,
    compile_classifier,
    make_deterministic,
    predict_labels,
    predict_logits,
    train,
)

__all__ = [
    "ARCHITECTURES",
    "INPUT_SHAPE",
    "Architecture",
    "build",
    "check_training_params",
    "compile_classifier",
    "make_deterministic",
    "predict_labels",
    "predict_logits",
    "resnet50",
    "small_cnn",
    "train",
]
