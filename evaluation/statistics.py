"""Accuracy with honest uncertainty: Wilson intervals per cell, mean and std over seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.correct / self.n if self.n else float("nan")


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson, 1927).

    Better than the normal approximation for small n and proportions near 0
    or 1 (it never leaves [0, 1]). Returns (nan, nan) for n = 0.
    """
    if n < 0 or correct < 0 or correct > n:
        raise ValueError(f"Need 0 <= correct <= n. Received: correct={correct}, n={n}")
    if n == 0:
        return float("nan"), float("nan")
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> Accuracy:
    predictions = np.asarray(predictions).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions and labels differ in length: {predictions.shape} vs {labels.shape}")
    correct = int((predictions == labels).sum())
    low, high = wilson_interval(correct, len(labels))
    return Accuracy(correct, len(labels), low, high)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) over seeds."""
    array = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if array.size == 0:
        return float("nan"), float("nan")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0
