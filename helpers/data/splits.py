"""The train/test container every loader returns, and the seeded, stratified sampling behind it.

Why stratified: attacks are slow, so studies work on subsets of a few hundred images, and robustness
numbers on such subsets are only comparable across runs and studies when every class keeps its share
of the full set. A plain random draw of 200 MNIST digits can easily hold 12 sevens and 28 ones.

Why seeded: the same ``(size, seed)`` must give the same images on every machine, so a cached model
and the attack results computed on it stay tied to the data they were computed on.

The sampling is written out here rather than taken from scikit-learn's ``train_test_split``, because
that function insists on both sides holding at least one sample per class, so "9,995 of the 10,000
test digits" or "a 1-tile class in a 24-tile sample" fail there although they are perfectly sensible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import torch

__all__ = ["ImageSplit", "stratified_indices", "stratified_split"]


def _as_label_array(labels) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {array.shape}")
    return array


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest-remainder method, exact integers).

    Each class gets ``floor(count * total / n)``; the few samples left over go to the classes with the
    largest remainders (ties: larger class first, then lower class index), so the quotas always sum to
    ``total`` and never exceed a class's count.
    """
    n = int(counts.sum())
    quota = counts * total // n
    remainder = counts * total % n
    leftover = total - int(quota.sum())
    order = np.lexsort((np.arange(len(counts)), -counts, -remainder))
    quota[order[:leftover]] += 1
    return quota


def stratified_indices(labels, size: int | None, *, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified random subset of ``size`` samples, in a seeded random order.

    ``size=None`` keeps every sample in the source's own order (no copy of the data is implied:
    this is ``arange(n)``). Any integer size, including ``n``, gives a shuffled order, so slicing
    the result (``x[:100]``) never yields a run of a single class.

    Raises ``ValueError`` when ``size`` is negative or larger than the number of samples.
    """
    labels = _as_label_array(labels)
    n = len(labels)
    if size is None:
        return np.arange(n)
    size = int(size)
    if size < 0 or size > n:
        raise ValueError(f"asked for {size} samples but only {n} are available (use None for all)")
    rng = np.random.default_rng(seed)
    values, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(values))
    quota = _allocate(counts, size)
    chosen = [
        rng.choice(np.flatnonzero(inverse == k), size=int(q), replace=False)
        for k, q in enumerate(quota)
        if q > 0
    ]
    picked = np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
    return rng.permutation(picked).astype(np.int64)


def stratified_split(labels, test_fraction: float, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into (train, test), keeping each class's share on both sides.

    The test side gets ``ceil(test_fraction * n)`` samples (the scikit-learn convention), shared out
    over the classes by the largest-remainder method. Both index arrays come in a seeded random order.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    labels = _as_label_array(labels)
    n = len(labels)
    n_test = min(n, math.ceil(float(test_fraction) * n))
    test = stratified_indices(labels, n_test, seed=seed)
    train_mask = np.ones(n, dtype=bool)
    train_mask[test] = False
    train = np.random.default_rng([seed, 1]).permutation(np.flatnonzero(train_mask)).astype(np.int64)
    return train, test


def _take(values, index: np.ndarray):
    """Index a tensor, an array or a plain list with an integer index array."""
    if isinstance(values, torch.Tensor):
        return values[torch.as_tensor(index, dtype=torch.long)]
    if isinstance(values, np.ndarray):
        return values[index]
    return [values[i] for i in index]


@dataclass(repr=False, eq=False)
class ImageSplit:
    """Train and test images with their labels, ready for a PyTorch (or, via ``.numpy()``, any) model.

    ``x_*`` are float32 tensors in NCHW layout with values in [0, 1]; ``y_*`` are int64 class indices
    into ``classes``. Keeping one fixed layout and range across all datasets lets attacks, whose
    ``clip_values`` and epsilons are stated in that range, be reused unchanged on every dataset.
    ``name`` records where the data came from (the same study can run on the torchvision original or
    on an offline JPEG copy, and reports should say which).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    name: str = ""

    #: Fields holding one entry per training / test sample; subclasses add theirs so that
    #: ``subset`` keeps them aligned.
    _train_fields: ClassVar[tuple[str, ...]] = ("x_train", "y_train")
    _test_fields: ClassVar[tuple[str, ...]] = ("x_test", "y_test")

    def __post_init__(self) -> None:
        self.classes = list(self.classes)
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.dtype != torch.float32:
                raise ValueError(f"x_{part} must be a float32 tensor of shape (N, C, H, W), got {_shape(x)}")
            if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.dtype != torch.int64:
                raise ValueError(f"y_{part} must be an int64 tensor of shape (N,), got {_shape(y)}")
            for name in getattr(self, f"_{part}_fields"):
                if len(getattr(self, name)) != len(x):
                    raise ValueError(f"{name} has {len(getattr(self, name))} entries but x_{part} has {len(x)}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"train and test images differ in shape: {tuple(self.x_train.shape[1:])} "
                f"vs {tuple(self.x_test.shape[1:])}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def class_counts(self, part: str = "train") -> dict[str, int]:
        """How many samples of each class are in the ``"train"`` or ``"test"`` part."""
        y = {"train": self.y_train, "test": self.y_test}[part]
        counts = torch.bincount(y, minlength=self.num_classes).tolist()
        return dict(zip(self.classes, counts))

    def subset(self, train_size: int | None = None, test_size: int | None = None, *, seed: int = 0):
        """A stratified, seeded subset (same type, per-sample extras kept aligned); None keeps a part whole."""
        keep_train = stratified_indices(self.y_train, train_size, seed=seed)
        keep_test = stratified_indices(self.y_test, test_size, seed=seed + 1)
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        for name in self._train_fields:
            values[name] = _take(values[name], keep_train)
        for name in self._test_fields:
            values[name] = _take(values[name], keep_test)
        return type(self)(**values)

    def describe(self) -> str:
        """One line for a notebook: source, shapes, value range and class balance."""
        c, h, w = self.image_shape
        return (
            f"{self.name or type(self).__name__}: train {len(self.x_train)} / test {len(self.x_test)} "
            f"images of {c}x{h}x{w} (float32 in [0, 1]), {self.num_classes} classes"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, x_train={tuple(self.x_train.shape)}, "
            f"x_test={tuple(self.x_test.shape)}, classes={self.classes!r})"
        )


def _shape(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__

