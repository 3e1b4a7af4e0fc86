"""Seeded stratified sampling and the ImageSplit container."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.data import ImageSplit, stratified_indices, stratified_split


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


def test_subset_keeps_class_shares_exactly_up_to_rounding():
    labels = _labels([500, 300, 150, 50])  # 50% / 30% / 15% / 5%
    picked = stratified_indices(labels, 100, seed=0)
    assert len(picked) == 100 and len(set(picked.tolist())) == 100
    assert np.bincount(labels[picked]).tolist() == [50, 30, 15, 5]


@pytest.mark.parametrize("size", [0, 1, 3, 7, 97, 999, 1000])
def test_quotas_always_sum_to_size_and_stay_within_classes(size):
    rng = np.random.default_rng(size)
    counts = rng.integers(1, 300, size=7)
    labels = rng.permutation(_labels(counts))
    size = min(size, len(labels))
    picked = stratified_indices(labels, size, seed=1)
    assert len(picked) == size
    got = np.bincount(labels[picked], minlength=len(counts))
    expected = counts * size / counts.sum()
    assert np.all(np.abs(got - expected) < 1.0)  # largest remainder: never off by a whole sample
    assert np.all(got <= counts)


def test_same_seed_same_subset_other_seed_other_subset():
    labels = _labels([100] * 10)
    a = stratified_indices(labels, 50, seed=7)
    b = stratified_indices(labels, 50, seed=7)
    c = stratified_indices(labels, 50, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(np.sort(a), np.sort(c))


def test_none_keeps_source_order_and_full_size_is_a_shuffle():
    labels = _labels([5, 5])
    assert np.array_equal(stratified_indices(labels, None), np.arange(10))
    everything = stratified_indices(labels, 10, seed=0)
    assert sorted(everything.tolist()) == list(range(10))
    assert not np.array_equal(everything, np.arange(10))


def test_asking_for_more_than_there_is_fails_clearly():
    with pytest.raises(ValueError, match="only 10"):
        stratified_indices(_labels([5, 5]), 11)


def test_split_is_disjoint_complete_and_stratified():
    labels = _labels([3, 3, 6, 12])
    train, test = stratified_split(labels, 0.3, seed=0)
    assert len(test) == 8 and len(train) == 16  # ceil(0.3 * 24)
    assert set(train.tolist()).isdisjoint(test.tolist())
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(24))
    assert np.bincount(labels[test]).tolist() == [1, 1, 2, 4]
    with pytest.raises(ValueError):
        stratified_split(labels, 1.0)


def _split(n_train=20, n_test=10):
    return ImageSplit(
        x_train=torch.arange(n_train, dtype=torch.float32).view(n_train, 1, 1, 1).expand(n_train, 1, 2, 2).clone(),
        y_train=torch.arange(n_train) % 2,
        x_test=torch.zeros(n_test, 1, 2, 2),
        y_test=torch.arange(n_test) % 2,
        classes=["even", "odd"],
        name="toy",
    )


def test_image_split_rejects_wrong_layouts_and_dtypes():
    good = _split()
    with pytest.raises(ValueError, match="x_train"):
        ImageSplit(good.x_train.double(), good.y_train, good.x_test, good.y_test, good.classes)
    with pytest.raises(ValueError, match="y_test"):
        ImageSplit(good.x_train, good.y_train, good.x_test, good.y_test.int(), good.classes)
    with pytest.raises(ValueError, match="entries"):
        ImageSplit(good.x_train, good.y_train[:-1], good.x_test, good.y_test, good.classes)


def test_subset_keeps_images_and_labels_paired():
    split = _split()
    small = split.subset(train_size=6, test_size=4, seed=3)
    assert isinstance(small, ImageSplit) and small.name == "toy"
    assert len(small.x_train) == 6 and len(small.y_test) == 4
    assert small.class_counts() == {"even": 3, "odd": 3}
    # image i of the toy set is filled with the value i, whose parity is its label
    values = small.x_train[:, 0, 0, 0].long()
    assert torch.equal(values % 2, small.y_train)


def test_describe_names_source_and_shapes():
    text = _split().describe()
    assert "toy" in text and "20" in text and "1x2x2" in text
    assert "x_train=(20, 1, 2, 2)" in repr(_split())
