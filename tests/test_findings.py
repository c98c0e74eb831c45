"""Findings: verdicts computed from per-image outcomes by the written rule, on synthetic outcomes."""

import numpy as np
import pandas as pd
import pytest

import defense
import evaluation
import findings
from findings.claims import CellRef, heatmap_variants
from findings.verdict import claim_verdict, comparison_votes

N = 300


def _outcomes(accuracy_of, seeds=(0, 1, 2), rng_seed=0, images_shared=False) -> dict:
    """Synthetic outcomes for every cell any claim compares: correct with probability accuracy_of(cell).
    ``images_shared``: an image is as hard for every seed (the seeds share their test images, as real ones do)."""
    rng = np.random.default_rng(rng_seed)
    cells = {c for claim in findings.CLAIMS.values() for comparison in claim.comparisons()
             for c in (comparison.a, comparison.b)}
    base = rng.random((len(seeds), N))  # shared per image: paired cells are correlated, as real ones are
    if images_shared:
        base = np.repeat(rng.random((1, N)), len(seeds), axis=0)
    outcomes = {}
    for s_index, seed in enumerate(seeds):
        for cell in sorted(cells):  # set order changes with the hash seed: the draws would too
            noise = 0.8 * base[s_index] + 0.2 * rng.random(N)
            threshold = np.quantile(noise, accuracy_of(cell))
            outcomes.setdefault((cell.variant, seed), {})[
                evaluation.metric_name(cell.test_set, cell.attack, cell.order)] = noise < threshold
    return outcomes


def _verdict(claims: pd.DataFrame, name: str) -> str:
    return claims.set_index("claim").loc[name, "verdict"]


def test_a_planted_20_pp_effect_is_supported_and_no_effect_is_inconclusive():
    def planted(cell: CellRef) -> float:  # heatmap models 20 pp more robust under attack than the original
        attacked = cell.attack != "none"
        return 0.70 if attacked and cell.variant in heatmap_variants() else 0.50 if attacked else 0.80

    _, claims = findings.evaluate_claims(_outcomes(planted))
    assert _verdict(claims, "more_robust") == "supported"
    _, flat = findings.evaluate_claims(_outcomes(lambda cell: 0.6, rng_seed=1))
    assert _verdict(flat, "more_robust") == "inconclusive"
    assert _verdict(flat, "before_drops") == "inconclusive"


def test_an_effect_against_the_claim_is_not_supported_and_equivalence_needs_a_tight_interval():
    def reversed_(cell: CellRef) -> float:  # blur before the attack does BETTER than after, by 20 pp
        return {"before": 0.8, "after": 0.6}.get(cell.order, 0.6)

    comparisons, claims = findings.evaluate_claims(_outcomes(reversed_))
    assert _verdict(claims, "before_drops") == "not supported"
    assert (comparisons[comparisons["claim"] == "before_drops"]["effect_pp"] > 15).all()
    # after == clean (0.6 both): 300 images, each measured by 3 seeds, pin the difference within the 5 pp margin
    assert _verdict(claims, "after_keeps_accuracy") == "supported"


def test_comparison_numbers_count_each_test_image_once_over_the_seeds():
    outcomes = _outcomes(lambda cell: 0.7 if cell.order == "after" else 0.5)
    comparisons, _ = findings.evaluate_claims(outcomes)
    row = comparisons[comparisons["claim"] == "before_drops"].iloc[0]
    a = [outcomes[(row.a_variant, s)][row.a] for s in (0, 1, 2)]
    b = [outcomes[(row.b_variant, s)][row.b] for s in (0, 1, 2)]
    b_wins = sum(int((~x & y).sum()) for x, y in zip(a, b))
    a_wins = sum(int((x & ~y).sum()) for x, y in zip(a, b))
    # the discordant (image, seed) pairs, summed over seeds; n: the distinct test images the seeds share
    assert (row.b_right_a_wrong, row.a_right_b_wrong, row.n, row.seeds) == (b_wins, a_wins, N, 3)
    assert row.effect_pp == pytest.approx(100 * (b_wins - a_wins) / (3 * N))
    per_seed = [100 * (y.mean() - x.mean()) for x, y in zip(a, b)]
    assert row.seed_mean_pp == pytest.approx(np.mean(per_seed))
    assert row.seed_std_pp == pytest.approx(np.std(per_seed, ddof=1))


