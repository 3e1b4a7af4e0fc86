"""MNIST handwritten digits as an ``ImageSplit`` (1x28x28 float images, labels 0-9).

Read through ``torchvision.datasets.MNIST`` so the on-disk layout is the one everyone knows
(``<data root>/MNIST/raw/*-ubyte``). The whole uint8 ``.data`` tensor is indexed and scaled in one go
rather than going through PIL image by image: 60,000 digits then load in well under a second.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import MNIST

from ..paths import DataMissingError, data_root
from .download import ChecksumError, RemoteFile, fetch
from .splits import ImageSplit, stratified_indices

__all__ = ["MNIST_CLASSES", "load_mnist"]

#: Plain digit names (torchvision's are "0 - zero", ...), short enough for plot titles.
MNIST_CLASSES = [str(digit) for digit in range(10)]

_HOW_TO_GET = (
    "Call load_mnist(download=True) with a network connection, or put the four files "
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
    "(or their .gz originals from https://ossci-datasets.s3.amazonaws.com/mnist/) into that folder."
)


def _download(raw: Path) -> None:
    """Fetch the four .gz files torchvision lists (with its md5s), trying each of its mirrors in turn."""
    for filename, md5 in MNIST.resources:
        errors = []
        for mirror in MNIST.mirrors:
            try:
                fetch(RemoteFile(mirror + filename, filename, md5=md5), raw, dataset="MNIST",
                      how_to_get=_HOW_TO_GET, extract_to=raw)
                break
            except (DataMissingError, ChecksumError) as err:
                # The cause (e.g. "Name or service not known") is what differs between mirrors.
                errors.append(f"{mirror}: {err.__cause__ or type(err).__name__}")
        else:
            tried = "; ".join(errors)
            raise DataMissingError("MNIST", raw, f"No mirror worked for {filename} ({tried}). {_HOW_TO_GET}")


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.unsqueeze(1).to(torch.float32).div_(255.0)


def load_mnist(
    train_size: int | None = None,
    test_size: int | None = None,
    *,
    seed: int = 0,
    root: Path | str | None = None,
    download: bool = True,
) -> ImageSplit:
    """Load MNIST, optionally a class-stratified random subset of each part.

    Args:
        train_size, test_size: number of training / test digits to keep, drawn stratified by digit
            with ``seed`` (same arguments, same digits, in the same shuffled order); None keeps all
            60,000 / 10,000 in the original order.
        seed: seed of the subset draw.
        root: folder holding ``MNIST/raw``; default ``helpers.paths.data_root()`` (``$ADVLAB_DATA``).
        download: fetch the files (from torchvision's mirrors, md5-checked) when they are missing.

    Raises:
        DataMissingError: the files are missing and ``download`` is False or the download failed.
    """
    root = Path(root) if root is not None else data_root()
    raw = root / "MNIST" / "raw"
    try:
        train = MNIST(str(root), train=True, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        if not download:
            raise DataMissingError("MNIST", raw, _HOW_TO_GET) from None
        _download(raw)
        train = MNIST(str(root), train=True, download=False)
    test = MNIST(str(root), train=False, download=False)

    keep_train = torch.as_tensor(stratified_indices(train.targets, train_size, seed=seed))
    keep_test = torch.as_tensor(stratified_indices(test.targets, test_size, seed=seed + 1))
    return ImageSplit(
        x_train=_to_float(train.data[keep_train]),
        y_train=train.targets[keep_train].to(torch.int64),
        x_test=_to_float(test.data[keep_test]),
        y_test=test.targets[keep_test].to(torch.int64),
        classes=list(MNIST_CLASSES),
        name="MNIST (torchvision)",
    )
