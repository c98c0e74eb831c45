"""The thesis' figures: grouped bars per training set, and a heatmap gallery."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import attacks  # noqa: E402
import defense  # noqa: E402
from evaluation.grid import CLEAN  # noqa: E402
from evaluation.orders import ORDER_RECORDS  # noqa: E402
from results.tables import cell_summary, column_labels, model_labels, row_label  # noqa: E402

# Colours come from the test-set registry (the thesis': original dark grey, entire blur light grey,
# Gradient red, In*Grad yellow, LRP-eps green, PGD blue).


def bar_figure(cells: pd.DataFrame, attack: str, order: str) -> plt.Figure:
    """x: training set; per test set a light bar (clean) behind a dark bar (attacked), 95% CI whiskers.

    Where several seeds ran, each seed's attacked accuracy is a black dot over its bar.
    """
    labels = model_labels()
    variants = [v for v in labels if v in set(cells["variant"])]
    test_sets = defense.test_sets()
    figure, axes = plt.subplots(figsize=(11, 4.2), dpi=120)
    width = 0.8 / len(test_sets)
    for j, (test_set, record) in enumerate(test_sets.items()):
        x = np.arange(len(variants)) + (j - (len(test_sets) - 1) / 2) * width
        clean, attacked, errors = [], [], [[], []]
        for position, variant in zip(x, variants):
            mine = cells[(cells["variant"] == variant) & (cells["test_set"] == test_set)]
            c = cell_summary(mine[mine["attack"] == CLEAN])
            seeds = mine[(mine["attack"] == attack) & (mine["order"] == order)]
            a = cell_summary(seeds)
            if len(seeds) > 1:
                axes.scatter(np.full(len(seeds), position), 100 * seeds["accuracy"], s=4, color="black", zorder=3)
            clean.append(np.nan if c["mean"] is None else 100 * c["mean"])
            attacked.append(np.nan if a["mean"] is None else 100 * a["mean"])
            low = a["low"] if a["low"] is not None else a["mean"] if a["mean"] is not None else np.nan
            high = a["high"] if a["high"] is not None else a["mean"] if a["mean"] is not None else np.nan
            errors[0].append(100 * (a["mean"] - low) if a["mean"] is not None else 0)
            errors[1].append(100 * (high - a["mean"]) if a["mean"] is not None else 0)
        axes.bar(x, clean, width * 0.95, color=record.colour, alpha=0.3, edgecolor=record.colour, linewidth=0.6)
        axes.bar(x, attacked, width * 0.6, color=record.colour, yerr=errors, ecolor="black", capsize=1.5,
                 error_kw={"linewidth": 0.6}, label=record.label)
    axes.set_xticks(np.arange(len(variants)), [f"trained on\n{labels[v]}" for v in variants])
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(0, 100)
    axes.grid(axis="y", alpha=0.3)
    axes.set_title(bar_title(cells, attack, order))
    axes.legend(title="test set", ncols=len(test_sets), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    figure.tight_layout()
    return figure


def bar_title(cells: pd.DataFrame, attack: str, order: str) -> str:
    """What a bar chart shows: the row, how the attack meets the blur, and on how many images each bar is.

    A gradient-free attack that sees the defense queries the defended model (no BPDA); an attack run on a
    subset of the test images (Square) is not on the images of the clean bar behind it, which is said.
    """
    record = attacks.get(attack) if attack in attacks.ATTACKS else None
    how = ("queries the defended model (no gradients)" if record is not None and record.gradient_free
           and order == "adaptive" else ORDER_RECORDS[order].title)
    bars = "light: clean, dark: attacked"
    if "n" in cells:
        clean_n = cells.loc[cells["attack"] == CLEAN, "n"].max()
        attacked_n = cells.loc[(cells["attack"] == attack) & (cells["order"] == order), "n"].max()
        if pd.notna(clean_n) and pd.notna(attacked_n) and attacked_n < clean_n:
            bars = f"light: clean on all {int(clean_n)} test images, dark: attacked, on {int(attacked_n)} of them"
    return f"{row_label(attack, order)}: {how}\n({bars})"


def heatmap_gallery(images: np.ndarray, maps: dict, blurred: dict, entire_blur: np.ndarray) -> plt.Figure:
    """Rows: test images. Columns: image, entire blur, then per method its heatmap and blurred image."""
    methods = list(maps)
    columns = 2 + 2 * len(methods)
    figure, axes = plt.subplots(len(images), columns, figsize=(1.45 * columns, 1.5 * len(images)), dpi=120,
                                squeeze=False)
    for i in range(len(images)):
        panels = [("image", images[i], None), ("entire blur", entire_blur[i], None)]
        for method in methods:
            importance = np.abs(maps[method][i]).sum(axis=-1)
            panels.append((f"{column_labels()[method]} map", importance, "inferno"))
            panels.append((f"{column_labels()[method]} blur", blurred[method][i], None))
        for j, (title, picture, cmap) in enumerate(panels):
            axes[i, j].imshow(np.clip(picture, 0, 1) if cmap is None else picture, cmap=cmap)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(title, fontsize=7)
    figure.tight_layout()
    return figure


def curve_figure(curves: pd.DataFrame, variant: str) -> plt.Figure:
    """Accuracy against the L-inf budget for one model: a panel per test set, a line per attack and order.

    Bands: the 95% Wilson interval for one seed; over several, the interval of
    :func:`results.shared_images.cell_interval` (the seeds' spread and the
    test images' noise; the point is the mean over seeds).
    """
    from evaluation.statistics import wilson_interval
    from results.masking import CURVE_EPS_255, CURVE_LIMIT
    from results.shared_images import cell_interval

    mine = curves[curves["variant"] == variant]
    test_sets = list(dict.fromkeys(mine["test_set"]))
    panels = max(len(test_sets), 1)
    figure, axes = plt.subplots(1, panels, figsize=(max(5.2 * panels, 6.4), 4.0), dpi=120, squeeze=False)
    budgets = sorted(float(b) for b in mine["eps_255"].unique())
    styles = {"before": ":", "after": "--", "adaptive": "-"}
    for panel, test_set in zip(axes[0], test_sets):
        for (attack, order), line in mine[mine["test_set"] == test_set].groupby(["attack", "order"], sort=False):
            points = line.groupby("eps_255", sort=True).agg(accuracy=("accuracy", "mean"), correct=("correct", "sum"),
                                                            n=("n", "min"), seeds=("accuracy", "size"),
                                                            accuracies=("accuracy", list))
            bands = [wilson_interval(int(c), int(n)) if k == 1 else cell_interval(a, int(n))
                     for c, n, k, a in zip(points["correct"], points["n"], points["seeds"], points["accuracies"])]
            x = points.index.to_numpy(dtype=float)
            drawn = panel.plot(x, 100 * points["accuracy"], styles.get(order, "-"), marker="o", markersize=3,
                               label=row_label(attack, order))
            panel.fill_between(x, [100 * b[0] for b in bands], [100 * b[1] for b in bands],
                               color=drawn[0].get_color(), alpha=0.15, linewidth=0)
        panel.axhline(100 * CURVE_LIMIT, color="grey", linewidth=0.6)
        panel.axvline(CURVE_EPS_255, color="grey", linewidth=0.6)
        panel.set_xscale("symlog", linthresh=1.0)
        panel.set_xticks(budgets, [f"{b:g}" for b in budgets])  # the measured budgets, not powers of ten
        panel.minorticks_off()
        panel.set_xlim(-0.2, max(budgets, default=1.0) * 1.15)
        panel.set_xlabel("L-inf budget eps (x 1/255)")
        panel.set_ylabel("accuracy (%)")
        panel.set_ylim(0, 100)
        panel.grid(alpha=0.3)
        panel.set_title(f"test set: {column_labels().get(test_set, test_set)}", fontsize=9)
        panel.legend(fontsize=7)
    images = int(mine["n"].max()) if len(mine) else 0
    figure.suptitle(f"Model trained on {model_labels().get(variant, variant)}: accuracy vs budget on {images} test "
                    "images per seed\n(band: 95% interval; grey: 10% at 16/255)", fontsize=10)
    figure.tight_layout()
    return figure
