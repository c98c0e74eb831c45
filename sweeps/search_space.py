"""The sweep's search space, checked before any trial runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import heatmaps


def _bounds(name: str, low, high, positive: bool, at_most_one: bool) -> tuple[float, float]:
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"{name} bounds must be numbers. Received: {name}=({low!r}, {high!r})") from None
    bad = (not math.isfinite(low) or not math.isfinite(high) or low > high
           or (positive and low <= 0) or (at_most_one and high > 1))
    if bad:
        rule = "0 < low <= high <= 1" if at_most_one else "0 < low <= high"
        raise ValueError(f"{name} bounds must satisfy {rule}. Received: {name}=({low}, {high})")
    return low, high


@dataclass(frozen=True)
class SearchSpace:
    """sigma in [low, high], keep_fraction in [low, high], heatmap method among ``heatmaps`` (fixed if one)."""

    sigma: tuple[float, float] = (0.5, 8.0)
    keep_fraction: tuple[float, float] = (0.05, 0.5)
    heatmaps: tuple[str, ...] = ("lrp_eps",)

    def __post_init__(self):
        object.__setattr__(self, "sigma", _bounds("sigma", *self.sigma, positive=True, at_most_one=False))
        object.__setattr__(self, "keep_fraction",
                           _bounds("keep_fraction", *self.keep_fraction, positive=True, at_most_one=True))
        methods = tuple(self.heatmaps)
        if not methods:
            raise ValueError("heatmaps must name at least one method. Received: heatmaps=()")
        for method in methods:
            heatmaps.get(method)
        object.__setattr__(self, "heatmaps", methods)

    def sample(self, trial) -> dict:
        """One point: sigma and keep_fraction on a log scale, the method categorical when there is a choice."""
        point = {"sigma": trial.suggest_float("sigma", *self.sigma, log=True),
                 "keep_fraction": trial.suggest_float("keep_fraction", *self.keep_fraction, log=True)}
        point["heatmap"] = (trial.suggest_categorical("heatmap", list(self.heatmaps)) if len(self.heatmaps) > 1
                            else self.heatmaps[0])
        return point
