"""Paired comparisons of two cells measured on the same test images: exact McNemar, Holm's correction.

Two columns of one table row share their 300 test images, and so do the
``before`` and ``after`` orders of one model: their outcomes are paired, and
independent intervals are the wrong test. McNemar's exact test looks only at
the discordant images: ``b`` (right under A, wrong under B) and ``c`` (wrong
under A, right under B); under "no difference" each discordant image is a fair
coin, so the p-value is two-sided binomial with n = b + c and p = 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedComparison:
    n: int  # images
    b: int  # right under A, wrong under B
    c: int  # wrong under A, right under B
    p_value: float  # exact two-sided McNemar

    @property
    def difference(self) -> float:
        """Accuracy of B minus accuracy of A (a fraction)."""
        return (self.c - self.b) / self.n if self.n else float("nan")


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for discordant counts ``b`` and ``c`` (1 when both are 0)."""
    if b < 0 or c < 0:
        raise ValueError(f"Discordant counts must be >= 0. Received: b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = stats.binom.cdf(min(b, c), n, 0.5)
    return float(min(1.0, 2.0 * tail))


def compare(correct_a: np.ndarray, correct_b: np.ndarray) -> PairedComparison:
    """McNemar on two per-image "classified correctly" arrays of the same images, in the same order."""
    a = np.asarray(correct_a, dtype=bool).reshape(-1)
    b = np.asarray(correct_b, dtype=bool).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"Paired outcomes must cover the same images. Received: {a.size} and {b.size} outcomes")
    right_wrong = int((a & ~b).sum())
    wrong_right = int((~a & b).sum())
    return PairedComparison(int(a.size), right_wrong, wrong_right, mcnemar_exact(right_wrong, wrong_right))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError(f"p-values must lie in [0, 1]. Received: {p.tolist()}")
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted
