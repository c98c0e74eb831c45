"""CIFAR-10 sources, the thesis selection, and the errors bad data gets."""

import pickle

import numpy as np
import pytest
from PIL import Image

import cifar10
from cifar10.sources import CIFAR10_CLASSES


def write_tree(root, counts, suffix=".png", seed=0):
    """An image tree root/{train,test}/<class>/NNNN.<suffix> with random RGB images."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, per_class in counts.items():
        for name, count in per_class.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            arrays[(split, name)] = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
            for i, image in enumerate(arrays[(split, name)]):
                Image.fromarray(image).save(folder / f"{i:04d}{suffix}")
    return arrays


def write_batches(folder, per_class_train=6, per_class_test=2, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)

    def dump(name, count_per_class):
        labels = np.repeat(np.arange(10), count_per_class)
        rng.shuffle(labels)
        images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
        data = images.transpose(0, 3, 1, 2).reshape(len(labels), 3072)
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": data, b"labels": labels.tolist()}, handle)
        return images, labels

    parts = [dump(f"data_batch_{i}", per_class_train) for i in range(1, 6)]
    test = dump("test_batch", per_class_test)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR10_CLASSES]}, handle)
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return train, test


def test_thesis_selection_on_the_shared_image_tree(data_root):
    split = cifar10.load_split(str(data_root), seed=0)
    assert split.class_names == ("airplane", "automobile", "bird")
    assert split.x_train.shape == (1200, 32, 32, 3) and split.x_test.shape == (300, 32, 32, 3)
    assert split.x_train.dtype == np.float32 and 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    assert np.bincount(split.y_train).tolist() == [400] * 3 and np.bincount(split.y_test).tolist() == [100] * 3
    train_rows = {row.tobytes() for row in split.x_train}
    assert not any(row.tobytes() in train_rows for row in split.x_test)  # disjoint
    again = cifar10.load_split(str(data_root), seed=0)
    np.testing.assert_array_equal(split.x_train, again.x_train)
    np.testing.assert_array_equal(split.y_test, again.y_test)
    other = cifar10.load_split(str(data_root), seed=1)
    assert not np.array_equal(split.x_train, other.x_train)


def test_image_tree_jpg_and_png_and_class_order(tmp_path):
    arrays = write_tree(tmp_path / "png", {"train": {"cat": 6, "dog": 6}, "test": {"cat": 2, "dog": 2}})
    split = cifar10.load_split(str(tmp_path / "png"), classes=["dog", "cat"], protocol="full")
    assert split.class_names == ("dog", "cat")
    np.testing.assert_array_equal(split.x_train[:6], arrays[("train", "dog")] / np.float32(255))
    np.testing.assert_array_equal(split.y_train, [0] * 6 + [1] * 6)
    assert split.x_test.shape == (4, 32, 32, 3)
    write_tree(tmp_path / "jpg", {"train": {"cat": 5}}, suffix=".jpg")
    thesis = cifar10.load_split(str(tmp_path / "jpg"), classes="cat", images_per_class=5, train_per_class=3)
    assert thesis.x_train.shape == (3, 32, 32, 3) and thesis.x_test.shape == (2, 32, 32, 3)


def test_cifar_batches_folder(tmp_path):
    train, test = write_batches(tmp_path / "cifar-10-batches-py")
    for data in (tmp_path, tmp_path / "cifar-10-batches-py"):  # the folder or its parent
        split = cifar10.load_split(str(data), classes=["bird", "ship"], protocol="full")
        expected = np.concatenate([train[0][train[1] == 2], train[0][train[1] == 8]]) / np.float32(255)
        np.testing.assert_array_equal(split.x_train, expected)
        assert split.x_test.shape == (4, 32, 32, 3) and split.y_test.tolist() == [0, 0, 1, 1]
    thesis = cifar10.load_split(str(tmp_path), classes=["bird"], images_per_class=20, train_per_class=15, seed=3)
    assert thesis.x_train.shape == (15, 32, 32, 3) and thesis.x_test.shape == (5, 32, 32, 3)


def test_keras_loader_is_used_for_data_keras(monkeypatch):
    import keras

    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    y_train = np.repeat(np.arange(10), 6).reshape(-1, 1)
    x_test, y_test = x_train[:20], np.repeat(np.arange(10), 2).reshape(-1, 1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x_train, y_train), (x_test, y_test)))
    split = cifar10.load_split("keras", classes=["truck"], protocol="full")
    np.testing.assert_array_equal(split.x_train, x_train[54:60] / np.float32(255))

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(RuntimeError, match="Offline, pass a local folder"):
        cifar10.load_split("keras")


def test_thesis_selection_is_stable_when_classes_are_added(tmp_path):
    write_tree(tmp_path, {"train": {"cat": 8, "dog": 8}})
    one = cifar10.load_split(str(tmp_path), classes=["cat"], images_per_class=4, train_per_class=2, seed=7)
    two = cifar10.load_split(str(tmp_path), classes=["cat", "dog"], images_per_class=4, train_per_class=2, seed=7)
    np.testing.assert_array_equal(one.x_train, two.x_train[:2])


def test_missing_empty_and_unknown(tmp_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        cifar10.load_split(str(tmp_path / "does-not-exist"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither an image tree"):
        cifar10.load_split(str(tmp_path / "empty"))
    (tmp_path / "hollow" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="no class folders"):
        cifar10.load_split(str(tmp_path / "hollow"))
    write_tree(tmp_path / "tree", {"train": {"cat": 3}})
    with pytest.raises(ValueError, match=r"Unknown class\(es\) \['zebra'\]"):
        cifar10.load_split(str(tmp_path / "tree"), classes=["cat", "zebra"])
    with pytest.raises(ValueError, match="class 'cat' has 3 training images"):
        cifar10.load_split(str(tmp_path / "tree"), classes=["cat"])
    with pytest.raises(ValueError, match="Received: protocol='tiny'"):
        cifar10.load_split(str(tmp_path / "tree"), classes=["cat"], protocol="tiny")
    with pytest.raises(ValueError, match="Received: train_per_class=3, images_per_class=3"):
        cifar10.load_split(str(tmp_path / "tree"), classes=["cat"], images_per_class=3, train_per_class=3)


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda p: p.write_bytes(b"not an image at all"), "corrupt or not an image"),
        (lambda p: Image.new("L", (32, 32)).save(p, format="PNG"), "mode 'L'"),
        (lambda p: Image.new("RGBA", (32, 32)).save(p, format="PNG"), "mode 'RGBA'"),
        (lambda p: Image.new("RGB", (28, 32)).save(p, format="PNG"), "28x32"),
    ],
)
def test_bad_image_files_are_named(tmp_path, make_bad, message):
    write_tree(tmp_path, {"train": {"cat": 2}})
    bad = tmp_path / "train" / "cat" / "0001.png"
    make_bad(bad)
    with pytest.raises(ValueError, match=message) as info:
        cifar10.load_split(str(tmp_path), classes=["cat"], images_per_class=2, train_per_class=1)
    assert str(bad) in str(info.value)


def test_corrupt_batch_file_is_named(tmp_path):
    write_batches(tmp_path / "batches")
    (tmp_path / "batches" / "data_batch_3").write_bytes(b"\x80garbage")
    with pytest.raises(ValueError, match="data_batch_3"):
        cifar10.load_split(str(tmp_path / "batches"))
