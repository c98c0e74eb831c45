"""The report's text sections that write no file: each returns Markdown lines computed from the collected cells
(and flags, stage times, overlap): which models each seed has evaluated, the summary, the Square subset, the
training noise, the keep-mask overlap, the perturbation sizes and the processors the steps ran on."""

from __future__ import annotations

import pandas as pd

import attacks
import defense
from evaluation.grid import CLEAN
from results.processors import mixed_seeds
from results.stage_times import thesis_seconds
from results.tables import cell_summary, column_labels, format_cell, model_labels, size_table, unbounded_attacks
from results.text_tables import markdown
from results.thesis import thesis_accuracy

SAME_PIXELS_IOU = 0.99  # above it, two heatmap methods keep "the same pixels"


def coverage_lines(cells: pd.DataFrame, requested: tuple[int, ...] = ()) -> list[str]:
    """Which models each seed has evaluated so far (a reproduction in progress, or a ``variants`` subset), and
    every ``requested`` seed with none; with an incomplete seed, a note that cells mix seed counts."""
    labels = model_labels()
    lines = []
    evaluated = _evaluated(cells)
    for seed in sorted(set(evaluated) | set(requested)):
        present = evaluated.get(seed, set())
        done = [label for variant, label in labels.items() if variant in present]
        missing = [label for variant, label in labels.items() if variant not in present]
        lines.append(f"- Seed {seed}: {len(done)} of {len(labels)} models evaluated"
                     + (f"; not evaluated: {', '.join(missing)}." if missing else "."))
    if incomplete_seeds(cells, requested) and len(evaluated) > 1:
        lines.append("- Not every seed has every model: a cell's mean is over the seeds that measured it (the "
                     "tables give each cell's count), so cells of different models can rest on different seeds.")
    return ["Models evaluated:", "", *lines, ""] if lines else []


def _evaluated(cells: pd.DataFrame) -> dict[int, set[str]]:
    """Seed -> the variants it has evaluated."""
    return {int(seed): set(group["variant"]) for seed, group in cells.groupby("seed", sort=True)}


def incomplete_seeds(cells: pd.DataFrame, requested: tuple[int, ...] = ()) -> list[int]:
    """The seeds (evaluated, or ``requested``) that lack some model another seed evaluated, or every model."""
    evaluated = _evaluated(cells)
    every = set().union(*evaluated.values()) if evaluated else set()
    return [seed for seed in sorted(set(evaluated) | set(requested)) if not every or evaluated.get(seed, set()) < every]