def _agresti_min_reference(n11: int, b: int, c: int, n22: int, confidence: float) -> tuple[float, float]:
    """Agresti and Min (2005), written out on the 2x2 table: add 0.5 to each of its four cells, then the Wald
    interval of the difference of two dependent proportions, p_B - p_A, with the textbook variance
    (p_A q_A + p_B q_B - 2 (p11 p22 - p12 p21)) / n. Rows: A right / wrong; columns: B right / wrong."""
    from scipy import stats
    p11, p12, p21, p22 = (cell + 0.5 for cell in (n11, b, c, n22))  # b: A right B wrong; c: A wrong B right
    total = p11 + p12 + p21 + p22
    p11, p12, p21, p22 = p11 / total, p12 / total, p21 / total, p22 / total
    p_a, p_b = p11 + p12, p11 + p21
    variance = (p_a * (1 - p_a) + p_b * (1 - p_b) - 2 * (p11 * p22 - p12 * p21)) / total
    half = stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(variance)
    return 100 * max(p_b - p_a - half, -1.0), 100 * min(p_b - p_a + half, 1.0)


@pytest.mark.parametrize("n11, b, c, n22", [(200, 0, 0, 100), (150, 12, 30, 108), (5, 1, 0, 4), (0, 40, 2, 0),
                                            (90, 7, 7, 196)])
@pytest.mark.parametrize("confidence", [0.95, 0.998])
def test_one_seeds_paired_interval_equals_agresti_and_min_written_out_on_the_two_by_two_table(n11, b, c, n22,
                                                                                              confidence):
    from results.shared_images import paired_interval_over_seeds
    differences = np.array([[0] * n11 + [-1] * b + [1] * c + [0] * n22])  # B right minus A right, per image
    low, high = paired_interval_over_seeds(differences, confidence)
    assert (low, high) == pytest.approx(_agresti_min_reference(n11, b, c, n22, confidence), abs=1e-9)
    # the reference sees the whole table; every split of the concordant images gives the same interval
    assert (low, high) == pytest.approx(_agresti_min_reference(n11 + n22, b, c, 0, confidence), abs=1e-9)


def _over_seeds_reference(differences: np.ndarray, confidence: float) -> tuple[float, float]:
    """The interval over seeds written out: each image's difference averaged over the seeds, then Agresti and
    Min's two pseudo-images (one with no difference; one split half at +1, half at -1) as weighted observations,
    and the Wald interval of their weighted mean."""
    from scipy import stats
    values = np.concatenate([differences.mean(axis=0), [0.0, 1.0, -1.0]])
    weights = np.concatenate([np.ones(differences.shape[1]), [1.0, 0.5, 0.5]])
    mean = np.average(values, weights=weights)
    variance = np.average((values - mean) ** 2, weights=weights) / weights.sum()
    half = stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(variance)
    return 100 * max(mean - half, -1.0), 100 * min(mean + half, 1.0)


def _sign_flip_reference(per_image: np.ndarray) -> float:
    """Every one of the 2^m sign choices over the m non-zero images, counted one by one."""
    import itertools
    magnitudes = np.abs(per_image[per_image != 0])
    observed = abs(int(per_image.sum()))
    hits = sum(abs(int(np.dot(signs, magnitudes))) >= observed
               for signs in itertools.product((-1, 1), repeat=len(magnitudes)))
    return hits / 2 ** len(magnitudes)


