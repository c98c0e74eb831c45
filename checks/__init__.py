"""The project's value checks, each raising ``ValueError`` that repeats the bad value.

One small module below every package but the leaves (``blur/`` and
``heatmaps/`` check their own few values). A value is checked once, where it
enters: settings resolution, or a library's public entry.

    checks.positive_int("epochs", "20")      -> 20
    checks.positive_number("sigma", 0)       -> ValueError: ... Received: sigma=0
"""

from __future__ import annotations

import math
from typing import Iterable

__all__ = ["boolean", "non_negative_int", "non_negative_number", "one_of", "positive_int", "positive_number"]


def _number(value) -> float:
    if isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (strings such as ``"20"`` or ``"20.0"`` are accepted)."""
    number = _number(value)
    if not math.isfinite(number) or number != int(number) or number < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}. Received: {name}={value!r}")
    return int(number)


def non_negative_int(name: str, value) -> int:
    return positive_int(name, value, minimum=0)


def positive_number(name: str, value) -> float:
    """``value`` as a finite float > 0."""
    number = _number(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive, finite number. Received: {name}={value!r}")
    return number


def one_of(name: str, value, choices: Iterable[str], what: str | None = None) -> str:
    """``value`` if it is one of ``choices``; ``what`` names the kind of thing in the message."""
    allowed = list(choices)
    if value not in allowed:
        raise ValueError(f"Unknown {what or name}. Expected one of {allowed}. Received: {name}={value!r}")
    return value


def non_negative_number(name: str, value) -> float:
    """``value`` as a finite float >= 0."""
    number = _number(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0. Received: {name}={value!r}")
    return number


def boolean(name: str, value) -> bool:
    """``True``/``False``, or their spellings from a command line (true/false, 1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false. Received: {name}={value!r}")
