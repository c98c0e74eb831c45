"""Where CIFAR-10 images come from: Keras' cache, a cifar-10-batches-py folder, an image folder.

Every source exposes the same small interface so that selection never cares
which one it reads:

* ``class_names``: the class names the source holds;
* ``count(split, name)``: how many images of a class a split holds;
* ``read(split, name, indices)``: uint8 (n, 32, 32, 3) images of that class,
  in the source's fixed per-class order (file-name order for a folder,
  record order for the pickled batches).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
IMAGE_SHAPE = (32, 32, 3)
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class Source(Protocol):
    description: str
    class_names: tuple[str, ...]

    def count(self, split: str, name: str) -> int: ...

    def read(self, split: str, name: str, indices: Sequence[int]) -> np.ndarray: ...


class ArraySource:
    """CIFAR-10 held as uint8 arrays (the pickled batches or Keras' loader)."""

    def __init__(self, description: str, arrays: dict, class_names: Sequence[str] = CIFAR10_CLASSES):
        self.description = description
        self.class_names = tuple(class_names)
        self._by_class = {}
        for split, (images, labels) in arrays.items():
            labels = np.asarray(labels).reshape(-1)
            if images.shape[1:] != IMAGE_SHAPE:
                raise ValueError(
                    f"{description}: {split} images must be shaped (N, 32, 32, 3). Received: {images.shape}"
                )
            for index, name in enumerate(self.class_names):
                self._by_class[(split, name)] = images[labels == index]

    def count(self, split: str, name: str) -> int:
        return len(self._by_class[(split, name)])

    def read(self, split: str, name: str, indices: Sequence[int]) -> np.ndarray:
        return self._by_class[(split, name)][np.asarray(indices, dtype=np.int64)]


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="bytes")
    except FileNotFoundError:
        raise FileNotFoundError(f"CIFAR-10 batch file is missing: {path}") from None
    except Exception as error:  # a truncated or foreign file
        raise ValueError(f"CIFAR-10 batch file is corrupt or not a CIFAR-10 pickle: {path} ({error})") from None


def _batch_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    data = batch.get(b"data")
    labels = batch.get(b"labels")
    if data is None or labels is None:
        raise ValueError(f"CIFAR-10 batch file has no b'data'/b'labels' entries: {path}")
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"CIFAR-10 batch data must be (N, 3072) uint8. Received: {data.shape} in {path}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(labels, dtype=np.int64)


def batches_source(folder: Path) -> ArraySource:
    """The python version of CIFAR-10 (``cifar-10-batches-py``, Krizhevsky's pickles)."""
    folder = Path(folder)
    parts = [_batch_arrays(folder / f"data_batch_{i}") for i in range(1, 6)]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = _batch_arrays(folder / "test_batch")
    names = CIFAR10_CLASSES
    meta_path = folder / "batches.meta"
    if meta_path.exists():
        meta = _unpickle(meta_path)
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"])
    return ArraySource(f"cifar-10-batches-py at {folder}", {"train": train, "test": test}, names)


def keras_source() -> ArraySource:
    """Keras' ``cifar10.load_data()``: downloads once (online), then reads its cache."""
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:
        raise RuntimeError(
            "Could not load CIFAR-10 through keras.datasets.cifar10 (it downloads on first use). "
            "Offline, pass a local folder instead: an image tree <root>/{train,test}/<class>/*.jpg "
            f"or a cifar-10-batches-py folder. Cause: {error}"
        ) from error
    return ArraySource("keras.datasets.cifar10", {"train": (x_train, y_train), "test": (x_test, y_test)})


class FolderSource:
    """An image-folder tree ``<root>/{train,test}/<class>/*.{png,jpg,jpeg}``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.description = f"image folder at {self.root}"
        names = set()
        for split in SPLITS:
            split_dir = self.root / split
            if split_dir.is_dir():
                names.update(p.name for p in split_dir.iterdir() if p.is_dir())
        if not names:
            raise ValueError(
                f"Image folder has no class folders under {self.root}/train or {self.root}/test. "
                f"Expected <root>/{{train,test}}/<class>/*.jpg. Received: data={str(self.root)!r}"
            )
        ordered = [n for n in CIFAR10_CLASSES if n in names] + sorted(names - set(CIFAR10_CLASSES))
        self.class_names = tuple(ordered)
        self._files: dict[tuple[str, str], list[Path]] = {}

    def files(self, split: str, name: str) -> list[Path]:
        key = (split, name)
        if key not in self._files:
            folder = self.root / split / name
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
            self._files[key] = found
        return self._files[key]

    def count(self, split: str, name: str) -> int:
        return len(self.files(split, name))

    def read(self, split: str, name: str, indices: Sequence[int]) -> np.ndarray:
        files = self.files(split, name)
        out = np.empty((len(indices), *IMAGE_SHAPE), dtype=np.uint8)
        for row, index in enumerate(indices):
            out[row] = read_image(files[int(index)])
        return out


def read_image(path: Path) -> np.ndarray:
    """One RGB 32x32 image as uint8 (32, 32, 3); a clear error names a bad file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            mode, size = image.mode, image.size
            if mode != "RGB":
                raise ValueError(
                    f"Image must be RGB (3 channels). Received: mode {mode!r} in file {path}"
                )
            if size != IMAGE_SHAPE[1::-1]:
                raise ValueError(
                    f"Image must be 32x32 pixels. Received: {size[0]}x{size[1]} in file {path}"
                )
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"Image file is corrupt or not an image: {path} ({error})") from None


def open_source(data: str) -> Source:
    """``"keras"`` or a local path (image tree, cifar-10-batches-py, or a folder holding one)."""
    if str(data) == "keras":
        return keras_source()
    path = Path(data).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Data folder does not exist. Received: data={str(data)!r}")
    if not path.is_dir():
        raise ValueError(f"Data must be a folder or 'keras'. Received: data={str(data)!r}")
    if (path / "data_batch_1").exists():
        return batches_source(path)
    if (path / "cifar-10-batches-py" / "data_batch_1").exists():
        return batches_source(path / "cifar-10-batches-py")
    if any((path / split).is_dir() for split in SPLITS):
        return FolderSource(path)
    raise ValueError(
        "Data folder is neither an image tree (<root>/{train,test}/<class>/*.jpg) nor a "
        f"cifar-10-batches-py folder. Received: data={str(data)!r}"
    )