@pytest.mark.parametrize("seeds", [1, 2, 3])
def test_the_test_over_seeds_is_the_sign_flip_test_counted_out_and_mcnemar_for_one_seed(seeds):
    from scipy import stats

    from results.shared_images import paired_over_seeds
    rng = np.random.default_rng(seeds)
    for _ in range(12):
        images = int(rng.integers(1, 14))
        a = rng.random((seeds, images)) < 0.6
        b = rng.random((seeds, images)) < rng.uniform(0.3, 0.9)
        test = paired_over_seeds(a, b)
        sums = (b.astype(int) - a.astype(int)).sum(axis=0)
        assert test.p_value == pytest.approx(_sign_flip_reference(sums), rel=1e-12, abs=1e-15)
        assert (test.b, test.c, test.images, test.seeds) == (int((a & ~b).sum()), int((~a & b).sum()), images, seeds)
        for confidence in (0.95, 0.998):
            assert test.interval(confidence) == pytest.approx(
                _over_seeds_reference(b.astype(int) - a.astype(int), confidence), abs=1e-9)
        if seeds == 1:
            m = test.b + test.c
            assert test.p_value == pytest.approx(1.0 if m == 0 else min(1.0, stats.binomtest(test.b, m).pvalue))


def test_seeds_that_repeat_each_other_add_no_evidence():
    """The same outcomes under two seed numbers are the same images measured twice: effect, p-value and interval
    stay what one seed gives (a count pooled over the seeds would halve the p-value's exponent)."""
    from evaluation.paired import mcnemar_exact
    from results.shared_images import paired_over_seeds
    rng = np.random.default_rng(9)
    a, b = rng.random(N) < 0.65, rng.random(N) < 0.55
    once, twice = paired_over_seeds(a, b), paired_over_seeds(np.stack([a, a]), np.stack([b, b]))
    assert twice.effect == once.effect and twice.interval() == pytest.approx(once.interval())
    assert twice.p_value == pytest.approx(once.p_value) and 1e-4 < once.p_value < 0.05
    assert mcnemar_exact(twice.b, twice.c) < once.p_value / 10  # the pooled count: as if 600 images


def test_comparison_p_values_are_exact_mcnemar_then_holm_within_each_claim():
    from scipy import stats
    comparisons, _ = findings.evaluate_claims(_outcomes(lambda cell: 0.66 if cell.order == "after" else 0.6,
                                                        seeds=(0,)))  # one seed: the sign-flip test is McNemar's
    for claim, mine in comparisons.groupby("claim"):
        exact = [1.0 if b + c == 0 else min(1.0, stats.binomtest(int(min(b, c)), int(b + c), 0.5).pvalue)
                 for b, c in zip(mine["b_right_a_wrong"], mine["a_right_b_wrong"])]
        assert mine["p"].tolist() == pytest.approx(exact, rel=1e-9), claim
        order, m, running, holm = np.argsort(exact), len(exact), 0.0, np.empty(len(exact))
        for rank, index in enumerate(order):  # Holm's step-down: (m - rank) p, made monotone, capped at 1
            running = max(running, min(1.0, (m - rank) * exact[index]))
            holm[index] = running
        assert mine["p_holm"].tolist() == pytest.approx(holm.tolist(), rel=1e-9), claim
    assert (comparisons["p"] < 0.05).any() and (comparisons["p"] > 0.05).any()  # both kinds occur


