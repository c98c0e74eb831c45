"""The MLflow workflow: profiles, entry runs, step runs that are reused when finished, the thesis grid.

Importing this package first sets TF_ENABLE_ONEDNN_OPTS=1 (TensorFlow reads it
once, at import; without it ResNet50 gradients are ~17x slower on this CPU)
unless the caller set it, and quiets third-party import noise the user can do
nothing about (TensorFlow's C++ banner, ART's "PyTorch not found").
"""

import logging
import os
import warnings

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Retracing notes from Keras' predict over many models, MLflow's guesses about a NumPy dataset's source and
# its note that Keras models are logged without a signature: nothing a user of the entry points can act on.
logging.getLogger("tensorflow").setLevel(logging.ERROR)
logging.getLogger("mlflow.keras.save").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted", category=UserWarning)

from workflow import models, profiles, tracking  # noqa: E402
from workflow.profiles import PROFILES, resolve  # noqa: E402
from workflow.reproduce import reproduce  # noqa: E402
from workflow.step_runs import entry_run, get_or_run  # noqa: E402
from workflow.steps import attack_step, evaluate_step, heatmaps_step, train_step  # noqa: E402

__all__ = ["PROFILES", "attack_step", "entry_run", "evaluate_step", "get_or_run", "heatmaps_step", "models",
           "profiles", "reproduce", "resolve", "tracking", "train_step"]
