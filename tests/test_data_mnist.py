"""MNIST through torchvision from the offline copy (ADVLAB_DATA, set by conftest)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.datasets import MNIST

from conftest import needs_mnist
from helpers.data import load_mnist, stratified_indices
from helpers.paths import data_root

pytestmark = needs_mnist


def test_full_set_shapes_dtypes_and_range():
    data = load_mnist()
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.classes == [str(d) for d in range(10)]
    assert data.name == "MNIST (torchvision)"
    reference = MNIST(str(data_root()), train=False, download=False)
    assert torch.equal(data.y_test, reference.targets)  # None keeps the original order
    assert torch.equal((data.x_test[:50, 0] * 255).round().to(torch.uint8), reference.data[:50])


def test_subset_is_stratified_and_paired_with_the_right_images():
    data = load_mnist(train_size=1000, test_size=200, seed=5)
    assert len(data.x_train) == 1000 and len(data.y_test) == 200
    reference = MNIST(str(data_root()), train=True, download=False)
    full_share = np.bincount(reference.targets.numpy(), minlength=10) / len(reference.targets)
    counts = np.bincount(data.y_train.numpy(), minlength=10)
    assert np.all(np.abs(counts - 1000 * full_share) < 1.0)
    test_targets = MNIST(str(data_root()), train=False, download=False).targets.numpy()
    test_share = np.bincount(test_targets, minlength=10) / len(test_targets)
    assert np.all(np.abs(np.bincount(data.y_test.numpy(), minlength=10) - 200 * test_share) < 1.0)
    picked = torch.as_tensor(stratified_indices(reference.targets, 1000, seed=5))
    assert torch.equal(data.y_train, reference.targets[picked])
    assert torch.equal((data.x_train[:, 0] * 255).round().to(torch.uint8), reference.data[picked])


def test_same_seed_same_digits_other_seed_other_digits():
    a = load_mnist(300, 100, seed=1)
    b = load_mnist(300, 100, seed=1)
    c = load_mnist(300, 100, seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b"\x00\x00\x08\x02" + b[4:], "magic number 2051.*found magic number 2050"),
        (lambda b: b[: len(b) // 2], "7,840,016 bytes.*found 3,920,008 bytes"),
        (lambda b: b"", "idx header of 16 bytes.*found a file of 0 bytes"),
    ],
    ids=["wrong magic", "truncated", "empty"],
)
def test_a_corrupt_idx_file_is_named_with_what_was_expected(tmp_path, damage, message):
    """A copy of the MNIST folder with one damaged test-image file: one message naming that file."""
    from helpers.paths import DataCorruptError, data_root

    source = data_root() / "MNIST" / "raw"
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).symlink_to(source / name)
    (raw / "t10k-images-idx3-ubyte").write_bytes(damage((source / "t10k-images-idx3-ubyte").read_bytes()))
    with pytest.raises(DataCorruptError, match=message) as error:
        load_mnist(10, 10, root=tmp_path, download=False)
    assert "t10k-images-idx3-ubyte" in str(error.value) and "\n" not in str(error.value)
