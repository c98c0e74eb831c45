"""Does the Random control resist BPDA only because its mask is drawn anew for every input? PGD with EOT.

    PYTHONPATH=. python bench/eot_random.py --tracking-uri sqlite:////work/thesis-store/mlflow.db \
        --data ../shared/data/cifar10-jpg --profile thesis --seed 0 --eps 0.3,8 --samples 8

The ``random`` defense keeps a pseudo-random 15% of the values sharp, drawn
from a hash of the image: any change to the image draws a new mask. The
pipeline's adaptive PGD differentiates the blur with the mask of the current
iterate held fixed (BPDA), and the next iterate gets another mask, so each
step follows the gradient of a transform that is never applied. Expectation
over Transformation (EOT; Athalye et al., 2018) follows the gradient of the
expected loss instead, averaged over ``samples`` masks drawn independently,
which is the right white-box attack on a randomised transform.

For the model trained on the Random control's images (``--variant``, default
``random``) behind its own blur, on ``--images`` evenly spaced test images, per
budget in ``--eps`` (x 1/255): the same PGD (the profile's steps, step size
and one random start, the same start for both) with the BPDA gradient and
with the EOT gradient; each result is judged by the deployed defense (the
mask of the final image's own hash). Beside them, the grid's own adaptive
PGD (``evaluation.orders.attack_cell``, ART's PGD through the BPDA blur) on
the same images: the BPDA column should agree with it up to the random start.
Printed: correct counts with 95% Wilson intervals, and the images broken by
EOT only and by BPDA only (exact McNemar).

Reads the tracking store; writes nothing. Prints a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pgd(model, x, y, eps: float, steps: int, step_fraction: float, gradient, start) -> "np.ndarray":
    """L-inf PGD from ``x + start`` (``start`` in [-eps, eps]): ``steps`` signed steps of ``step_fraction * eps``
    along ``gradient(x_adv, y, step)`` (the loss gradient w.r.t. x_adv), projected on the eps ball and [0, 1]."""
    import numpy as np
    import tensorflow as tf

    x = tf.constant(x, tf.float32)
    adversarial = tf.clip_by_value(x + tf.constant(start, tf.float32), 0.0, 1.0)
    for step in range(steps):
        moved = adversarial + step_fraction * eps * tf.sign(gradient(adversarial, y, step))
        adversarial = tf.clip_by_value(x + tf.clip_by_value(moved - x, -eps, eps), 0.0, 1.0)
    return np.asarray(adversarial)


def loss_gradient(model, masks_of, samples: int, keep_fraction: float, sigma: float):
    """``gradient(x, y, step)``: the mean over ``samples`` keep masks (``masks_of(x, step, sample)`` gives the
    scores a mask keeps the top ``keep_fraction`` of) of the gradient of the cross-entropy of
    ``model(heatmap_blur(x))``, the mask held fixed (BPDA); with one sample of the deployed mask, plain BPDA."""
    import tensorflow as tf

    from blur.differentiable import heatmap_blur_tf

    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # the models output logits

    @tf.function(reduce_retracing=True)
    def compiled(x, y, step):
        total = tf.zeros_like(x)
        for sample in range(samples):  # unrolled: one graph for every step
            scores = masks_of(x, step, sample)
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = loss(y, model(heatmap_blur_tf(x, scores, keep_fraction, sigma), training=False))
            total += tape.gradient(value, x)
        return total / samples

    def gradient(x, y, step):
        return compiled(x, tf.constant(y), tf.constant(step, tf.int64))

    return gradient


def eot_random(tracking_uri: str, data: str, profile: str = "thesis", seed: int = 0, variant: str = "random",
               eps_255=(0.3, 8.0), samples: int = 8, images: int = 300, batch_size: int = 100,
               attack_seed: int = 0) -> dict:
    """Per budget, the Random-control model's accuracy behind its blur under PGD with BPDA and with EOT."""
    import workflow  # noqa: F401  (first: TensorFlow's environment, and quiet)
    import mlflow
    import numpy as np
    import tensorflow as tf

    from bench.keep_mask_shift import Missing, finished_run
    from classifiers import predict_labels
    from defense.transforms import TestTransform
    from evaluation.orders import attack_cell, subset_indices
    from evaluation.paired import mcnemar_exact
    from evaluation.statistics import wilson_interval
    from heatmaps.random_scores import random_scores
    from workflow import data as workflow_data
    from workflow import models, profiles
    from workflow.tracking import log

    if samples < 1 or images < 1:
        raise SystemExit(f"error: samples and images must be >= 1. Received: samples={samples}, images={images}")
    settings = profiles.changed(profiles.resolve(profile), seed=seed)
    loaded = workflow_data.load(settings, data)
    client = mlflow.MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    experiment = client.get_experiment_by_name("pixel-importance")
    if experiment is None:
        raise SystemExit(f"error: no experiment 'pixel-importance'. Received: tracking_uri={tracking_uri!r}")
    try:
        trained = finished_run(
            client, experiment.experiment_id, f"tags.step = 'train' and tags.variant = '{variant}' and tags.profile = "
            f"'{profile}' and params.seed = '{seed}' and params.data_fingerprint = '{loaded.fingerprint}'",
            f"{variant} model of seed {seed} on these images (tracking_uri={tracking_uri!r})")
    except Missing as error:
        raise SystemExit(f"error: {error}") from None
    model = models.load(trained.info.run_id)
    keep, sigma = float(settings["keep_fraction"]), float(settings["sigma"])
    mask_seed = int(settings["random_heatmap_seed"])
    attack = profiles.attack_params(settings, "pgd")
    deployed = TestTransform("random", explainer=model, sigma=sigma, keep_fraction=keep,
                             heatmap_params={"seed": mask_seed})
    chosen = subset_indices(len(loaded.split.x_test), images)  # evenly spaced: the classes stay balanced
    x, y = loaded.split.x_test[chosen], loaded.split.y_test[chosen]

    def judged(batch):
        return predict_labels(model, deployed(batch), batch_size) == y

    bpda = loss_gradient(model, lambda x_, step, sample: random_scores(x_, mask_seed), 1, keep, sigma)

    def drawn(x_, step, sample):  # a mask independent of the image, new for every step and sample
        return tf.random.stateless_uniform(tf.shape(x_), seed=tf.stack([attack_seed * 1000003 + step,
                                                                           tf.constant(sample, tf.int64)]))

    eot = loss_gradient(model, drawn, samples, keep, sigma)
    clean = judged(x)
    rows = []
    for budget in eps_255:
        eps = float(budget) / 255.0
        start = np.random.default_rng(attack_seed).uniform(-eps, eps, size=x.shape).astype(np.float32)
        outcome = {}
        log(f"eps {budget:g}/255: the grid's adaptive PGD")
        pipeline = attack_cell(model, deployed, x, y, "pgd", "adaptive", batch_size=batch_size, seed=attack_seed,
                               **{**attack, "eps": eps})  # the grid's adaptive PGD, the reference for BPDA here
        outcome["pipeline"] = predict_labels(model, pipeline.images, batch_size) == y  # already behind the blur
        for name, gradient in (("bpda", bpda), ("eot", eot)):
            log(f"eps {budget:g}/255: PGD with the {name.upper()} gradient")
            adversarial = np.concatenate([
                pgd(model, x[i:i + batch_size], y[i:i + batch_size], eps, int(attack["max_iter"]),
                    float(attack["step_fraction"]), gradient, start[i:i + batch_size])
                for i in range(0, len(x), batch_size)])
            outcome[name] = judged(adversarial)
        b = int(np.sum(outcome["bpda"] & ~outcome["eot"]))  # broken by EOT only
        c = int(np.sum(~outcome["bpda"] & outcome["eot"]))  # broken by BPDA only
        rows.append({"eps_255": float(budget),
                     **{f"{name}_correct": int(right.sum()) for name, right in outcome.items()},
                     **{f"{name}_ci95": [round(100 * v, 1) for v in wilson_interval(int(right.sum()), len(x))]
                        for name, right in outcome.items()},
                     "broken_by_eot_only": b, "broken_by_bpda_only": c, "mcnemar_p": mcnemar_exact(b, c)})
    return {"profile": profile, "seed": seed, "variant": variant, "model_run_id": trained.info.run_id,
            "images": int(len(x)), "clean_correct": int(clean.sum()), "samples": samples,
            "pgd": {k: attack[k] for k in ("max_iter", "step_fraction", "num_random_init")},
            "attack_seed": attack_seed, "rows": rows}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--profile", default="thesis")
    parser.add_argument("--seed", type=int, default=0, help="training seed of the model (default 0)")
    parser.add_argument("--variant", default="random", help="model to attack behind the random blur")
    parser.add_argument("--eps", default="0.3,8", help="budgets x 1/255, comma-separated (default 0.3,8)")
    parser.add_argument("--samples", type=int, default=8, help="masks averaged per EOT step (default 8)")
    parser.add_argument("--images", type=int, default=300, help="N evenly spaced test images (default 300: all)")
    parser.add_argument("--attack-seed", type=int, default=0, help="seed of the random start and EOT masks")
    args = parser.parse_args()
    from evaluation.curves import parse_curve_eps  # the project's one parser of budgets in units of 1/255

    try:
        budgets = parse_curve_eps(args.eps)
    except ValueError:
        budgets = ()
    if not budgets:
        raise SystemExit(f"error: --eps must be non-negative budgets x 1/255, comma-separated. Received: eps={args.eps!r}")
    result = eot_random(args.tracking_uri, args.data, args.profile, args.seed, args.variant, budgets,
                        args.samples, args.images, attack_seed=args.attack_seed)
    n = result["images"]
    print(f"{result['variant']} model of seed {result['seed']} behind the random blur, {n} test images, clean "
          f"{100 * result['clean_correct'] / n:.1f}%; PGD {result['pgd']['max_iter']} steps, EOT over "
          f"{result['samples']} masks:\n")
    print("| eps (/255) | grid's adaptive PGD | PGD, BPDA | PGD, EOT | broken by EOT only / BPDA only | "
          "p (exact McNemar) |\n|---|---|---|---|---|---|")
    for row in result["rows"]:
        print(f"| {row['eps_255']:g} | {100 * row['pipeline_correct'] / n:.1f}% {row['pipeline_ci95']} | "
              f"{100 * row['bpda_correct'] / n:.1f}% {row['bpda_ci95']} | "
              f"{100 * row['eot_correct'] / n:.1f}% {row['eot_ci95']} | {row['broken_by_eot_only']} / "
              f"{row['broken_by_bpda_only']} | {row['mcnemar_p']:.2g} |")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
