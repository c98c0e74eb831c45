"""The MLflow workflow: profiles, step runs that are reused when finished, the thesis grid.

Importing this package first sets TF_ENABLE_ONEDNN_OPTS=1 (TensorFlow reads it
once, at import; without it ResNet50 gradients are ~17x slower on this CPU)
unless the caller set it.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from workflow import models, profiles, tracking  # noqa: E402
from workflow.profiles import PROFILES, VARIANTS, resolve  # noqa: E402
from workflow.reproduce import reproduce  # noqa: E402
from workflow.steps import attack_step, evaluate_step, heatmaps_step, train_step  # noqa: E402

__all__ = ["PROFILES", "VARIANTS", "attack_step", "evaluate_step", "heatmaps_step", "models", "profiles",
           "reproduce", "resolve", "tracking", "train_step"]
