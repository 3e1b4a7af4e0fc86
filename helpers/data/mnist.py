"""MNIST handwritten digits as an ``ImageSplit`` (1x28x28 float images, labels 0-9).

Read through ``torchvision.datasets.MNIST`` so the on-disk layout is the one everyone knows
(``<data root>/MNIST/raw/*-ubyte``). The whole uint8 ``.data`` tensor is indexed and scaled in one go
rather than going through PIL image by image: 60,000 digits then load in well under a second.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import MNIST

from ..paths import DataCorruptError, DataMissingError, data_root
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


# idx files: (magic number, shape of one item) of each of the four MNIST files.
_IDX_FILES = {
    "train-images-idx3-ubyte": (2051, (28, 28)),
    "train-labels-idx1-ubyte": (2049, ()),
    "t10k-images-idx3-ubyte": (2051, (28, 28)),
    "t10k-labels-idx1-ubyte": (2049, ()),
}


def check_idx_files(raw: Path) -> None:
    """Check the header and size of every unpacked MNIST file in ``raw``, that labels are digits and that
    each label file counts as many items as its image file; ``DataCorruptError`` names a bad one.

    torchvision would otherwise fail on such a file with an empty ``AssertionError`` or a reshape error.
    """
    counts: dict[str, int] = {}
    for name, (magic, shape) in _IDX_FILES.items():
        path = raw / name
        if not path.exists():
            continue
        header_size = 4 * (2 + len(shape))
        with open(path, "rb") as handle:
            header = handle.read(header_size)
        size = path.stat().st_size
        if len(header) < header_size:
            raise DataCorruptError(path, f"an idx header of {header_size} bytes", f"a file of {size} bytes")
        fields = [int.from_bytes(header[i:i + 4], "big") for i in range(0, header_size, 4)]
        count = fields[1]
        expected = [magic, count, *shape]
        if fields != expected:
            what = ("magic number", "item count", "rows", "columns")
            found = ", ".join(f"{w} {f}" for w, f, e in zip(what, fields, expected) if f != e)
            wanted = ", ".join(f"{w} {e}" for w, f, e in zip(what, fields, expected) if f != e)
            raise DataCorruptError(path, wanted, found)
        items = 1
        for side in shape:
            items *= side
        if size != header_size + count * items:
            raise DataCorruptError(path, f"{header_size + count * items:,} bytes", f"{size:,} bytes (truncated or padded)")
        counts[name] = count
        if not shape:  # a label file: every label a digit
            labels = memoryview(path.read_bytes())[header_size:]
            largest = max(labels, default=0)
            if largest > 9:
                position = bytes(labels).index(largest)
                raise DataCorruptError(path, "labels 0-9", f"label {largest} at item {position}")
    for part in ("train", "t10k"):
        images, labels = counts.get(f"{part}-images-idx3-ubyte"), counts.get(f"{part}-labels-idx1-ubyte")
        if images is not None and labels is not None and images != labels:
            raise DataCorruptError(raw / f"{part}-labels-idx1-ubyte", f"{images:,} labels (one per image in "
                                   f"{part}-images-idx3-ubyte)", f"{labels:,}")


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
    check_idx_files(raw)
    try:
        train = MNIST(str(root), train=True, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        if not download:
            raise DataMissingError("MNIST", raw, _HOW_TO_GET) from None
        _download(raw)
        check_idx_files(raw)
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
