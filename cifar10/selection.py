"""Which images make the train and test sets: the thesis protocol and the full one.

* ``thesis``: ``images_per_class`` images of each class drawn from the CIFAR-10
  *training* split (a seeded permutation of the class's fixed order), the first
  ``train_per_class`` for training and the rest for testing (500 -> 400/100).
* ``full``: every training image for training and every test image for testing.

Labels are 0..k-1 in the order the classes are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

import checks
from cifar10.sources import Source, open_source

DEFAULT_CLASSES = ("airplane", "automobile", "bird")
PROTOCOLS = ("thesis", "full")


@dataclass(frozen=True)
class Split:
    """Float32 NHWC images in [0, 1] with int labels, and the class names they index."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    description: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def parse_classes(classes: str | Sequence[str]) -> tuple[str, ...]:
    """``"airplane,automobile,bird"`` or a sequence -> tuple of names, duplicates rejected."""
    names = tuple(c.strip() for c in classes.split(",")) if isinstance(classes, str) else tuple(classes)
    if not names or any(not n for n in names):
        raise ValueError(f"classes must name at least one class. Received: classes={classes!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"classes must not repeat. Received: classes={classes!r}")
    return names


def _to_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / np.float32(255.0)


def select(
    source: Source,
    classes: Sequence[str] = DEFAULT_CLASSES,
    protocol: str = "thesis",
    images_per_class: int = 500,
    train_per_class: int = 400,
    seed: int = 0,
) -> Split:
    """Select train and test images from an opened source; see the module docstring."""
    classes = parse_classes(classes)
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}. Received: protocol={protocol!r}")
    unknown = [c for c in classes if c not in source.class_names]
    if unknown:
        raise ValueError(
            f"Unknown class(es) {unknown} in {source.description}. "
            f"Available: {list(source.class_names)}. Received: classes={list(classes)}"
        )
    images_per_class = checks.positive_int("images_per_class", images_per_class)
    train_per_class = checks.positive_int("train_per_class", train_per_class)
    seed = int(seed)

    parts = {"train": ([], []), "test": ([], [])}
    if protocol == "thesis":
        if train_per_class >= images_per_class:
            raise ValueError(
                "train_per_class must leave test images: it must be < images_per_class. "
                f"Received: train_per_class={train_per_class}, images_per_class={images_per_class}"
            )
        for label, name in enumerate(classes):
            available = source.count("train", name)
            if available < images_per_class:
                raise ValueError(
                    f"Too few images: class '{name}' has {available} training images in "
                    f"{source.description}, the thesis protocol needs images_per_class={images_per_class}"
                )
            # One generator per class, seeded by (seed, class index): adding a class never
            # changes the images drawn for the others.
            rng = np.random.default_rng([seed, label])
            chosen = rng.permutation(available)[:images_per_class]
            images = source.read("train", name, chosen)
            for split, rows in (("train", slice(0, train_per_class)), ("test", slice(train_per_class, None))):
                parts[split][0].append(images[rows])
                parts[split][1].append(np.full(len(images[rows]), label, dtype=np.int64))
    else:
        for label, name in enumerate(classes):
            for split in ("train", "test"):
                count = source.count(split, name)
                if count == 0:
                    raise ValueError(f"Too few images: class '{name}' has no {split} images in {source.description}")
                parts[split][0].append(source.read(split, name, np.arange(count)))
                parts[split][1].append(np.full(count, label, dtype=np.int64))

    return Split(
        x_train=_to_float(np.concatenate(parts["train"][0])),
        y_train=np.concatenate(parts["train"][1]),
        x_test=_to_float(np.concatenate(parts["test"][0])),
        y_test=np.concatenate(parts["test"][1]),
        class_names=classes,
        description={
            "source": source.description,
            "classes": ",".join(classes),
            "protocol": protocol,
            "images_per_class": images_per_class if protocol == "thesis" else "all",
            "train_per_class": train_per_class if protocol == "thesis" else "all",
            "seed": seed,
        },
    )


def load_split(
    data: str = "keras",
    classes: Sequence[str] = DEFAULT_CLASSES,
    protocol: str = "thesis",
    images_per_class: int = 500,
    train_per_class: int = 400,
    seed: int = 0,
) -> Split:
    """Open ``data`` (``"keras"`` or a local folder) and select a train/test split."""
    return select(open_source(data), classes, protocol, images_per_class, train_per_class, seed)


def hold_out(split: Split, per_class: int, seed: int = 0) -> Split:
    """Validation images held out from the *training* images: the returned split trains on the rest and
    "tests" on ``per_class`` training images of each class (drawn with ``seed``). The test images are dropped:
    whatever selects on this split (a sweep, a recipe probe) never sees them.
    """
    per_class = checks.positive_int("validation_per_class", per_class)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(split.num_classes):
        members = np.flatnonzero(split.y_train == label)
        if per_class >= len(members):
            raise ValueError(f"validation_per_class must be below the {len(members)} training images of class "
                             f"{split.class_names[label]!r}. Received: validation_per_class={per_class}")
        chosen.append(rng.permutation(members)[:per_class])
    held = np.sort(np.concatenate(chosen))
    kept = np.setdiff1d(np.arange(len(split.y_train)), held)
    return Split(split.x_train[kept], split.y_train[kept], split.x_train[held], split.y_train[held],
                 split.class_names, {**split.description, "validation_per_class": per_class,
                                     "validation_seed": seed, "test_images": "validation images held out of training"})
