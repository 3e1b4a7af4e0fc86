"""CIFAR-10 as an ``ImageSplit`` (3x32x32 float images, 10 classes), from whichever copy is at hand.

Order of preference:

1. torchvision's ``cifar-10-batches-py`` under the data root (the original pixels);
2. a JPEG folder copy ``cifar10-jpg/{train,test}/<class>/*.jpg`` (what the offline data holds:
   the 32x32 images re-encoded as JPEG, so pixels differ slightly from the original; 2,000 train
   images per class there instead of 5,000). ``name`` says which copy was used, so reports can tell;
3. a download through torchvision's URL and md5 (170 MB), when ``download`` is True;
4. otherwise ``DataMissingError``.

Decoding the JPEG copy: ``torchvision.io.decode_jpeg`` on a whole batch of file contents decodes
10,000 of these tiny files in about 0.3 s (PIL one by one: about 2 s) with bit-identical pixels, so
the decoded arrays are not cached: reading a cache file would save well under a second.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import CIFAR10
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file

from ..paths import DataMissingError, data_root
from .download import RemoteFile, fetch
from .photos import ImageDecodeError, check_class_folders, list_class_folders, list_image_files
from .splits import ImageSplit, stratified_indices

__all__ = ["CIFAR10_CLASSES", "load_cifar10"]

#: The standard label order (airplane=0 ... truck=9); it is also alphabetical, hence ImageFolder's.
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_JPEG_FOLDER = "cifar10-jpg"

# Byte size of cifar-10-python.tar.gz (as served by www.cs.toronto.edu and shown in every download
# log); with it a cut-off download is reported as such instead of as a checksum mismatch.
_CIFAR10_ARCHIVE_SIZE = 170_498_071


def _to_float_nchw(images_nhwc: np.ndarray) -> torch.Tensor:
    images = torch.from_numpy(np.ascontiguousarray(images_nhwc)).permute(0, 3, 1, 2)
    return images.to(torch.float32).div_(255.0).contiguous()


def _from_torchvision(root: Path, train_size, test_size, seed) -> ImageSplit:
    parts = []
    for train, size, part_seed in ((True, train_size, seed), (False, test_size, seed + 1)):
        dataset = CIFAR10(str(root), train=train, download=False)
        targets = np.asarray(dataset.targets, dtype=np.int64)
        keep = stratified_indices(targets, size, seed=part_seed)
        parts.append((_to_float_nchw(dataset.data[keep]), torch.from_numpy(targets[keep])))
    (x_train, y_train), (x_test, y_test) = parts
    return ImageSplit(x_train, y_train, x_test, y_test, list(CIFAR10_CLASSES), name="CIFAR-10 (torchvision)")


def _list_jpeg_split(folder: Path) -> tuple[list[Path], np.ndarray]:
    """Files and labels of one ``<split>/<class>/*`` folder, labels in the standard CIFAR-10 order."""
    check_class_folders(folder, list_class_folders(folder), CIFAR10_CLASSES, "CIFAR-10")
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(CIFAR10_CLASSES):
        files = list_image_files(folder / name)
        if not files:
            raise FileNotFoundError(f"{folder / name} holds no .jpg/.png images")
        paths.extend(files)
        labels.extend([label] * len(files))
    return paths, np.asarray(labels, dtype=np.int64)


def _decode(paths: list[Path]) -> torch.Tensor:
    """uint8 (N, 3, 32, 32) tensor from the files, batch-decoded; a bad file is named in the error."""
    if not paths:
        return torch.empty((0, 3, 32, 32), dtype=torch.uint8)
    for path in paths:
        if path.stat().st_size == 0:  # torchvision's message for it names no file
            raise ImageDecodeError(path, "the file is empty (0 bytes)")
    contents = [read_file(str(p)) for p in paths]
    try:
        images = decode_jpeg(contents, mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError):
        # Not all JPEG (a PNG mixed in) or a broken file: decode one by one to handle or name it.
        images = []
        for path, data in zip(paths, contents):
            try:
                images.append(decode_image(data, mode=ImageReadMode.RGB))
            except (RuntimeError, ValueError) as err:
                raise ImageDecodeError(path, err) from err
    for path, image in zip(paths, images):
        if image.shape != (3, 32, 32):
            raise ImageDecodeError(path, f"expected a 32x32 image, got {tuple(image.shape[1:])}")
    return torch.stack(images)


def _from_jpeg_folders(folder: Path, train_size, test_size, seed) -> ImageSplit:
    parts = []
    for split, size, part_seed in (("train", train_size, seed), ("test", test_size, seed + 1)):
        paths, labels = _list_jpeg_split(folder / split)
        # The folders are sorted by class, so even the full set is returned shuffled (seeded):
        # x[:100] would otherwise be all airplanes.
        keep = stratified_indices(labels, len(labels) if size is None else size, seed=part_seed)
        images = _decode([paths[i] for i in keep])
        parts.append((images.to(torch.float32).div_(255.0), torch.from_numpy(labels[keep])))
    (x_train, y_train), (x_test, y_test) = parts
    return ImageSplit(
        x_train, y_train, x_test, y_test, list(CIFAR10_CLASSES), name=f"CIFAR-10 (JPEG folders at {folder})"
    )


def load_cifar10(
    train_size: int | None = None,
    test_size: int | None = None,
    *,
    seed: int = 0,
    root: Path | str | None = None,
    download: bool = True,
) -> ImageSplit:
    """Load CIFAR-10, optionally a class-stratified random subset of each part.

    Args:
        train_size, test_size: number of images to keep, drawn stratified by class with ``seed``;
            None keeps all of them (torchvision copy: original order; JPEG copy: seeded shuffle).
            With the JPEG copy only the selected files are decoded.
        seed: seed of the subset draw.
        root: data folder; default ``helpers.paths.data_root()`` (``$ADVLAB_DATA``).
        download: when neither copy is there, download the original (md5-checked) into ``root``.

    Raises:
        DataMissingError: no copy found and ``download`` is False or the download failed.
    """
    root = Path(root) if root is not None else data_root()
    batches = root / CIFAR10.base_folder
    jpeg = root / _JPEG_FOLDER
    if batches.is_dir():
        return _from_torchvision(root, train_size, test_size, seed)
    if (jpeg / "train").is_dir() and (jpeg / "test").is_dir():
        return _from_jpeg_folders(jpeg, train_size, test_size, seed)
    how_to_get = (
        f"Also looked for the JPEG copy at {jpeg}/{{train,test}}/<class>/*.jpg. Call "
        f"load_cifar10(download=True) with a network connection (170 MB from {CIFAR10.url}), or unpack "
        f"{CIFAR10.filename} there."
    )
    if not download:
        raise DataMissingError("CIFAR-10", batches, how_to_get)
    archive = RemoteFile(CIFAR10.url, CIFAR10.filename, md5=CIFAR10.tgz_md5, size=_CIFAR10_ARCHIVE_SIZE)
    fetch(archive, root, dataset="CIFAR-10", how_to_get=how_to_get, extract_to=root)
    return _from_torchvision(root, train_size, test_size, seed)
