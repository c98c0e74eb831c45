"""Evaluate every claim on logged per-image outcomes, and write the findings page.

Nothing here is typed by hand: effects, intervals, p-values and verdicts are
computed from ``outcomes.npz`` of the evaluate runs, by the rule in
:mod:`findings.verdict`, and the thesis' numbers for the same cells are read
from ``results/thesis_tables.csv``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evaluation.grid import CLEAN, metric_name
from evaluation.paired import holm
from findings.claims import CLAIMS, CellRef
from findings.verdict import (ALPHA, EQUIVALENCE_MARGIN, RULE, claim_verdict, comparison_votes, seeds_agree,
                              widened_confidence, within_margin)
from results.shared_images import PairedOverSeeds, paired_over_seeds, with_seed_spread
from results.tables import column_labels, model_labels, row_label
from results.thesis import load_thesis, thesis_accuracy

Outcomes = dict  # (variant, seed) -> metric name -> bool per test image


def _metric(cell: CellRef) -> str:
    return metric_name(cell.test_set, cell.attack, cell.order)


def _paired(outcomes: Outcomes, a: CellRef, b: CellRef) -> PairedOverSeeds | None:
    """A against B over the seeds where both were measured on all images, each test image one unit (None where
    there is no such seed)."""
    seeds = sorted({s for v, s in outcomes if v == a.variant} & {s for v, s in outcomes if v == b.variant})
    ma, mb = _metric(a), _metric(b)
    rights = []
    for seed in seeds:
        first, second = outcomes[(a.variant, seed)], outcomes[(b.variant, seed)]
        if ma not in first or mb not in second or f"indices:{ma}" in first or f"indices:{mb}" in second:
            continue
        rights.append((seed, np.asarray(first[ma], dtype=bool).reshape(-1),
                       np.asarray(second[mb], dtype=bool).reshape(-1)))
    if not rights:
        return None
    if len({right.size for _, *pair in rights for right in pair}) != 1:
        raise ValueError(f"The seeds measured {a.variant}/{ma} and {b.variant}/{mb} on different numbers of test "
                         f"images: they cannot be paired image by image. Received: "
                         f"{[(seed, ra.size, rb.size) for seed, ra, rb in rights]}")
    return paired_over_seeds(np.stack([ra for _, ra, _ in rights]), np.stack([rb for *_, rb in rights]))


def thesis_values(thesis: pd.DataFrame, cell: CellRef) -> float:
    """The thesis' accuracy (%) for a cell of our grid, NaN where the thesis has none."""
    model = model_labels().get(cell.variant)
    row = model if cell.attack == CLEAN else row_label(cell.attack, cell.order)
    return thesis_accuracy(thesis, model, row, column_labels().get(cell.test_set))


# The comparisons table's columns, also when no comparison is measured yet (a reproduction in progress).
COMPARISON_COLUMNS = ["claim", "comparison", "a", "a_variant", "a_test_set", "b", "b_variant", "b_test_set", "seeds",
                      "n", "b_right_a_wrong", "a_right_b_wrong", "effect_pp", "ci95_low", "ci95_high", "ci_wide_low",
                      "ci_wide_high", "seed_mean_pp", "seed_std_pp", "per_seed_pp", "p", "p_holm", "vote",
                      "seeds_agree", "ci95_models_low", "ci95_models_high", "clears_seed_spread", "within_margin",
                      "thesis_a", "thesis_b", "thesis_effect_pp"]


