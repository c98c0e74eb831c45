"""The pipeline's steps, each its own MLflow run, each reused when already finished.

    heatmaps_step   explainer's heatmaps of one method for the train and test images
    train_step      one training variant (original images, or heatmap-blurred ones)
    attack_step     the images one model is evaluated on for (test set, attack, order)
    evaluate_step   the whole grid for one model: one metric per cell
    overlap_step    how much the heatmap methods' keep masks agree (IoU table)

Each is a thin shell over the library: :func:`workflow.step_runs.get_or_run`
decides between reuse and running, the defense's test transforms make the
images, :func:`evaluation.attack_inputs` places the attack. A step's key holds
the version of the code its module runs (:mod:`workflow.code_version`), so
editing an attack re-runs attack and evaluate steps but no training.
"""

from workflow.steps.attack import attack_step
from workflow.steps.evaluate import evaluate_step
from workflow.steps.heatmaps import heatmaps_step, stored_heatmaps
from workflow.steps.inputs import defended_inputs, test_transform, transform_params
from workflow.steps.overlap import overlap_step
from workflow.steps.train import train_step

__all__ = ["attack_step", "defended_inputs", "evaluate_step", "heatmaps_step", "overlap_step", "stored_heatmaps",
           "test_transform", "train_step", "transform_params"]