def test_within_margin_counts_the_comparisons_that_rule_out_a_margin_sized_difference():
    from findings.verdict import EQUIVALENCE_MARGIN, widened_confidence, within_margin
    outcomes = _outcomes(lambda cell: 0.6, rng_seed=2)
    comparisons, claims = findings.evaluate_claims(outcomes)
    mine = comparisons[comparisons["claim"] == "heatmap_beats_random"]
    k = len(mine)

    def differences(r) -> np.ndarray:
        return np.stack([outcomes[(r.b_variant, s)][r.b].astype(int) - outcomes[(r.a_variant, s)][r.a].astype(int)
                         for s in (0, 1, 2)])

    expected = [bool(-EQUIVALENCE_MARGIN < low and high < EQUIVALENCE_MARGIN) for low, high in
                (_over_seeds_reference(differences(r), widened_confidence(k)) for r in mine.itertuples())]
    assert mine["within_margin"].tolist() == expected and sum(expected) > k // 2  # no effect, 300 images x 3 seeds
    row = claims.set_index("claim").loc["heatmap_beats_random"]
    assert row["verdict"] == "inconclusive" and row["within_margin"] == sum(expected)

    def planted(cell: CellRef) -> float:  # heatmap models 20 pp above the random control
        return 0.8 if cell.variant in heatmap_variants() else 0.6

    assert not within_margin(-5.0, 4.0) and within_margin(-4.9, 4.9) and not within_margin(-1.0, 5.0)
    # no discordant image among 10 rules out nothing; among 3000 it rules out 5 pp
    from results.shared_images import paired_interval_over_seeds as interval
    assert not within_margin(*interval(np.zeros((1, 10)), widened_confidence(24)))
    assert within_margin(*interval(np.zeros((3, 3000)), widened_confidence(24)))
    assert interval(np.ones((2, 300)))[1] == 100.0 and interval(-np.ones((1, 300)))[0] == -100.0  # clipped
    planted_claims = findings.evaluate_claims(_outcomes(planted))[1].set_index("claim")
    assert planted_claims.loc["heatmap_beats_random", "within_margin"] == 0
    assert "| within ±5 pp |" in findings.findings_page(comparisons, claims)


def test_the_forest_plot_draws_every_comparison_at_its_effect_and_interval():
    from matplotlib.collections import LineCollection

    comparisons, claims = findings.evaluate_claims(_outcomes(lambda cell: 0.65 if cell.order == "after" else 0.6))
    figure = findings.forest_figure(comparisons, claims)
    assert len(figure.axes) == len(claims[claims["comparisons"] > 0])  # one panel per claim with comparisons
    for axes, claim in zip(figure.axes, claims.loc[claims["comparisons"] > 0, "claim"]):
        mine = comparisons[comparisons["claim"] == claim]
        assert axes.get_title(loc="left").startswith(f"{claim}: ")
        assert [t.get_text() for t in axes.get_yticklabels()] == list(mine["comparison"])
        bars = sorted((round(float(s[0][0]), 6), round(float(s[1][0]), 6)) for c in axes.collections
                      if isinstance(c, LineCollection) for s in c.get_segments() if s[0][1] == s[1][1])
        intervals = [*zip(mine["ci95_low"], mine["ci95_high"]), *zip(mine["ci_wide_low"], mine["ci_wide_high"])]
        assert bars == sorted((round(lo, 6), round(hi, 6)) for lo, hi in intervals)  # both intervals, each once
        assert (mine["ci_wide_low"] < mine["ci95_low"]).all() and (mine["ci_wide_high"] > mine["ci95_high"]).all()
        vertical = [line.get_xdata() for line in axes.get_lines() if len(line.get_xdata()) == 2]
        lines = sorted(x[0] for x in vertical if x[0] == x[1])  # the markers are one-point lines
        assert lines == [-findings.EQUIVALENCE_MARGIN, 0.0, findings.EQUIVALENCE_MARGIN]
        seeds = sorted(round(float(x), 6) for line in axes.get_lines() if line.get_marker() == "x"
                       for x in line.get_xdata())  # each seed's effect, 3 seeds per comparison
        assert seeds == sorted(round(float(x), 6) for text in mine["per_seed_pp"] for x in text.split(","))
        assert len(seeds) == 3 * len(mine)
    page = findings.findings_page(comparisons, claims, figure="figures/findings.png")
    assert "](figures/findings.png)" in page
    empty = findings.evaluate_claims({})
    assert "No comparison" in findings.forest_figure(*empty).axes[0].texts[0].get_text()


def test_the_rule_on_votes():
    assert claim_verdict(["for", "for", "neither"]) == "supported"
    assert claim_verdict(["for", "neither", "neither"]) == "inconclusive"
    assert claim_verdict(["for", "against"]) == "not supported"
    assert claim_verdict(["for", "for", "against"]) == "inconclusive"
    assert claim_verdict([]) == "inconclusive"
    assert comparison_votes("less", [-10, 10, -1], [0] * 3, [0] * 3, [0.001, 0.001, 0.5]) == ["for", "against",
                                                                                             "neither"]
    assert comparison_votes("equivalent", [1, 8, 3], [-2, 6, -9], [3, 10, 9], [0.5, 0.001, 0.5]) == [
        "for", "against", "neither"]


