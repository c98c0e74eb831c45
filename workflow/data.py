"""The images a workflow step sees: loaded once per selection, fingerprinted, read-only.

A step's key holds the fingerprint (a hash of the selected arrays), so the
same images give the same key wherever they were read from, and other images
never reuse a finished step. Loads are cached by their selection (LRU); the
arrays are read-only, so no caller can change what another one sees.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from cifar10 import Split, hold_out, load_split

SELECTION_KEYS = ("classes", "images_per_class", "train_per_class", "data_seed", "validation_per_class")


@dataclass(frozen=True)
class Data:
    """A selection of images, where it came from, and its fingerprint."""

    split: Split
    source: str
    fingerprint: str

    def params(self, settings: Mapping[str, object]) -> dict:
        """What a step run logs about its data."""
        return {"data": self.source, **{k: settings[k] for k in SELECTION_KEYS}, "data_fingerprint": self.fingerprint}


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def read_only(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=4)
def _load(source: str, classes: str, images_per_class: int, train_per_class: int, data_seed: int,
          validation_per_class: int) -> Data:
    split = load_split(source, classes, "thesis", images_per_class, train_per_class, data_seed)
    if validation_per_class:  # select on held-out training images: the test images are not loaded into the split
        split = hold_out(split, validation_per_class, data_seed)
    for array in (split.x_train, split.y_train, split.x_test, split.y_test):
        read_only(array)
    return Data(split, source, fingerprint(split.x_train, split.y_train, split.x_test, split.y_test))


def load(settings: Mapping[str, object], source: str) -> Data:
    """The thesis-protocol selection the settings describe, from ``source`` (cached).

    With ``validation_per_class`` > 0 the split's test part is that many training
    images per class held out of training (for sweeps: they select on it).
    """
    return _load(str(source), *(settings[k] for k in SELECTION_KEYS))
