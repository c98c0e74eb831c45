"""FGSM and NewtonFool: this project's engines against ART's stock estimator.

    python bench/attacks_bench.py [--images 256] [--batch-size 128] [--newtonfool-iter 10]

One process, one untrained Keras ResNet50 (32x32, 3 classes), the same
images for every engine. For each attack it prints seconds, the speed-up
over ART's ``TensorFlowV2Classifier`` (eager gradients), and the largest
absolute difference from ART's output. Engines:

* ``art``: ART's attack class on ART's stock estimator (the reference);
* ``compiled``: ART's attack class on this project's ``CompiledClassifier``;
* ``fast``: this project's whole-attack compiled FGSM / NewtonFool.

Each engine runs once untimed first (tracing excluded), then is timed: ART
once, the others the median of ``--repeats`` runs.
NewtonFool runs ``--newtonfool-iter`` iterations (ART's default is 100; the
stock engine needs minutes per 10 iterations here) and the per-iteration
figures are what scale.

An untrained ResNet50 predicts one class for every image; a trained one on
the thesis' test set predicts all three. ART's stock ``class_gradient`` runs
one eager pass per distinct label, so the head's bias is shifted until the
predictions split evenly over the classes, as a trained model's would. The
printed class count says what was measured. FGSM costs one gradient per batch
in every engine and is unaffected.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed(fn, repeats):
    fn()  # warm-up: tracing and ART set-up excluded
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - start)
    return out, statistics.median(runs)


def balance_predictions(model, images):
    """Shift the last Dense bias so that predicted classes split evenly over the images."""
    import numpy as np

    head = model.layers[-1]
    kernel, bias = head.get_weights()
    logits = model.predict(images, verbose=0)
    k = logits.shape[1]
    for _ in range(50):  # move each class's bias towards its own logit quantile
        quantiles = np.quantile(logits - logits.mean(1, keepdims=True), 1 - 1 / k, axis=0)
        bias = bias - quantiles
        head.set_weights([kernel, bias])
        logits = model.predict(images, verbose=0)
        if np.bincount(logits.argmax(1), minlength=k).min() >= len(images) // (2 * k):
            break
    return logits.argmax(1)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--newtonfool-iter", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the compiled and fast engines")
    args = parser.parse_args()

    import keras
    import numpy as np

    import attacks

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3, classifier_activation=None)
    rng = np.random.default_rng(0)
    images = rng.random((args.images, 32, 32, 3)).astype(np.float32)
    labels = balance_predictions(model, images)
    print(f"ResNet50 32x32, {args.images} images, batch {args.batch_size}; "
          f"predicted classes: {np.bincount(labels, minlength=3).tolist()}")

    results = {}
    for name, params in (("fgsm", {}), ("newtonfool", {"max_iter": args.newtonfool_iter})):
        outs, secs = {}, {}
        for engine in ("art", "compiled", "fast"):
            outs[engine], secs[engine] = timed(
                lambda: attacks.generate(model, images, labels, name, batch_size=args.batch_size,
                                         engine=engine, **params),
                repeats=1 if engine == "art" else args.repeats,
            )
        print(f"\n{name} {params or ''}")
        print(f"{'engine':<10}{'seconds':>10}{'speed-up vs art':>18}{'max |diff| vs art':>20}")
        for engine in ("art", "compiled", "fast"):
            diff = float(np.abs(outs[engine] - outs["art"]).max())
            print(f"{engine:<10}{secs[engine]:>10.2f}{secs['art'] / secs[engine]:>18.2f}{diff:>20.2e}")
        results[name] = {"seconds": secs, "speedup_fast": secs["art"] / secs["fast"],
                         "max_diff_fast": float(np.abs(outs["fast"] - outs["art"]).max())}
    return results


if __name__ == "__main__":
    main()