def test_the_page_shows_every_claim_its_rule_and_the_thesis_numbers():
    comparisons, claims = findings.evaluate_claims(_outcomes(lambda cell: 0.6))
    page = findings.findings_page(comparisons, claims)
    assert "## The rule" in page and findings.RULE.splitlines()[0] in page
    for name in findings.CLAIMS:
        assert f"## {name}: " in page
    # thesis' difference for a thesis cell pair: Original model, original test set, FGSM before
    thesis_row = comparisons[(comparisons["claim"] == "more_robust") & comparisons["a"].str.endswith("fgsm/before")]
    assert thesis_row["thesis_a"].iloc[0] == pytest.approx(82.00)
    assert set(defense.variants()) >= set(comparisons["b_variant"])


def test_a_reproduction_in_progress_gives_empty_tables_with_their_columns_and_inconclusive_claims():
    only_original = {key: value for key, value in _outcomes(lambda cell: 0.6, seeds=(0,)).items() if key[0] == "none"}
    comparisons, claims = findings.evaluate_claims(only_original)
    assert comparisons.empty and "effect_pp" in comparisons and "thesis_effect_pp" in comparisons
    assert set(claims["verdict"]) == {"inconclusive"} and (claims["comparisons"] == 0).all()
    assert "No comparison measured" in findings.findings_page(comparisons, claims)


def test_masking_flags_are_listed_under_the_claims_whose_systems_they_concern():
    comparisons, claims = findings.evaluate_claims(_outcomes(lambda cell: 0.6, seeds=(0,)))
    flags = pd.DataFrame([
        {"variant": "gradient", "test_set": "gradient", "check": "black-box beats white-box",
         "detail": "Square 38.3% < PGD adaptive 75.3%"},
        {"variant": "blur", "test_set": "pgd", "check": "iterative weaker than one step", "detail": "not compared"},
    ])
    page = findings.findings_page(comparisons, claims, flags)
    sections = {part.split(":", 1)[0]: part for part in page.split("\n## ")[1:]}
    flagged = "* Gradient model on the Gradient test set: black-box beats white-box: Square 38.3% < PGD adaptive 75.3%"
    # every claim that compares the Gradient model behind its own blur carries the flag ...
    uses_gradient = {c for c in comparisons.loc[(comparisons["b_variant"] == "gradient")
                                                & comparisons["b"].str.startswith("accuracy/gradient/"), "claim"]}
    assert uses_gradient >= {"more_robust", "after_keeps_accuracy", "before_drops"}
    for claim in findings.CLAIMS:
        assert (flagged in sections[claim]) == (claim in uses_gradient), claim
    # ... and a flag on a system no claim compares appears nowhere; without flags, no flag section
    assert "not compared" not in page
    assert "Gradient-masking flags" not in findings.findings_page(comparisons, claims)
    assert findings.findings_page(comparisons, claims, flags.iloc[:0]) == findings.findings_page(comparisons, claims)


def test_p_values_over_seeds_that_share_their_images_take_each_image_once():
    from evaluation.paired import mcnemar_exact
    from results.shared_images import sign_flip_p
    outcomes = _outcomes(lambda cell: 0.66 if cell.order == "after" else 0.6, images_shared=True)
    comparisons, _ = findings.evaluate_claims(outcomes)
    effects = 0
    for row in comparisons.itertuples():
        sums = sum(outcomes[(row.b_variant, s)][row.b].astype(int) - outcomes[(row.a_variant, s)][row.a].astype(int)
                   for s in (0, 1, 2))
        assert row.p == pytest.approx(sign_flip_p(sums), rel=1e-12)
        if row.effect_pp != 0:  # not the count pooled over the seeds (test_seeds_that_repeat_each_other...)
            effects += 1
            assert row.p != pytest.approx(mcnemar_exact(row.a_right_b_wrong, row.b_right_a_wrong), rel=0.01)
    assert effects >= 8


