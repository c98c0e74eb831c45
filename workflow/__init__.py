"""The MLflow workflow: profiles, entry runs, step runs that are reused when finished, the thesis grid.

Importing this package first sets TF_ENABLE_ONEDNN_OPTS=1 (TensorFlow reads it
once, at import; without it ResNet50 gradients are ~17x slower on this CPU)
unless the caller set it, and quiets third-party noise the user can do nothing
about: TensorFlow's C++ start-up notes on a machine with no NVIDIA device
("oneDNN custom operations are on", "Could not find cuda drivers", "failed
call to cuInit": written
before TensorFlow's log level applies, so only silenced by importing it with
stderr closed), Keras' retracing notes, MLflow's dataset-source guesses and
its note on registering a model logged outside the run's artifacts (and
ART's "PyTorch not found", silenced where ``attacks`` imports ART).
"""

import logging
import os
import warnings
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Retracing notes from Keras' predict over many models, MLflow's guesses about a NumPy dataset's source and
# its note that Keras models are logged without a signature: nothing a user of the entry points can act on.
logging.getLogger("tensorflow").setLevel(logging.ERROR)
logging.getLogger("mlflow.keras.save").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted", category=UserWarning)
# MLflow 3 keeps a logged model outside the run's artifacts and says so on every registration from runs:/<id>/model.
logging.getLogger("mlflow.tracking._model_registry.fluent").addFilter(
    lambda record: "registering model based on models:/" not in record.getMessage())


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 on /dev/null, unless an NVIDIA device is present.

    Python errors still surface (raised after stderr is restored); on a GPU
    machine TensorFlow's notes about CUDA are worth reading and are kept.
    """
    if Path("/dev/nvidiactl").exists():
        import tensorflow  # noqa: F401
        return
    saved, quiet = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(quiet, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()  # CUDA's "failed call to cuInit" comes at the first device query
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(quiet)


_import_tensorflow_quietly()

from workflow import models, profiles, tracking  # noqa: E402
from workflow.profiles import PROFILES, resolve  # noqa: E402
from workflow.reproduce import reproduce  # noqa: E402
from workflow.step_runs import entry_run, get_or_run  # noqa: E402
from workflow.steps import attack_step, evaluate_step, heatmaps_step, train_step  # noqa: E402

__all__ = ["PROFILES", "attack_step", "entry_run", "evaluate_step", "get_or_run", "heatmaps_step", "models",
           "profiles", "reproduce", "resolve", "tracking", "train_step"]
