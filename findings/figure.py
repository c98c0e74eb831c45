"""The findings as a forest plot: every comparison's effect with its intervals, one panel per claim.

Each comparison shows its 95% interval (thick) and the interval widened to
95% over the claim's comparisons (thin, Bonferroni), the one that decides
equivalence votes and, near enough, the Holm-corrected directional ones.
Zero and the equivalence margin are drawn as lines, so a reader sees at a
glance which comparisons exclude no effect, which rule out a margin-sized
one, and which are too wide to tell. Marker colours are the votes.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from findings.verdict import EQUIVALENCE_MARGIN  # noqa: E402

VOTE_COLOURS = {"for": "tab:green", "against": "tab:red", "neither": "tab:gray"}


def forest_figure(comparisons: pd.DataFrame, claims: pd.DataFrame) -> plt.Figure:
    """One panel per claim with measured comparisons: effect (B - A, pp), its 95% and its widened interval."""
    shown = [row for row in claims.to_dict("records") if (comparisons["claim"] == row["claim"]).any()]
    if not shown:
        figure, axes = plt.subplots(figsize=(7, 1.5), dpi=110)
        axes.axis("off")
        axes.text(0.5, 0.5, "No comparison measured yet", ha="center", va="center")
        return figure
    counts = [int((comparisons["claim"] == row["claim"]).sum()) for row in shown]
    figure, panels = plt.subplots(len(shown), 1, figsize=(8, 1.2 + 0.22 * sum(counts) + 0.5 * len(shown)), dpi=110,
                                  gridspec_kw={"height_ratios": [c + 2 for c in counts]}, squeeze=False)
    for axes, row in zip(panels[:, 0], shown):
        mine = comparisons[comparisons["claim"] == row["claim"]].reset_index(drop=True)
        positions = range(len(mine))[::-1]  # the first comparison on top
        for position, c in zip(positions, mine.itertuples()):
            colour = VOTE_COLOURS.get(c.vote, "black")
            wide = [[c.effect_pp - c.ci_wide_low], [c.ci_wide_high - c.effect_pp]]
            plain = [[c.effect_pp - c.ci95_low], [c.ci95_high - c.effect_pp]]
            axes.errorbar([c.effect_pp], [position], xerr=wide, fmt="none", ecolor=colour, elinewidth=0.7, alpha=0.7)
            axes.errorbar([c.effect_pp], [position], xerr=plain, fmt="o", markersize=3.5, color=colour, ecolor=colour,
                          elinewidth=2.2, capsize=2)
            per_seed = seed_effects(c.per_seed_pp)
            if len(per_seed) > 1:  # each seed's own effect: do the seeds agree?
                axes.plot(per_seed, [position + 0.3] * len(per_seed), "x", markersize=3, color=colour, alpha=0.8)
        axes.axvline(0.0, color="black", linewidth=0.8)
        for edge in (-EQUIVALENCE_MARGIN, EQUIVALENCE_MARGIN):
            axes.axvline(edge, color="black", linewidth=0.6, linestyle="--", alpha=0.6)
        axes.set_yticks(list(positions))
        axes.set_yticklabels(mine["comparison"], fontsize=6)
        axes.set_ylim(-0.8, len(mine) - 0.2)
        axes.set_title(f"{row['claim']}: {row['verdict']} ({row['for']} for, {row['against']} against of "
                       f"{row['comparisons']})", fontsize=8, loc="left")
        axes.tick_params(axis="x", labelsize=7)
        axes.grid(axis="x", alpha=0.3)
    panels[-1, 0].set_xlabel(f"effect B - A (pp): 95% interval thick, widened over the claim thin; x above: each "
                             f"seed's effect\ndashed: ±{EQUIVALENCE_MARGIN:g} pp margin; green for, red against, "
                             "grey neither", fontsize=7)
    figure.tight_layout()
    return figure


def seed_effects(per_seed_pp) -> list[float]:
    """The comparisons table's ``per_seed_pp`` ("+1.0,-2.3") as numbers (empty when missing)."""
    if not isinstance(per_seed_pp, str) or not per_seed_pp.strip():
        return []
    return [float(part) for part in per_seed_pp.split(",")]