def test_two_models_must_also_clear_the_spread_of_their_seeds():
    def planted(cell: CellRef, seed: int, lifts) -> float:  # heatmap models more robust by lifts[seed]
        attacked = cell.attack != "none"
        return 0.50 + lifts[seed] if attacked and cell.variant in heatmap_variants() else 0.50 if attacked else 0.80

    def claims_for(lifts):
        outcomes = {}
        for seed in (0, 1):
            outcomes.update(_outcomes(lambda cell: planted(cell, seed, lifts), seeds=(seed,), rng_seed=seed))
        return findings.evaluate_claims(outcomes)

    # both seeds +20 and +2 pp: the same sign and significant over the images, but the seeds differ by more than
    # the effect: within their spread (t = 12.7)
    comparisons, claims = claims_for((0.20, 0.02))
    mine = comparisons[comparisons["claim"] == "more_robust"]
    held = mine[(mine["p_holm"] < 0.05) & mine["seeds_agree"]]
    assert len(held) > 0 and not held["clears_seed_spread"].any() and (held["vote"] == "neither").all()
    assert (held["ci95_models_low"] < 0).all() and (held["ci95_models_low"] < held["ci95_low"]).all()
    assert "neither (within the seeds' spread)" in findings.findings_page(comparisons, claims)
    # +20 and +19 pp: the seeds agree closely, and the effect clears their spread
    comparisons, claims = claims_for((0.20, 0.19))
    mine = comparisons[comparisons["claim"] == "more_robust"]
    assert mine["clears_seed_spread"].all() and _verdict(claims, "more_robust") == "supported"
    within = comparisons[comparisons["a_variant"] == comparisons["b_variant"]]
    assert within["ci95_models_low"].isna().all()  # one model against itself: not asked


def test_two_models_compared_vote_only_when_every_seed_agrees():
    from findings.verdict import seeds_agree
    assert seeds_agree(5.0, [8.0, 2.0, 0.5]) and not seeds_agree(5.0, [12.0, 4.0, -1.0])
    assert not seeds_agree(5.0, [10.0, 0.0]) and seeds_agree(-3.0, [-1.0, -5.0]) and seeds_agree(2.0, [-4.0])
    assert comparison_votes("greater", [10, 10], [0, 0], [0, 0], [0.001, 0.001], [True, False]) == ["for", "neither"]

    def planted(cell: CellRef, seed: int) -> float:  # heatmap models 20 pp more robust on seed 0, 2 pp less on 1
        attacked = cell.attack != "none"
        lift = 0.20 if seed == 0 else -0.02
        return 0.50 + lift if attacked and cell.variant in heatmap_variants() else 0.50 if attacked else 0.80

    outcomes = {}
    for seed in (0, 1):
        outcomes.update(_outcomes(lambda cell: planted(cell, seed), seeds=(seed,), rng_seed=seed))
    comparisons, claims = findings.evaluate_claims(outcomes)
    mine = comparisons[comparisons["claim"] == "more_robust"]
    # over 300 images x 2 seeds the effect is about +9 pp and significant, but seed 1 points the other way
    assert (mine["p_holm"] < 0.05).all() and not mine["seeds_agree"].any()
    assert (mine["vote"] == "neither").all() and _verdict(claims, "more_robust") == "inconclusive"
    # one model compared with itself (before vs after): its seeds need not agree to vote
    assert comparisons[comparisons["claim"] == "before_drops"]["seeds_agree"].all()
    assert "neither (seeds disagree)" in findings.findings_page(comparisons, claims)
    assert "on one seed: each side is one trained model" not in findings.findings_page(comparisons, claims)
    one_seed = findings.evaluate_claims({key: value for key, value in outcomes.items() if key[1] == 0})
    page = findings.findings_page(*one_seed)
    assert f"{len(mine)} of these {len(mine)} comparisons set two trained models against each other on one seed" \
        in page
