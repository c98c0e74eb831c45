"""The test sets, and the training variants they double as: one registry, derived from the heatmap methods.

A test set is what the defense T does to an image before the classifier sees
it: ``original`` (identity), ``blur`` (the whole image blurred) and one
heatmap blur per heatmap method (the ``random`` control included). A training
variant is a model trained on the images of one test set: ``none`` on the
original images, ``<method>`` on that method's heatmap-blurred images (the
thesis' five models), and the controls beyond the thesis: ``blur`` on entirely
blurred images and ``random`` on images blurred but for a random 15%.

Each :class:`TestSet` record carries what tables, figures, profiles and steps
need; a heatmap method's record is built from its ``heatmaps.METHODS`` entry,
so a newly registered method is a test set and a training variant at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import heatmaps


@dataclass(frozen=True)
class TestSet:
    name: str
    label: str  # column label in tables; the model label of its variant
    colour: str  # bar colour in figures
    heatmap: str | None = None  # heatmap method whose keep mask it uses
    variant: str | None = None  # training variant trained on these images, if any
    thesis_table: str | None = None  # the thesis' table of that variant's model
    control: bool = False  # beyond the thesis: a control column / model

    __test__ = False  # not a pytest class


BASE_TEST_SETS = (
    TestSet("original", "Original", "#404040", variant="none", thesis_table="4.1"),
    TestSet("blur", "Blur", "#b0b0b0", variant="blur"),  # the model trained on blurred images: a control
)


def test_sets() -> dict[str, TestSet]:
    """Every test set in the thesis' column order: original, blur, then the heatmap methods."""
    derived = {m.name: TestSet(m.name, m.label or m.name, m.colour, heatmap=m.name, variant=m.name,
                               thesis_table=m.thesis_table, control=m.control) for m in heatmaps.METHODS.values()}
    return {**{t.name: t for t in BASE_TEST_SETS}, **derived}


test_sets.__test__ = False  # not a pytest test


def test_set(name: str) -> TestSet:
    known = test_sets()
    if name not in known:
        raise ValueError(f"Unknown test set. Expected one of {list(known)}. Received: test_set={name!r}")
    return known[name]


test_set.__test__ = False


def variants() -> dict[str, TestSet]:
    """Training variant name -> the test set its images come from (``none`` -> ``original``)."""
    return {t.variant: t for t in test_sets().values() if t.variant}


def variant(name: str) -> TestSet:
    known = variants()
    if name not in known:
        raise ValueError(f"Unknown training variant. Expected one of {list(known)}. Received: heatmap={name!r}")
    return known[name]
