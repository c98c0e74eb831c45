"""Cost of the adaptive rows on ResNet50, relative to one gradient pass over the same images (measured here).

    PYTHONPATH=. python bench/adaptive_bench.py --images 300 --square-queries 20

For each test transform T (entire blur, a gradient heatmap blur, a PGD heatmap
blur) it times adaptive FGSM and adaptive PGD (``--pgd-steps``) on f o T over
``--images`` images, and one Square query on ``--square-images`` images (three
predictions of f o T, as ART's SquareAttack makes per iteration while every
image is still robust, which at the thesis' 0.3/255 they nearly all stay),
and prints seconds and the ratio to one gradient pass of f over the same
images, measured in the same run. The model is untrained: the costs do not
depend on its weights.
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
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--pgd-steps", type=int, default=20)
    parser.add_argument("--square-queries", type=int, default=20)
    parser.add_argument("--square-images", type=int, default=60)
    parser.add_argument("--curve-images", type=int, default=100)
    parser.add_argument("--transforms", default="blur,gradient,pgd")
    args = parser.parse_args()

    import numpy as np

    import attacks
    import classifiers
    import evaluation
    import heatmaps
    from defense import TestTransform

    classifiers.make_deterministic(0)
    model = classifiers.build("resnet50", 3)
    rng = np.random.default_rng(0)
    x = rng.random((args.images, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 3, args.images)

    def timed(function, repeat=1):
        function()  # compile / warm up
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        return (time.perf_counter() - started) / repeat

    reference = timed(lambda: heatmaps.compute(model, x, "gradient", batch_size=128), repeat=2)
    result = {"images": args.images, "gradient_pass_s": round(reference, 3), "transforms": {}}
    eps = 0.3 / 255
    for name in args.transforms.split(","):
        transform = TestTransform(name, explainer=model if name not in ("original", "blur") else None, sigma=4.0)
        row = {}
        row["fgsm_adaptive_s"] = timed(lambda: evaluation.attack_inputs(model, transform, x, y, "fgsm", "adaptive",
                                                                        eps=eps))
        row["pgd_adaptive_s"] = timed(lambda: evaluation.attack_inputs(model, transform, x, y, "pgd", "adaptive",
                                                                       eps=eps, max_iter=args.pgd_steps))
        defended = evaluation.defended_classifier(model, transform)
        estimator = attacks.compiled_estimator(defended, "logits", 128)
        started = time.perf_counter()
        for _ in range(3):  # one Square query = one prediction of the remaining images (plus two of their losses)
            estimator.predict(x[:args.square_images])
        per_query = 3 * (time.perf_counter() - started) / 3
        row["square_per_query_s"] = per_query
        row["square_1000_queries_s"] = 1000 * per_query
        result["transforms"][name] = {k: round(v, 3) for k, v in row.items()} | {
            k.replace("_s", "_ratio"): round(v / reference, 2) for k, v in row.items() if k.endswith("adaptive_s")}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
