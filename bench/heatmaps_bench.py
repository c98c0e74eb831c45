"""Heatmap throughput on Keras ResNet50 at 32x32, relative to one plain gradient.

    python bench/heatmaps_bench.py [--images 256] [--batch-size 128] [--repeats 3]

Every method runs through ``heatmaps.compute`` (compiled, batched) on the
same random images and untrained ResNet50 in one process; each figure is the
median of ``--repeats`` timed runs after one warm-up run (tracing excluded).
The goal of issue 2: lrp_eps costs at most 1.5x input_x_gradient.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import keras
    import numpy as np

    import heatmaps

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3, classifier_activation=None)
    images = np.random.default_rng(0).random((args.images, 32, 32, 3)).astype(np.float32)

    seconds = {}
    for method in heatmaps.METHODS:
        heatmaps.compute(model, images[: args.batch_size], method, batch_size=args.batch_size)  # trace
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            heatmaps.compute(model, images, method, batch_size=args.batch_size)
            runs.append(time.perf_counter() - start)
        seconds[method] = statistics.median(runs)

    print(f"ResNet50 32x32, {args.images} images, batch {args.batch_size}, median of {args.repeats}")
    print(f"{'method':<18}{'images/s':>10}{'x gradient':>12}{'x input_x_gradient':>20}")
    for method, value in seconds.items():
        print(f"{method:<18}{args.images / value:>10.1f}{value / seconds['gradient']:>12.2f}"
              f"{value / seconds['input_x_gradient']:>20.2f}")
    ratio = seconds["lrp_eps"] / seconds["input_x_gradient"]
    print(f"lrp_eps / input_x_gradient = {ratio:.2f} (goal <= 1.5)")
    return {"seconds": seconds, "lrp_over_input_x_gradient": ratio}


if __name__ == "__main__":
    main()
