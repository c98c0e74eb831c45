"""How far each heatmap's keep mask moves when the image moves by the thesis' FGSM budget.

    PYTHONPATH=. python bench/keep_mask_shift.py --tracking-uri sqlite:////work/thesis-store/mlflow.db \
        --data ../shared/data/cifar10-jpg --profile thesis --seed 0

BPDA differentiates the heatmap blur with its keep mask held fixed; a defense
whose mask moves under perturbations of the attack's size is then attacked
with the wrong gradient, and a query-based attack (Square) can do better.
This measures the premise. For the profile's explainer (the Original model of
``--seed``) on the test images, per heatmap method: the keep-mask IoU between
x and

* ``fgsm on explainer``: the FGSM images the reproduction stored for the
  explainer (its ``fgsm before original`` attack run at the profile's
  ``fgsm_eps``, all test images): the perturbation most aligned with a
  gradient heatmap of that model;
* ``fgsm on its model``: the FGSM images stored for the model trained on the
  method's blurred images: the A(x) that this model's ``_A`` rows blur;
* ``random signs``: x moved by the same L-inf budget in random directions
  (not adversarial, seeded);
* ``recomputed``: x itself again (1.0 unless the heatmaps are not
  deterministic).

Of two equally large masks with IoU u, a share 2u / (1 + u) of the kept
pixels stays kept.

Every stored run it needs is looked up before any heatmap is computed: a
missing explainer stops it at once; a method whose trained model (or its FGSM
run) is not in the store yet loses only its ``fgsm on its model`` column, and
the output names it (``missing``).

Reads the tracking store; writes nothing. Prints a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Missing(LookupError):
    """A stored run the measurement needs is not in the store."""


def finished_run(client, experiment: str, query: str, what: str):
    """The newest FINISHED run of ``experiment`` matching ``query``; :class:`Missing` naming ``what`` if none."""
    runs = client.search_runs([experiment], query + " and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"])
    if not runs:
        raise Missing(f"no finished {what} in the store. Received: filter={query!r}")
    return runs[0]


def keep_mask_shift(tracking_uri: str, data: str, profile: str = "thesis", seed: int = 0,
                    noise_seed: int = 0) -> dict:
    """Per heatmap method, mean and quartiles of the keep-mask IoU of x against the moved images above."""
    import mlflow
    import numpy as np

    import blur
    import defense
    import heatmaps
    from workflow import data as workflow_data
    from workflow import models, profiles, tracking

    settings = profiles.changed(profiles.resolve(profile), seed=seed)
    loaded = workflow_data.load(settings, data)
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name("pixel-importance")
    if found is None:
        raise SystemExit(f"error: no experiment 'pixel-importance'. Received: tracking_uri={tracking_uri!r}")
    experiment = found.experiment_id
    same = f"tags.profile = '{profile}' and params.seed = '{seed}' and params.data_fingerprint = " \
           f"'{loaded.fingerprint}'"
    eps = profiles.attack_params(settings, "fgsm")["eps"]

    def fgsm_of(variant: str):
        """The variant's model and its stored FGSM run on all original test images at the profile's budget."""
        trained = finished_run(client, experiment, f"tags.step = 'train' and tags.variant = '{variant}' and {same}",
                       f"{variant} model of seed {seed} on these images (data={data!r})")
        attacked = [r for r in client.search_runs(
            [experiment], f"tags.step = 'attack' and tags.attack = 'fgsm' and tags.test_set = 'original' and "
            f"params.model_run_id = '{trained.info.run_id}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"])
            if "images" not in r.data.params and float(r.data.params["attack.eps"]) == eps]
        if not attacked:
            raise Missing(f"no stored FGSM run on all original test images at eps={eps} for the "
                          f"{variant} model of seed {seed}. Received: tracking_uri={tracking_uri!r}")
        return trained, tracking.load_arrays(attacked[0].info.run_id, "adversarial.npz")

    try:
        explainer, on_explainer = fgsm_of("none")
    except Missing as error:
        raise SystemExit(f"error: {error}") from None
    own_variant = {record.heatmap: variant for variant, record in defense.variants().items() if record.heatmap}
    on_its_model, missing = {}, {}
    for method in heatmaps.METHODS:  # every lookup before the first heatmap: a gap is found in seconds
        if method in own_variant:
            try:
                on_its_model[method] = {"fgsm on its model": fgsm_of(own_variant[method])[1]["images"]}
            except Missing as error:
                missing[method] = str(error)
    x = loaded.split.x_test
    if not np.array_equal(on_explainer["indices"], np.arange(len(x))):
        raise SystemExit(f"error: the stored FGSM images are not the whole test set. Received: "
                         f"indices={on_explainer['indices'][:5]}...")
    signs = np.random.default_rng(noise_seed).choice(np.array([-1.0, 1.0], np.float32), size=x.shape)
    randomly_moved = np.clip(x + eps * signs, 0.0, 1.0).astype(np.float32)
    model = models.load(explainer.info.run_id)
    rows = {}
    for method in heatmaps.METHODS:
        params = profiles.heatmap_params(settings, method)
        reference = heatmaps.compute(model, x, method, **params)
        moved = {"fgsm on explainer": on_explainer["images"], **on_its_model.get(method, {}),
                 "random signs": randomly_moved, "recomputed": x}
        rows[method] = {}
        for name, images in moved.items():
            iou = blur.keep_mask_iou(reference, heatmaps.compute(model, images, method, **params),
                                     settings["keep_fraction"])
            rows[method][name] = {"mean": float(iou.mean()), "q25": float(np.quantile(iou, 0.25)),
                                  "q75": float(np.quantile(iou, 0.75))}
    return {"profile": profile, "seed": seed, "eps": eps, "images": int(len(x)),
            "keep_fraction": settings["keep_fraction"], "explainer_run_id": explainer.info.run_id,
            "data_fingerprint": loaded.fingerprint, "iou": rows, "missing": missing}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--profile", default="thesis")
    parser.add_argument("--seed", type=int, default=0, help="training seed of the explainer (default 0)")
    parser.add_argument("--noise-seed", type=int, default=0, help="seed of the random signs (default 0)")
    args = parser.parse_args()
    result = keep_mask_shift(args.tracking_uri, args.data, args.profile, args.seed, args.noise_seed)
    names = list(dict.fromkeys(name for row in result["iou"].values() for name in row))
    print(f"Keep-mask IoU against x ({result['images']} test images, eps = {result['eps'] * 255:g}/255, "
          f"seed {result['seed']}; mean [quartiles]):\n")
    print("| method | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for method, row in result["iou"].items():
        print(f"| {method} | " + " | ".join(f"{row[n]['mean']:.3f} [{row[n]['q25']:.3f}, {row[n]['q75']:.3f}]"
                                            if n in row else "—" for n in names) + " |")
    for method, reason in result["missing"].items():
        print(f"\n{method}: fgsm on its model not measured: {reason}")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