def evaluate_claims(outcomes: Outcomes, thesis: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparisons, claims): one row per comparison with effect, interval, p-values and vote; one per claim."""
    thesis = load_thesis() if thesis is None else thesis
    rows, verdicts = [], []
    for claim in CLAIMS.values():
        measured = [(comparison, test) for comparison in claim.comparisons()
                    if (test := _paired(outcomes, comparison.a, comparison.b)) is not None]
        k = len(measured)
        adjusted = holm([test.p_value for _, test in measured]) if measured else []
        effects = [100 * test.effect for _, test in measured]
        intervals = [test.interval() for _, test in measured]
        wide = [test.interval(widened_confidence(k)) for _, test in measured]
        two_models = [comparison.a.variant != comparison.b.variant for comparison, _ in measured]
        seed_effects = [100 * test.per_seed_effects for _, test in measured]
        agree = [not both or seeds_agree(effect, per_seed)
                 for both, effect, per_seed in zip(two_models, effects, seed_effects)]
        # two trained models over several seeds: their difference must also clear the seeds' spread
        models = [with_seed_spread(effect, per_seed, *interval) if both and len(per_seed) > 1
                  else (math.nan, math.nan)
                  for both, effect, per_seed, interval in zip(two_models, effects, seed_effects, intervals)]
        clears = [math.isnan(low) or low > 0 or high < 0 for low, high in models]
        votes = comparison_votes(claim.kind, effects, [w[0] for w in wide], [w[1] for w in wide], adjusted,
                                 [agreed and cleared for agreed, cleared in zip(agree, clears)])
        within = [within_margin(low, high) for low, high in wide]
        for i, (comparison, test) in enumerate(measured):
            (low, high), (wide_low, wide_high), differences = intervals[i], wide[i], seed_effects[i]
            thesis_a, thesis_b = thesis_values(thesis, comparison.a), thesis_values(thesis, comparison.b)
            rows.append({"claim": claim.name, "comparison": comparison.label, "a": _metric(comparison.a),
                         "a_variant": comparison.a.variant, "a_test_set": comparison.a.test_set,
                         "b": _metric(comparison.b), "b_variant": comparison.b.variant,
                         "b_test_set": comparison.b.test_set, "seeds": test.seeds, "n": test.images,
                         "b_right_a_wrong": test.c, "a_right_b_wrong": test.b, "effect_pp": effects[i],
                         "ci95_low": low, "ci95_high": high, "ci_wide_low": wide_low, "ci_wide_high": wide_high,
                         "seed_mean_pp": float(np.mean(differences)),
                         "seed_std_pp": float(np.std(differences, ddof=1)) if len(differences) > 1 else float("nan"),
                         "per_seed_pp": ",".join(f"{d:+.1f}" for d in differences), "p": test.p_value,
                         "p_holm": adjusted[i], "vote": votes[i], "seeds_agree": agree[i],
                         "ci95_models_low": models[i][0], "ci95_models_high": models[i][1],
                         "clears_seed_spread": clears[i], "within_margin": within[i], "thesis_a": thesis_a,
                         "thesis_b": thesis_b, "thesis_effect_pp": thesis_b - thesis_a})
        verdicts.append({"claim": claim.name, "statement": claim.statement, "source": claim.source,
                         "kind": claim.kind, "comparisons": k, "for": votes.count("for"),
                         "against": votes.count("against"), "within_margin": sum(within),
                         "verdict": claim_verdict(votes)})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS), pd.DataFrame(verdicts)


def _pp(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.1f}"


def findings_page(comparisons: pd.DataFrame, claims: pd.DataFrame, masking: pd.DataFrame | None = None,
                  figure: str | None = None) -> str:
    """``findings.md``: per claim the statement, the verdict, and every comparison with its numbers.

    ``figure``: the path, relative to the page, of the forest plot (:func:`findings.forest_figure`) to show
    under the verdict table.

    ``masking``: the report's gradient-masking flags (``results.masking_flags``). Under each claim the page
    lists those on the systems (model, test set) its comparisons use: a verdict on robustness that a
    flag concerns rests on white-box numbers the flag says overstate it.
    """
    lines = ["# Findings", "",
             "Each claim is tested on the per-image outcomes of the evaluate runs (`outcomes.npz`): pairs of "
             "cells measured on the same test images, each image one unit over the seeds (they share their test "
             "images): the exact sign-flip test over the images, McNemar's exact test for one seed. "
             "Effect = B minus A in percentage points with its 95% interval, and the interval widened to 95% "
             "over the claim's comparisons (Bonferroni), which decides equivalence votes; directional votes "
             f"use the Holm-corrected p-values (alpha {ALPHA}), so a 95% interval clear of zero can still vote "
             f"neither. Equivalence margin ±{EQUIVALENCE_MARGIN:g} pp. In `findings_comparisons.csv`, `n` counts the "
             "distinct test images and the discordant counts (image, seed) pairs. The thesis' own "
             "difference for the same cells is shown beside ours where the thesis has both.", "",
             "## The rule", "", RULE, "", "## Verdicts", "",
             f"`within ±{EQUIVALENCE_MARGIN:g} pp`: comparisons whose Bonferroni-widened interval lies inside the "
             "equivalence margin, i.e. a difference of the margin's size is ruled out. It does not enter a directional "
             "claim's verdict; it says whether an *inconclusive* one means \"no difference of that size\" "
             "(many) or \"too few images and seeds to tell\" (few).", "",
             f"| claim | source | comparisons | for | against | within ±{EQUIVALENCE_MARGIN:g} pp | verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in claims.to_dict("records"):
        lines.append(f"| {row['claim']} | {row['source']} | {row['comparisons']} | {row['for']} | "
                     f"{row['against']} | {row['within_margin']} | **{row['verdict']}** |")
    lines.append("")
    if figure:
        lines += [f"![every comparison's effect with its 95% interval]({figure})", ""]
    for row in claims.itertuples():
        mine = comparisons[comparisons["claim"] == row.claim] if len(comparisons) else comparisons
        relation = f"B {row.kind} than A" if row.kind != "equivalent" else "B equivalent to A"
        lines += [f"## {row.claim}: {row.verdict}", "", row.statement, relation, ""]
        if mine.empty:
            lines += ["No comparison measured: no pair of its cells has been evaluated (a model it compares is "
                      "not evaluated yet, or its cells are not in the grid).", ""]
            continue
        spread = bool(mine["ci95_models_low"].notna().any())
        lines += ["| comparison | A | B | seeds | effect (pp) [95%] | widened | per seed | "
                  + ("with the seeds' spread | " if spread else "") + "p (Holm) | vote | thesis effect |",
                  "|---|---|---|---|---|---|---|" + ("---|" if spread else "") + "---|---|---|"]
        for c in mine.itertuples():
            models = (f"[{c.ci95_models_low:+.1f}, {c.ci95_models_high:+.1f}] | " if not math.isnan(c.ci95_models_low)
                      else "— | ") if spread else ""
            lines.append(f"| {c.comparison} | {c.a_variant}: {c.a} | {c.b_variant}: {c.b} | {c.seeds} | "
                         f"{c.effect_pp:+.1f} [{c.ci95_low:+.1f}, {c.ci95_high:+.1f}] | "
                         f"[{c.ci_wide_low:+.1f}, {c.ci_wide_high:+.1f}] | {c.per_seed_pp} | {models}"
                         f"{c.p_holm:.3g} | {c.vote}{_held_back(c)} | "
                         f"{_pp(c.thesis_effect_pp)} |")
        lines.append("")
        single = mine[(mine["a_variant"] != mine["b_variant"]) & (mine["seeds"] < 2)]
        if len(single):
            lines += [f"{len(single)} of these {len(mine)} comparisons set two trained models against each other on "
                      "one seed: each side is one trained model, and whether seeds agree (training noise) is not "
                      "checked.", ""]
        lines += _masking_lines(mine, masking)
    return "\n".join(lines) + "\n"


def _held_back(comparison) -> str:
    """Why a significant comparison votes neither: its seeds disagree, or its effect lies within the seeds'
    spread ("" where neither holds it back)."""
    if comparison.p_holm >= ALPHA or comparison.vote != "neither":
        return ""
    if not comparison.seeds_agree:
        return " (seeds disagree)"
    return " (within the seeds' spread)" if not comparison.clears_seed_spread else ""


def _systems(comparisons: pd.DataFrame) -> set[tuple[str, str]]:
    """(variant, test set) of every cell the comparisons use."""
    return {(variant, test_set) for side in ("a", "b")
            for variant, test_set in zip(comparisons[f"{side}_variant"], comparisons[f"{side}_test_set"])}


def _masking_lines(comparisons: pd.DataFrame, masking: pd.DataFrame | None) -> list[str]:
    if masking is None or masking.empty:
        return []
    systems = _systems(comparisons)
    flagged = [f for f in masking.to_dict("records") if (f["variant"], f["test_set"]) in systems]
    if not flagged:
        return []
    models, columns = model_labels(), column_labels()
    return (["Gradient-masking flags on the systems compared here (the white-box numbers overstate their "
             "robustness; see the report's gradient-masking checks):", ""]
            + [f"* {models.get(f['variant'], f['variant'])} model on the {columns.get(f['test_set'], f['test_set'])} "
               f"test set: {f['check']}: {f['detail']}" for f in flagged] + [""])
