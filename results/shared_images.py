"""Statistics of cells that several training seeds measured on the same test images: each image counts once.

Every seed of a profile is tested on the same 300 images (the choice of
images is fixed by ``data_seed``), and an image one model gets wrong the
model of another seed often gets wrong too (on the committed thesis-profile
run, per-image outcomes of two seeds correlate at about 0.5 within a cell).
So k seeds are not k x 300 independent images, and a count pooled over the
seeds (``correct`` summed over ``n`` summed) would make every interval and
p-value as if they were. Two sources of noise stand between a cell and the
accuracy the method would have on other images and other training runs:

* the test images (the same for every seed): at most the binomial variance
  of one seed's n, p(1 - p) / n (the variance of per-image means over seeds
  never exceeds it), taken as a Wilson interval;
* the training run (which the seeds sample): the spread of the seeds'
  accuracies, s^2 / k.

:func:`cell_interval` adds both; :func:`images_interval` is the images'
share alone (a Wilson interval, which :func:`cell_interval` contains). A
paired comparison of two cells on the same images
(:func:`paired_over_seeds`) keeps each image as one unit: its difference
averaged over the seeds, tested by the exact sign-flip (randomisation) test
over images, which for one seed is McNemar's exact test, and an interval that
for one seed is Agresti and Min's. Training noise between two trained models
is judged apart: every seed's effect must have the same sign
(``findings.verdict.seeds_agree``) and the effect must clear the seeds'
spread (:func:`with_seed_spread`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from evaluation.statistics import wilson_interval


def images_interval(mean: float, n_images: int) -> tuple[float, float]:
    """The Wilson interval of accuracy ``mean`` (a fraction) on ``n_images`` distinct test images: the test
    images' noise, each image once however many seeds measured it (conservative: it takes the seeds'
    outcomes on an image to be the same). A mean over seeds need not be a whole count of ``n_images``."""
    return wilson_interval(mean * n_images, n_images)


def cell_interval(accuracies: Sequence[float], n_images: int | None) -> tuple[float, float]:
    """95% interval of a cell's mean accuracy over k >= 2 seeds tested on the same ``n_images`` images.

    Each side adds, in quadrature, the seeds' spread (t_{k-1} s / sqrt(k):
    t quantile, k - 1 degrees of freedom) and that side of the test images'
    Wilson interval on one seed's image count (:func:`images_interval`), each
    at its own 95% quantile; so the images' interval lies inside it, it equals
    that interval when the seeds agree exactly, and it does not collapse at
    0% or 100%. ``n_images`` None (not logged): the seeds' part alone.
    Clipped to [0, 1].
    """
    values = np.asarray([a for a in accuracies if a is not None and not math.isnan(a)], dtype=np.float64)
    if values.size < 2:
        raise ValueError("A cell interval over seeds needs at least two seeds' accuracies. "
                         f"Received: accuracies={list(accuracies)}")
    mean = float(values.mean())
    low, high = with_seed_spread(mean, values, *(images_interval(mean, n_images) if n_images else (mean, mean)))
    return max(0.0, low), min(1.0, high)


def with_seed_spread(centre: float, per_seed: Sequence[float], low: float, high: float,
                     confidence: float = 0.95) -> tuple[float, float]:
    """The interval (``low``, ``high``) around ``centre`` widened by the seeds' spread: each side's distance
    from the centre added in quadrature to t s / sqrt(k) of the k ``per_seed`` values (t quantile at
    ``confidence``, k - 1 degrees of freedom). Unchanged for fewer than two seeds."""
    values = np.asarray(per_seed, dtype=np.float64)
    if values.size < 2:
        return low, high
    seeds_half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * float(values.std(ddof=1)) / math.sqrt(
        values.size)
    return centre - math.hypot(seeds_half, centre - low), centre + math.hypot(seeds_half, high - centre)


def sign_flip_p(per_image: Sequence[int]) -> float:
    """Two-sided exact p-value of the sign-flip test: per image an integer difference summed over the seeds
    (B right minus A right, each seed -1, 0 or +1). Under "A and B are exchangeable on every image" each
    image's sum is as likely negated; p is the share of the 2^m sign choices over the m non-zero images whose
    total is at least as far from zero as the observed one. For one seed, McNemar's exact test."""
    values = np.asarray(per_image, dtype=np.int64).reshape(-1)
    magnitudes = np.abs(values[values != 0])
    if magnitudes.size == 0:
        return 1.0
    span = int(magnitudes.sum())
    distribution = np.zeros(2 * span + 1)  # index: total + span
    distribution[span] = 1.0
    for magnitude in magnitudes:
        distribution = 0.5 * (np.roll(distribution, int(magnitude)) + np.roll(distribution, -int(magnitude)))
    observed = abs(int(values.sum()))
    totals = np.arange(-span, span + 1)
    return float(min(1.0, distribution[np.abs(totals) >= observed].sum()))


def paired_interval_over_seeds(differences: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Interval (pp) for the mean paired difference; ``differences``: (seeds, images) of -1, 0, +1.

    Each image is one unit, its difference averaged over the seeds; like
    Agresti and Min's interval for one seed (which it equals there), two
    pseudo-images are added, one with no difference and one half each at
    -1 and +1, so no discordant image does not give [0, 0].
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] == 0:
        raise ValueError(f"differences must be shaped (seeds, images) with images > 0. Received: shape={d.shape}")
    per_image = d.mean(axis=0)
    n = per_image.size + 2
    mean = per_image.sum() / n
    variance = max((np.square(per_image).sum() + 1.0) / n - mean**2, 0.0) / n
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * math.sqrt(variance)
    return 100 * max(mean - half, -1.0), 100 * min(mean + half, 1.0)


@dataclass(frozen=True)
class PairedOverSeeds:
    differences: np.ndarray  # (seeds, images): B right minus A right, -1, 0 or +1
    p_value: float  # exact sign-flip test over images (McNemar's exact test for one seed)

    @property
    def seeds(self) -> int:
        return int(self.differences.shape[0])

    @property
    def images(self) -> int:
        """Distinct test images."""
        return int(self.differences.shape[1])

    @property
    def b(self) -> int:
        """(image, seed) pairs right under A, wrong under B, summed over seeds (descriptive)."""
        return int((self.differences < 0).sum())

    @property
    def c(self) -> int:
        """(image, seed) pairs wrong under A, right under B."""
        return int((self.differences > 0).sum())

    @property
    def effect(self) -> float:
        """Accuracy of B minus accuracy of A (a fraction), averaged over seeds."""
        return float(self.differences.mean())

    @property
    def per_seed_effects(self) -> np.ndarray:
        """Each seed's accuracy of B minus accuracy of A (fractions)."""
        return self.differences.mean(axis=1)

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        return paired_interval_over_seeds(self.differences, confidence)


def paired_over_seeds(right_a: np.ndarray, right_b: np.ndarray) -> PairedOverSeeds:
    """Compare two cells on the same images: per-image "correct" of A and of B, shaped (seeds, images) (or
    (images,) for one seed), image j the same test image in every seed."""
    a = np.atleast_2d(np.asarray(right_a, dtype=bool))
    b = np.atleast_2d(np.asarray(right_b, dtype=bool))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"Paired outcomes must cover the same seeds and images. Received: shapes {a.shape} and "
                         f"{b.shape}")
    differences = b.astype(np.int64) - a.astype(np.int64)
    return PairedOverSeeds(differences, sign_flip_p(differences.sum(axis=0)))
