"""CIFAR-10 loading and the thesis' train/test selection.

    split = cifar10.load_split("../shared/data/cifar10-jpg")   # thesis protocol, 400/100 per class
    split.x_train  # float32 (1200, 32, 32, 3) in [0, 1]

Sources: ``"keras"`` (``keras.datasets.cifar10``: downloads once, then its
cache), a ``cifar-10-batches-py`` folder, or an image tree
``<root>/{train,test}/<class>/*.{png,jpg}``.
"""

from cifar10.selection import DEFAULT_CLASSES, PROTOCOLS, Split, hold_out, load_split, parse_classes, select
from cifar10.sources import CIFAR10_CLASSES, IMAGE_SHAPE, open_source, read_image

__all__ = [
    "hold_out",
    "CIFAR10_CLASSES",
    "DEFAULT_CLASSES",
    "IMAGE_SHAPE",
    "PROTOCOLS",
    "Split",
    "load_split",
    "open_source",
    "parse_classes",
    "read_image",
    "select",
]
