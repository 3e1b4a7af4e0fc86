"""CIFAR-10: the offline JPEG folder copy, label order, subsets, broken files, missing data."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import needs_cifar_jpg
from helpers.data import CIFAR10_CLASSES, DataMissingError, ImageDecodeError, load_cifar10


@needs_cifar_jpg
def test_jpeg_copy_subset_shapes_balance_and_name():
    data = load_cifar10(train_size=200, test_size=100, seed=0)
    assert data.x_train.shape == (200, 3, 32, 32) and data.x_test.shape == (100, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_test.dtype == torch.int64
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0 and data.x_train.std() > 0.1
    assert data.classes[0] == "airplane" and data.classes[9] == "truck" and data.classes == CIFAR10_CLASSES
    assert set(data.class_counts().values()) == {20} and set(data.class_counts("test").values()) == {10}
    assert "JPEG" in data.name
    assert len(set(data.y_train[:20].tolist())) > 3  # shuffled, not a run of airplanes


@needs_cifar_jpg
def test_jpeg_copy_is_deterministic_per_seed():
    a = load_cifar10(100, 50, seed=4)
    b = load_cifar10(100, 50, seed=4)
    c = load_cifar10(100, 50, seed=5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_train, c.x_train)


def _fake_jpeg_copy(root: Path, per_class: int = 3) -> Path:
    """cifar10-jpg tree where every image of class k is filled with the grey value 20 * k + 10."""
    for split in ("train", "test"):
        for k, name in enumerate(CIFAR10_CLASSES):
            folder = root / "cifar10-jpg" / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (32, 32), (20 * k + 10,) * 3).save(folder / f"{i:04d}.jpg", quality=95)
    return root / "cifar10-jpg"


def test_labels_follow_the_standard_class_order(tmp_path):
    _fake_jpeg_copy(tmp_path)
    data = load_cifar10(root=tmp_path, download=False)
    assert len(data.x_train) == 30 and len(data.x_test) == 30
    grey = (data.x_train[:, 0, 16, 16] * 255).round()
    assert torch.allclose(grey, (20 * data.y_train + 10).float(), atol=2)  # each image carries its class


def test_png_files_and_a_broken_file_are_handled(tmp_path):
    jpeg = _fake_jpeg_copy(tmp_path, per_class=1)
    Image.new("RGB", (32, 32), (70, 70, 70)).save(jpeg / "train" / "cat" / "extra.png")
    data = load_cifar10(root=tmp_path, download=False)
    assert len(data.x_train) == 11
    broken = jpeg / "test" / "dog" / "0001.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageDecodeError, match="0001.jpg") as info:
        load_cifar10(root=tmp_path, download=False)
    assert info.value.path == broken


def test_wrong_class_folders_are_reported(tmp_path):
    jpeg = _fake_jpeg_copy(tmp_path, per_class=1)
    (jpeg / "train" / "truck").rename(jpeg / "train" / "lorry")
    with pytest.raises(ValueError, match="lorry"):
        load_cifar10(root=tmp_path, download=False)


def test_missing_dataset_names_dataset_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))
    with pytest.raises(DataMissingError) as info:
        load_cifar10(download=False)
    message = str(info.value)
    assert "CIFAR-10" in message
    assert str(tmp_path / "cifar-10-batches-py") in message and str(tmp_path / "cifar10-jpg") in message
    assert "download=True" in message
    assert not any(tmp_path.iterdir())  # nothing written when download is off
