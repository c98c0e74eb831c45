"""The verdict rule, one place: how a claim's paired comparisons become supported / not supported / inconclusive.

Per comparison, each test image is one unit however many seeds measured it
(every seed is tested on the same images): the effect is B minus A in
percentage points, averaged over the seeds, with its 95% interval for paired
proportions (Agresti and Min's for one seed; for several, the same on each
image's difference averaged over the seeds), and the two-sided exact
sign-flip test over the images (McNemar's exact test for one seed); p-values
are Holm-corrected within the claim.

* ``greater`` / ``less`` claims: a comparison is *for* the claim when its
  corrected p < ALPHA and the effect has the claimed sign, *against* it when
  corrected p < ALPHA with the other sign. Supported: at least half of the
  comparisons for it and none against. Not supported: at least one against
  and no more for than against. Inconclusive: anything else.
* ``equivalent`` claims (margin EQUIVALENCE_MARGIN): a comparison is *for*
  the claim when its Bonferroni-widened interval (95% over the claim's k
  comparisons) lies inside +/- margin, *against* it when its corrected p <
  ALPHA and the effect lies outside the margin. Same rule as above.
* Two different trained models compared (``more_robust``,
  ``heatmap_beats_random``) over several seeds: a significant effect votes
  only when every seed's effect has the mean effect's sign (a seed with no
  effect at all disagrees) and the effect clears the seeds' spread: its 95%
  interval, each side widened in quadrature by t s / sqrt(k) of the k
  per-seed effects (t on k - 1 degrees of freedom), excludes zero; else
  neither ("seeds disagree", "within the seeds' spread"). The test over
  images holds test-image noise only, not training noise, which can be larger (the
  same seed gave the Gradient model 77.7% and 72.3% on two machines; the
  report tables the spread over seeds); with two seeds (t = 12.7) only an
  effect far larger than the seeds' own differences clears it. With one seed
  such a vote rests on one trained model per side. Comparisons within one
  model (both equivalence claims, ``before_drops``) are about these trained
  models: their seeds' effects are shown, not tested.
"""

from __future__ import annotations

import math


ALPHA = 0.05
EQUIVALENCE_MARGIN = 5.0  # percentage points
RULE = __doc__.split("\n\n", 1)[1].strip()


def seeds_agree(effect: float, seed_effects) -> bool:
    """Whether every seed's effect has the sign of the effect over all seeds (vacuously true for fewer than two
    seeds)."""
    seed_effects = list(seed_effects)
    if len(seed_effects) < 2:
        return True
    sign = math.copysign(1.0, effect) if effect else 0.0
    return sign != 0.0 and all(effect * sign > 0 for effect in seed_effects)


def comparison_votes(kind: str, effects, lows_wide, highs_wide, adjusted, agree=None) -> list[str]:
    """``for`` / ``against`` / ``neither`` per comparison (effects and intervals in pp); ``agree``: per comparison
    whether its seeds agree (:func:`seeds_agree`; None: all do), without which a significant effect votes neither."""
    votes = []
    agree = [True] * len(effects) if agree is None else list(agree)
    for effect, low, high, p, agreed in zip(effects, lows_wide, highs_wide, adjusted, agree):
        significant = p < ALPHA and agreed
        if kind == "equivalent":
            if within_margin(low, high):
                votes.append("for")
            elif significant and abs(effect) >= EQUIVALENCE_MARGIN:
                votes.append("against")
            else:
                votes.append("neither")
            continue
        claimed = effect > 0 if kind == "greater" else effect < 0
        votes.append("neither" if not significant or effect == 0 else "for" if claimed else "against")
    return votes


def within_margin(low: float, high: float) -> bool:
    """Whether an interval (pp) lies inside +/- EQUIVALENCE_MARGIN: a difference of the margin's size is ruled out."""
    return -EQUIVALENCE_MARGIN < low and high < EQUIVALENCE_MARGIN


def claim_verdict(votes: list[str]) -> str:
    """The rule above, from the comparisons' votes."""
    if not votes:
        return "inconclusive"
    n_for, n_against = votes.count("for"), votes.count("against")
    if n_against == 0 and n_for >= math.ceil(len(votes) / 2):
        return "supported"
    if n_against > 0 and n_for <= n_against:
        return "not supported"
    return "inconclusive"


def widened_confidence(k: int) -> float:
    """The per-comparison confidence that gives 95% over ``k`` comparisons (Bonferroni)."""
    return 1 - (1 - 0.95) / max(k, 1)

