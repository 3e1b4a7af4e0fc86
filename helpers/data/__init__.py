"""Dataset loaders: MNIST, CIFAR-10, colorectal histology tiles and photo sets, one module per concept.

- ``splits``     ``ImageSplit`` (what the image loaders return) and seeded, stratified sampling
- ``mnist``      ``load_mnist``
- ``cifar10``    ``load_cifar10`` (torchvision original, or the offline JPEG folder copy)
- ``histology``  ``load_histology`` and the tissue-class-to-group tables (``GROUPS``, ``group_of``)
- ``photos``     ``load_photo_folder``, ``imagewoof5_path``, ``flickr5_path`` (uint8 arrays for Keras)
- ``download``   checksummed downloads that fail with ``DataMissingError`` and a how-to-get message

Every loader reads from ``helpers.paths.data_root()`` (``$ADVLAB_DATA``) and downloads into it only
when the data are missing and ``download`` is allowed.

Names are imported lazily on first use, so ``from helpers.data import load_photo_folder`` in a Keras
notebook does not load PyTorch (which the image-split loaders need).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..paths import DataMissingError

_EXPORTS = {
    "ImageSplit": "splits",
    "stratified_indices": "splits",
    "stratified_split": "splits",
    "MNIST_CLASSES": "mnist",
    "load_mnist": "mnist",
    "CIFAR10_CLASSES": "cifar10",
    "load_cifar10": "cifar10",
    "GROUPS": "histology",
    "KATHER2016_GROUPS": "histology",
    "KATHER2019_GROUPS": "histology",
    "SEED_STUDY_GROUPS": "histology",
    "HistologyTiles": "histology",
    "UnknownTissueClassError": "histology",
    "detect_scheme": "histology",
    "group_of": "histology",
    "load_histology": "histology",
    "PhotoSet": "photos",
    "ImageDecodeError": "photos",
    "IMAGEWOOF5_BREEDS": "photos",
    "read_image": "photos",
    "load_photo_folder": "photos",
    "imagewoof5_path": "photos",
    "flickr5_path": "photos",
    "RemoteFile": "download",
    "ChecksumError": "download",
    "fetch": "download",
}

__all__ = ["DataMissingError", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for editors and type checkers; at run time the names load lazily
    from .cifar10 import CIFAR10_CLASSES, load_cifar10
    from .download import ChecksumError, RemoteFile, fetch
    from .histology import (
        GROUPS,
        KATHER2016_GROUPS,
        KATHER2019_GROUPS,
        SEED_STUDY_GROUPS,
        HistologyTiles,
        UnknownTissueClassError,
        detect_scheme,
        group_of,
        load_histology,
    )
    from .mnist import MNIST_CLASSES, load_mnist
    from .photos import (
        IMAGEWOOF5_BREEDS,
        ImageDecodeError,
        PhotoSet,
        flickr5_path,
        imagewoof5_path,
        load_photo_folder,
        read_image,
    )
    from .splits import ImageSplit, stratified_indices, stratified_split
