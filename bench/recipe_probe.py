"""Training-recipe probe: one model trained on the thesis' training images, judged on a held-out part of them.

    PYTHONPATH=. python bench/recipe_probe.py --data ../shared/data/cifar10-jpg --model resnet50 \
        --epochs 30 --batch-size 64 --learning-rate 2e-3 --optimizer adamw --weight-decay 0.05 \
        --warmup-epochs 2 --schedule cosine --label-smoothing 0.1 --augment --recalibrate-bn

Recipes are compared on validation images held out from the thesis' 400
training images per class (``--val-per-class``, drawn with a fixed seed):
the test images choose nothing. Prints, as JSON: training and validation
accuracy of the last epoch's weights before and after the BatchNorm
statistics are re-estimated (on the training images in a seeded shuffled
order, as the pipeline does, and in their stored order, class by class),
the seconds per training epoch (the median
of the epochs after the first, which also builds and traces the model), and
their ratio to one gradient pass (a heatmap; the median of three) over the
same images, measured in the same run. ``--test`` adds the test-image accuracy of this one model, for the
record only (do not pick a recipe with it).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--val-per-class", type=int, default=80)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--warmup-epochs", type=int, default=0)
    parser.add_argument("--schedule", default="constant")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--recalibrate-bn", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test", action="store_true", help="also report test accuracy (record only)")
    args = parser.parse_args()

    import keras
    import numpy as np

    import classifiers
    import heatmaps
    from cifar10 import load_split

    split = load_split(args.data, "airplane,automobile,bird", "thesis", 500, 400, 0)
    rng = np.random.default_rng(1234)
    val = np.concatenate([rng.permutation(np.flatnonzero(split.y_train == c))[: args.val_per_class]
                          for c in range(split.num_classes)])
    fit = np.setdiff1d(np.arange(len(split.y_train)), val)
    x_fit, y_fit, x_val, y_val = split.x_train[fit], split.y_train[fit], split.x_train[val], split.y_train[val]
    recipe = classifiers.Recipe(args.epochs, args.batch_size, args.learning_rate, args.optimizer, args.weight_decay,
                                args.warmup_epochs, args.schedule, args.label_smoothing, args.augment, False)

    classifiers.make_deterministic(args.seed)
    model = classifiers.build(args.model, split.num_classes)
    heatmaps.compute(model, x_fit[:128], "gradient")  # trace once
    passes = []
    for _ in range(3):
        started = time.perf_counter()
        heatmaps.compute(model, x_fit, "gradient")
        passes.append(time.perf_counter() - started)
    gradient_seconds = float(np.median(passes))

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.began)

    timer = EpochTimes()
    history = classifiers.train(model, x_fit, y_fit, recipe, seed=args.seed, callbacks=[timer])
    epoch_times = timer.seconds
    epoch_seconds = float(np.median(epoch_times[1:] or epoch_times))

    def accuracy(x, y):
        return float((classifiers.predict_labels(model, x) == y).mean())

    result = {"recipe": {**recipe.params(), "recalibrate_bn": args.recalibrate_bn}, "train_images": len(x_fit),
              "val_images": len(x_val),
              "last_epoch_train_accuracy_augmented": float(history.history["accuracy"][-1]),
              "before_recalibration": {"train": accuracy(x_fit, y_fit), "val": accuracy(x_val, y_val)}}
    if args.recalibrate_bn:
        trained = model.get_weights()
        classifiers.recalibrate_batchnorm(model, x_fit, seed=args.seed)  # shuffled, as the pipeline does
        result["after_recalibration"] = {"train": accuracy(x_fit, y_fit), "val": accuracy(x_val, y_val)}
        model.set_weights(trained)
        classifiers.recalibrate_batchnorm(model, x_fit, seed=None)  # class by class, in the stored order
        result["after_recalibration_class_order"] = {"train": accuracy(x_fit, y_fit), "val": accuracy(x_val, y_val)}
    if args.test:
        result["test_accuracy_record_only"] = accuracy(split.x_test, split.y_test)
    result.update(epoch_seconds=round(epoch_seconds, 2), first_epoch_seconds=round(epoch_times[0], 2),
                  gradient_pass_seconds=round(gradient_seconds, 2),
                  epoch_over_gradient_pass=round(epoch_seconds / gradient_seconds, 2))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
