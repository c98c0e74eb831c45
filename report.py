"""Entry point `report`: Tables 4.1-4.5 and Figures 4.2-4.5 rebuilt from the tracking server.

    mlflow run . --env-manager local -e report -P profile=quick -P data=../shared/data/cifar10-jpg
    python report.py --profile thesis --output reports
    python report.py --profile thesis --seeds 0          # one seed's runs only

Writes Markdown, CSV and LaTeX tables (ours, the thesis', the difference),
bar charts, the findings (``findings.md`` with its forest plot) and a heatmap
gallery to ``<output>/<profile>/`` and logs them as artifacts
of a ``report`` run.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow is first imported

import workflow  # noqa: E402  (first: it sets up TensorFlow's environment and quiets its noise)
from pathlib import Path  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import blur  # noqa: E402
import findings  # noqa: E402
import results  # noqa: E402  (sets matplotlib's Agg backend)
import matplotlib.pyplot as plt  # noqa: E402
from cifar10 import load_split  # noqa: E402
from workflow import cli, tracking  # noqa: E402
from workflow.store_snapshot import PRUNED_KEY_TAG  # noqa: E402


GALLERY_IMAGES = 4


def report(profile: str = "thesis", output: str = "reports", data: str | None = None, seeds: str | None = None) -> dict:
    """Collect the profile's evaluate runs, write every table and figure, log them to the report's run.

    ``seeds``: e.g. ``"0"`` or ``"0,1"``: only those training seeds' runs (default: every seed's).
    """
    workflow.profiles.defaults(profile)  # an unknown profile is named before anything else
    chosen = workflow.profiles.parse_seeds(seeds)
    experiment = mlflow.get_experiment(tracking.experiment_id()).name
    cells = results.of_seeds(results.collect(mlflow.get_tracking_uri(), experiment, profile=profile), chosen)
    if cells.empty:
        raise ValueError(f"No finished evaluate runs for this profile{' and seeds' if chosen else ''} in "
                         f"{mlflow.get_tracking_uri()}. Received: profile={profile!r}"
                         + (f", seeds={seeds!r}" if chosen else ""))
    folder = Path(output) / profile
    with workflow.entry_run("report", {"profile": profile, "base_profile": profile},
                            {"output": output, "data": data or "",
                             "seeds": ",".join(map(str, chosen)) or "all"}) as active:
        uri, experiment = mlflow.get_tracking_uri(), mlflow.get_experiment(tracking.experiment_id()).name
        curves = results.of_seeds(results.collect_curves(uri, experiment, profile=profile), chosen)
        overlap = results.of_seeds(results.collect_overlap(uri, experiment, profile=profile), chosen)
        stage_runs = results.collect_stage_runs(uri, experiment, profile)
        stages = results.of_seeds(results.stage_times(stage_runs), chosen)
        processors = results.of_seeds(results.processor_table(stage_runs), chosen)
        outcomes = results.collect_outcomes(uri, experiment, profile=profile, seeds=chosen)
        masking = results.masking_flags(cells, curves, outcomes)
        written = results.write_report(cells, folder, curves=curves, overlap=overlap, stages=stages,
                                       masking=masking, processors=processors, seeds=chosen)
        for seed in results.incomplete_seeds(cells, chosen):
            tracking.log(f"report: seed {seed} has not evaluated every model; each cell's mean is over the seeds "
                         "that measured it (see report.md, Models evaluated)")
        for seed in results.mixed_seeds(processors):
            tracking.log(f"report: seed {seed} ran on more than one kind of processor (see report.md, Processors)")
        written.append(_findings(outcomes, folder, masking))
        if data:
            gallery = _gallery(profile, data, folder)
            if gallery:
                written.append(gallery)
        mlflow.log_artifacts(str(folder), artifact_path="report")
        mlflow.log_metric("cells", len(cells))
        tracking.log(f"report: {len(written)} files in {folder}")
    return {"run_id": active.info.run_id, "folder": str(folder), "files": [str(p) for p in written],
            "variants": sorted(set(cells["variant"]))}


def _findings(outcomes: dict, folder: Path, masking) -> Path:
    """``findings.md`` (and its two tables as CSV): every claim's paired tests and computed verdict,
    with the gradient-masking flags on the systems each claim compares."""
    comparisons, claims = findings.evaluate_claims(outcomes)
    path = findings.write_findings(comparisons, claims, folder, masking)[-1]
    for verdict in claims.itertuples():
        tracking.log(f"claim {verdict.claim}: {verdict.verdict} ({verdict.comparisons} comparisons)")
    return path


def _gallery(profile: str, data: str, folder: Path) -> Path | None:
    """A few test images with each method's heatmap and blurred version, all from one explainer's heatmaps runs
    (the one with the most methods, the earliest of those: seed 0's in a finished reproduction). Heatmaps left
    out of a store snapshot are not there to show: without any, there is no gallery."""
    client = mlflow.MlflowClient()
    runs = client.search_runs([tracking.experiment_id()], f"tags.step = 'heatmaps' and tags.profile = '{profile}' "
                              "and attributes.status = 'FINISHED'", order_by=["attributes.start_time ASC"])
    by_explainer: dict[str, dict] = {}
    for run in [r for r in runs if PRUNED_KEY_TAG not in r.data.tags]:  # oldest first: the newest run wins
        by_explainer.setdefault(run.data.params.get("explainer_run_id", ""), {})[run.data.tags["heatmap"]] = run
    if not by_explainer:
        tracking.log("report: no heatmaps in the store (a snapshot leaves them out): no heatmap gallery")
        return None
    newest = max(by_explainer.values(), key=len)  # the first explainer among those with the most methods
    params = next(iter(newest.values())).data.params
    split = load_split(data, params["classes"], "thesis", int(params["images_per_class"]),
                       int(params["train_per_class"]), int(params["data_seed"]))
    chosen = np.linspace(0, len(split.x_test) - 1, GALLERY_IMAGES).astype(int)
    images = split.x_test[chosen]
    evaluated = client.search_runs([tracking.experiment_id()], f"tags.step = 'evaluate' and tags.profile = '{profile}' "
                                   "and attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"],
                                   max_results=1)
    settings = evaluated[0].data.params if evaluated else workflow.resolve(profile)
    sigma, keep = float(settings["sigma"]), float(settings["keep_fraction"])
    maps, blurred = {}, {}
    for method in [m for m in results.column_labels() if m in newest]:
        maps[method] = tracking.load_arrays(newest[method].info.run_id, "heatmaps.npz")["test"][chosen]
        blurred[method] = blur.heatmap_blur(images, maps[method], keep, sigma)
    figure = results.heatmap_gallery(images, maps, blurred, blur.gaussian(images, sigma))
    path = folder / "figures" / "heatmap_gallery.png"
    figure.savefig(path)
    plt.close(figure)
    return path


def main(argv=None) -> int:
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--output", default="reports", help="folder for the report (a subfolder per profile)")
    p.add_argument("--seeds", default=None, help="only these training seeds' runs, e.g. 0 or 0,1 "
                                                 "(default: every seed's)")
    p.set_defaults(data="")  # images only for the heatmap gallery; without them, no gallery
    return cli.main(lambda a: report(a.profile, a.output, a.data or None, a.seeds), p, argv)


if __name__ == "__main__":
    raise SystemExit(main())