def own_clean_cells(cells: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The clean cells (every seed) of ``variant``'s model on its own test set."""
    own = defense.variant(variant).name
    return cells[(cells["variant"] == variant) & (cells["test_set"] == own) & (cells["attack"] == CLEAN)]


def summary_lines(cells: pd.DataFrame, thesis: pd.DataFrame, fidelity: pd.DataFrame, masking: pd.DataFrame,
                  stages: pd.DataFrame | None) -> list[str]:
    """The report's opening: each model's clean accuracy on its own test set beside the thesis', the fidelity
    (:func:`results.fidelity_summary`) in one line, the gradient-masking flags by check, the step work per seed."""
    labels, columns = model_labels(), column_labels()
    rows = []
    for variant in [v for v in labels if v in set(cells["variant"])]:
        own = defense.variant(variant).name
        clean = own_clean_cells(cells, variant)
        theirs = thesis_accuracy(thesis, labels[variant], labels[variant], columns.get(own))
        rows.append({"model": labels[variant], "clean, own test set (%)": format_cell(cell_summary(clean)),
                     "thesis (%)": "—" if pd.isna(theirs) else f"{theirs:.2f}"})
    lines = ["## Summary", "", markdown(pd.DataFrame(rows).set_index("model"), "model"), ""]
    overall = fidelity.set_index("row_kind")
    if "all" in overall.index and overall.loc["all", "cells"] > 0:
        row = overall.loc["all"]
        scaled = ("" if pd.isna(row["mean_abs_difference_scaled"]) else
                  f"; over the attacked cells {row['mean_abs_difference_scaled']:.1f} pp given our clean accuracy "
                  f"({row['mean_abs_difference_unscaled']:.1f} pp unscaled)")
        lines += [f"- Fidelity: mean |ours - thesis| {row['mean_abs_difference']:.1f} pp over {int(row['cells'])} "
                  f"cells, the thesis' value inside our 95% interval in {int(row['thesis_inside'])}"
                  + (f" (of {int(row['intervals'])} with an interval)" if row["intervals"] < row["cells"] else "")
                  + f"{scaled}."]
    counts = masking["check"].value_counts() if not masking.empty else pd.Series(dtype=int)
    lines += ["- Gradient-masking flags: " + ("none." if counts.empty else "; ".join(
        f"{check}: {n} cell{'s' if n > 1 else ''}" for check, n in counts.items()) + ".")]
    if stages is not None and not stages.empty:
        per_seed = stages.groupby("seed")["seconds"].sum() / 60.0
        own = thesis_seconds(stages, thesis["row"]) / 60.0
        lines += ["- Step work: " + ", ".join(f"seed {seed} {minutes:.0f} min ({own[seed]:.0f} in the "
                                              "thesis' stages)" for seed, minutes in per_seed.items())
                  + "; wall time per stage below."]
    return [*lines, ""]


def subset_lines(cells: pd.DataFrame) -> list[str]:
    """A line for each attack that ran on fewer test images than the clean cells (Square: ``square_images``)."""
    clean = cells.loc[cells["attack"] == CLEAN, "n"].dropna()
    if clean.empty:
        return []
    total, lines = int(clean.max()), []
    for attack, group in cells[cells["attack"] != CLEAN].groupby("attack", sort=True):
        used = group["n"].dropna()
        if attack not in attacks.ATTACKS or used.empty or int(used.max()) >= total:
            continue
        key = attacks.get(attack).images_key
        lines.append(f"{attacks.get(attack).label} rows: {int(used.max())} of the {total} test images per cell "
                     f"(evenly spaced{f', `{key}`' if key else ''}); their accuracy is of those images, whose "
                     "clean accuracy differs from all images'. The gradient-masking checks compare them with the "
                     "white-box attacks on the same images.")
    return [*lines, ""] if lines else []


def seed_noise_lines(cells: pd.DataFrame) -> list[str]:
    """Training noise beside test-image noise: for each model evaluated with several seeds, its clean accuracy
    on its own test set per seed, their spread, and the 95% Wilson half-width of one seed's test images."""
    rows = []
    for variant, label in model_labels().items():
        clean = own_clean_cells(cells, variant).sort_values("seed")
        if clean["seed"].nunique() < 2:
            continue
        accuracy = 100 * clean["accuracy"].astype(float)
        rows.append({"model": label, "seeds": len(clean),
                     "clean accuracy per seed (%)": ", ".join(f"{s}: {a:.1f}" for s, a in zip(clean["seed"], accuracy)),
                     "std over seeds (pp)": f"{accuracy.std(ddof=1):.1f}",
                     "range (pp)": f"{accuracy.max() - accuracy.min():.1f}",
                     "one seed's 95% half-width (pp)":
                         f"{(50 * (clean['ci95_high'] - clean['ci95_low']).astype(float)).mean():.1f}"})
    if not rows:
        return []
    return ["## Training noise and test-image noise", "",
            "Each model's clean accuracy on its own test set, per training seed (the images fixed): the spread over "
            "seeds is training noise, which one seed's Wilson interval (test-image noise) does not contain. Where "
            "the spread is as large as the half-width, a difference between two single models says little about "
            "their recipes.", "", markdown(pd.DataFrame(rows).set_index("model"), "model"), ""]


def overlap_lines(overlap: pd.DataFrame | None) -> list[str]:
    """The keep-mask overlap table (mean IoU per pair of methods) and what it says about LRP-epsilon."""
    if overlap is None or overlap.empty:
        return []
    labels = column_labels()

    def name(method: str) -> str:
        base, _, epsilon = method.partition("@")
        return labels.get(base, base) + (f" (epsilon={epsilon})" if epsilon else "")

    seeds = sorted(set(overlap["seed"])) if "seed" in overlap else []
    ordered = [tuple(sorted(pair)) for pair in zip(overlap["method_a"], overlap["method_b"])]  # (a, b) = (b, a)
    overlap = overlap.assign(method_a=[a for a, _ in ordered], method_b=[b for _, b in ordered])
    overlap = overlap.groupby(["method_a", "method_b"], sort=False, as_index=False).agg(
        mean_iou=("mean_iou", "mean"), images=("images", "min"))  # the mean over the seeds' explainers
    methods = list(dict.fromkeys([*overlap["method_a"], *overlap["method_b"]]))
    matrix = pd.DataFrame(float("nan"), index=[name(m) for m in methods], columns=[name(m) for m in methods])
    for method in methods:
        matrix.loc[name(method), name(method)] = 1.0
    for row in overlap.itertuples():
        matrix.loc[name(row.method_a), name(row.method_b)] = row.mean_iou
        matrix.loc[name(row.method_b), name(row.method_a)] = row.mean_iou
    names = [str(seed) if seed >= 0 else "unrecorded" for seed in seeds]
    explainers = (f", the mean over the explainers (Original models) of seeds {', '.join(names)} (a pair measured "
                  "by fewer of them: the mean over those)" if len(seeds) > 1
                  else f", by the explainer (Original model) of seed {names[0]}" if seeds else "")
    lines = ["## Keep-mask overlap", "",
             f"Mean intersection over union of the kept pixels, over {int(overlap['images'].iloc[0])} test images"
             f"{explainers} (1 = the same pixels kept; two independent random 15% masks give about 0.08).", "",
             markdown(matrix.map(lambda v: "—" if pd.isna(v) else f"{v:.3f}"), "mean IoU"), ""]
    pair = overlap[((overlap["method_a"] == "input_x_gradient") & (overlap["method_b"] == "lrp_eps"))
                   | ((overlap["method_a"] == "lrp_eps") & (overlap["method_b"] == "input_x_gradient"))]
    if len(pair):
        iou = float(pair["mean_iou"].iloc[0])
        lines += [(f"LRP-epsilon at the profile's epsilon (`lrp_epsilon`; 1e-7 unless set, iNNvestigate's default: "
                   f"the thesis gives none) keeps the pixels Input x Gradient keeps (mean IoU {iou:.4f}): at so "
                   "small an epsilon the epsilon rule is the gradient times the input, and the LRP-eps and In*Grad "
                   "models are trained on practically the same images. The rows with a larger epsilon show how "
                   "far that changes.") if iou >= SAME_PIXELS_IOU else
                  (f"LRP-epsilon at the profile's epsilon (`lrp_epsilon`) and Input x Gradient keep different "
                   f"pixels (mean IoU {iou:.4f}): their models are trained on different images."), ""]
    return lines


def sizes_lines(cells: pd.DataFrame) -> list[str]:
    """Median perturbation sizes of the unbounded attacks (no eps budget), beside their accuracies."""
    unbounded = unbounded_attacks(cells)
    if not unbounded or "l2" not in cells:
        return []
    lines = ["## Perturbation sizes of the unbounded attacks", "",
             "Accuracy %, then the median L2 and L-inf size of what the attack changed (on [0, 1] pixels; "
             "a 32x32x3 image changed by 8/255 everywhere has L2 = 1.74).", ""]
    for variant in [v for v in model_labels() if v in set(cells["variant"])]:
        table = size_table(cells, variant, unbounded)
        if not table.empty:
            lines += [f"### Model trained on {model_labels()[variant]}", "", markdown(table, "attack"), ""]
    return lines


def processor_lines(processors: pd.DataFrame | None) -> list[str]:
    """Which kind of processor each seed's step runs ran on (:func:`results.processor_table`), with a warning
    for a seed that ran on more than one."""
    if processors is None or processors.empty:
        return []
    shown = processors.assign(minutes=processors["minutes"].map(lambda m: f"{m:.1f}"))
    lines = ["## Processors", "",
             "The kind of processor each seed's step runs ran on (tags `machine.processor` and `machine.isa`, a "
             "hash of its feature flags) and the minutes of their own work. TensorFlow's CPU kernels follow the "
             "processor's instruction sets, so the same code and seed give other models on another kind: expect "
             "these numbers again on the same kind only.", "", markdown(shown.set_index("seed"), "seed"), ""]
    for seed in mixed_seeds(processors):
        lines += [f"**Seed {seed} ran on more than one kind of processor**: its models and attacks are not what "
                  "either would give alone.", ""]
    return lines
