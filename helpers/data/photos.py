"""Photo sets in class-per-folder trees, read into uint8 arrays for Keras transfer learning.

Also home to the image-file reading the other folder-based loaders share (histology tiles, the CIFAR-10
JPEG copy): one place decides which files count as images, how odd modes (grayscale, palette,
transparent, 16-bit) become RGB, and how a broken file is reported.

This module deliberately imports neither torch nor torchvision, so a Keras notebook that only needs
photos does not load a second deep-learning framework. That is also why the folder walk is written
out here instead of using ``torchvision.datasets.folder.make_dataset`` (same rules: sorted class
folders, sorted files, case-insensitive extensions; additionally hidden entries such as Jupyter's
``.ipynb_checkpoints`` or macOS ``._*`` files are skipped, which ImageFolder would take for a class
or an image).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..paths import DataMissingError, data_root

__all__ = [
    "PHOTO_EXTENSIONS",
    "ImageDecodeError",
    "PhotoSet",
    "read_image",
    "list_class_folders",
    "list_image_files",
    "load_photo_folder",
    "imagewoof5_path",
    "flickr5_path",
    "IMAGEWOOF5_BREEDS",
]

#: Extensions ``load_photo_folder`` reads (compared case-insensitively, so ``.JPEG`` counts).
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png")

#: Imagewoof synset folders of the five breeds in ``imagewoof5`` and the folder name each gets.
IMAGEWOOF5_BREEDS = {
    "n02099601": "golden_retriever",
    "n02111889": "Samoyed",
    "n02088364": "beagle",
    "n02105641": "Old_English_sheepdog",
    "n02093754": "Border_terrier",
}

# fast.ai's Imagewoof v2, shorter side 320 px (https://github.com/fastai/imagenette).
# size: fastai/data/checks.txt (its md5 there, 7a1fd926..., covers only the first MiB, so it is not used);
# sha256 of the whole archive: the FastAI.jl / DLDatasets DataDeps registration of "imagewoof2_320".
_IMAGEWOOF_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagewoof2-320.tgz"
_IMAGEWOOF_SHA256 = "4e4905ed7643120daaf9bf3b2ef7f3a7e8396d9bdaf254a38c6f01f618b4973d"
_IMAGEWOOF_SIZE = 328_387_740

_WORKERS = max(1, min(8, os.cpu_count() or 1))


class ImageDecodeError(ValueError):
    """An image file could not be read; the message names the file so it can be removed or replaced."""

    def __init__(self, path: Path | str, reason: object):
        self.path = Path(path)
        super().__init__(f"cannot read image file {self.path}: {reason}")


class ClassFolderError(ValueError):
    """The class sub-folders of a data set are not the ones it should have; one line naming the folder,
    what is missing or extra, and the expected list."""


def check_class_folders(root: Path | str, found: Iterable[str], expected: Iterable[str], what: str) -> None:
    """``ClassFolderError`` when the class folders ``found`` in ``root`` are not exactly ``expected``."""
    found, expected = list(found), list(expected)
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unexpected {', '.join(extra)}"] if extra else [])
        raise ClassFolderError(f"{root}: the class folders of {what} do not match ({'; '.join(parts)}); "
                               f"expected exactly: {', '.join(expected)}")


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def list_class_folders(root: Path | str) -> list[str]:
    """Sorted names of the non-hidden sub-folders of ``root`` (the classes of a class-per-folder tree)."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    return sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not _is_hidden(entry.name))


def list_image_files(folder: Path | str, extensions: Iterable[str] = PHOTO_EXTENSIONS) -> list[Path]:
    """Image files below ``folder`` (recursively, links followed), sorted, matched case-insensitively."""
    extensions = tuple(e.lower() for e in extensions)
    found = []
    for directory, subdirs, files in os.walk(folder, followlinks=True):
        subdirs[:] = sorted(d for d in subdirs if not _is_hidden(d))
        found.extend(
            Path(directory, f) for f in files if not _is_hidden(f) and f.lower().endswith(extensions)
        )
    return sorted(found)


def sample_class_files(
    root: Path, classes: Sequence[str], *, extensions: Iterable[str], per_class: int | None, seed: int
) -> tuple[list[Path], list[int]]:
    """The image files of each class folder, at most ``per_class`` of each picked at random with ``seed``.

    Returns the files (class by class, sorted by name within a class) and each file's class index.
    Raises FileNotFoundError naming a class folder that holds no matching file.
    """
    extensions = tuple(extensions)
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        files = list_image_files(root / name, extensions)
        if not files:
            raise FileNotFoundError(f"class folder {root / name} holds no {'/'.join(extensions)} files")
        if per_class is not None and len(files) > per_class:
            keep = np.sort(rng.choice(len(files), size=per_class, replace=False))
            files = [files[i] for i in keep]
        paths.extend(files)
        labels.extend([index] * len(files))
    return paths, labels


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparent pixels are composited onto white, not left black."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grayscale, e.g. scanner TIFFs: a plain convert() would clip at 255.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def read_image(path: Path | str, image_size: int | None = None) -> np.ndarray:
    """One image file as uint8 RGB (H, W, 3); with ``image_size``, centre-cropped to a square and resized.

    Cropping (rather than squashing) keeps the proportions pretrained ImageNet models saw in training;
    the resize uses Lanczos, which antialiases when shrinking. The EXIF orientation of camera photos
    is applied first. Large JPEGs are decoded at a reduced DCT scale (``draft``), never below
    ``image_size``, which makes big photos several times faster.

    Raises ``ImageDecodeError`` naming the file when it is missing, not an image, or truncated.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            if image_size is not None:
                image.draft("RGB", (image_size, image_size))
            image.load()  # Image.open is lazy: truncation only shows when the pixels are read
            image = _to_rgb(ImageOps.exif_transpose(image))  # phone photos: honour the EXIF rotation
            if image_size is not None and image.size != (image_size, image_size):
                image = ImageOps.fit(image, (image_size, image_size), method=Image.Resampling.LANCZOS)
            return np.asarray(image, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ImageDecodeError(path, err) from err


def read_images(paths: Sequence[Path | str], image_size: int) -> np.ndarray:
    """Several files as one uint8 (N, image_size, image_size, 3) array, decoded on a few threads.

    PIL releases the GIL while decoding and resizing, so threads give a real speed-up without the
    start-up cost of processes.
    """
    if not paths:
        return np.empty((0, image_size, image_size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        return np.stack(list(pool.map(lambda p: read_image(p, image_size), paths)))


@dataclass(repr=False, eq=False)
class PhotoSet:
    """Photos of a class-per-folder tree as arrays Keras takes directly.

    ``images`` is uint8 (N, H, W, 3) RGB, unnormalised: each Keras application has its own
    ``preprocess_input``, so scaling is left to the model. ``labels`` are int64 indices into
    ``classes`` (the sorted folder names); ``paths[i]`` is the file ``images[i]`` came from. Samples
    are ordered by class, then file name; shuffle or split them yourself (e.g. scikit-learn's
    ``train_test_split(..., stratify=labels)``).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    paths: list[Path]
    name: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        return dict(zip(self.classes, np.bincount(self.labels, minlength=len(self.classes)).tolist()))

    def describe(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        counts = ", ".join(f"{c}={k}" for c, k in self.class_counts().items())
        return f"{self.name or 'PhotoSet'}: {len(self)} photos of {shape} uint8 ({counts})"

    def __repr__(self) -> str:
        return f"PhotoSet(name={self.name!r}, images={self.images.shape}, classes={self.classes!r})"


def load_photo_folder(
    path: Path | str,
    *,
    image_size: int = 224,
    per_class: int | None = None,
    seed: int = 0,
) -> PhotoSet:
    """Read every photo (jpg / jpeg / png, any case) of a class-per-folder tree into a ``PhotoSet``.

    Photos may differ in size and mode (grayscale, palette, RGBA): all come out RGB, centre-cropped
    to a square and resized to ``image_size`` (224 is what ImageNet-trained Keras models expect).

    Args:
        path: the tree's root; each non-hidden sub-folder is one class.
        per_class: at most this many photos per class, picked at random with ``seed`` (a class
            with fewer keeps all of its photos); None reads everything.

    Raises:
        FileNotFoundError: ``path`` is missing, has no class folders, or a class folder has no photos.
        ImageDecodeError: a file cannot be decoded (the message names it).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"photo folder {root} does not exist")
    classes = list_class_folders(root)
    if not classes:
        raise FileNotFoundError(f"{root} has no class sub-folders (expected <class>/<photo>.jpg)")
    paths, labels = sample_class_files(root, classes, extensions=PHOTO_EXTENSIONS, per_class=per_class, seed=seed)
    return PhotoSet(
        images=read_images(paths, image_size),
        labels=np.asarray(labels, dtype=np.int64),
        classes=classes,
        paths=paths,
        name=f"photos at {root}",
    )


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # no extra disk space when source and target share a file system
    except OSError:
        shutil.copy2(source, target)


def _build_imagewoof5(extracted: Path, target: Path) -> None:
    """Gather the five breeds' train and val photos from an extracted Imagewoof into ``target``.

    Built in a temporary folder and renamed into place, so an interrupted build leaves no
    half-filled ``imagewoof5`` behind.
    """
    staging = Path(tempfile.mkdtemp(prefix=".imagewoof5.", dir=target.parent))
    try:
        for synset, breed in IMAGEWOOF5_BREEDS.items():
            (staging / breed).mkdir()
            sources = [extracted / split / synset for split in ("train", "val")]
            if not any(s.is_dir() for s in sources):
                raise FileNotFoundError(f"{extracted} has no train/{synset} or val/{synset} folder")
            for split, source in zip(("train", "val"), sources):
                for photo in list_image_files(source) if source.is_dir() else []:
                    destination = staging / breed / photo.name
                    if destination.exists():
                        destination = staging / breed / f"{split}_{photo.name}"
                    _link_or_copy(photo, destination)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def imagewoof5_path(download: bool = True) -> Path:
    """Folder of a 5-breed dog photo set: golden_retriever, Samoyed, beagle, Old_English_sheepdog, Border_terrier.

    It is the offline stand-in for a photo set collected from Flickr: real, varied photos of
    ImageNet classes (so pretrained models know them), five visually close classes. Uses
    ``<data root>/imagewoof5`` when present; otherwise, with ``download``, fetches fast.ai's
    Imagewoof (``imagewoof2-320.tgz``, 328 MB, sha256-checked) into the data root and builds the
    subset from all of its train and val photos of those breeds (about 1,300 per breed).

    Raises ``DataMissingError`` when the folder is missing and cannot be downloaded.
    """
    root = data_root()
    target = root / "imagewoof5"
    if target.is_dir() and list_class_folders(target):
        return target
    how_to_get = (
        f"Call imagewoof5_path(download=True) with a network connection ({_IMAGEWOOF_URL}, 328 MB), "
        f"or put one folder of photos per breed ({', '.join(IMAGEWOOF5_BREEDS.values())}) there."
    )
    if not download:
        raise DataMissingError("imagewoof5 photo set", target, how_to_get)
    extracted = root / "imagewoof2-320"
    if not extracted.is_dir():
        from .download import RemoteFile, fetch  # torchvision-based: imported only when downloading

        archive = RemoteFile(_IMAGEWOOF_URL, "imagewoof2-320.tgz", sha256=_IMAGEWOOF_SHA256, size=_IMAGEWOOF_SIZE)
        fetch(archive, root, dataset="imagewoof5 photo set", how_to_get=how_to_get, extract_to=root)
    if not target.is_dir():
        _build_imagewoof5(extracted, target)
    return target


def flickr5_path() -> Path:
    """``<data root>/flickr5``: five ImageNet classes of photos (Persian_cat, ambulance, ...), one folder each.

    There is no public archive of it, so nothing is downloaded; the offline copy holds one photo per
    class, enough to demonstrate predictions but not to fine-tune. Use ``imagewoof5_path()`` for a
    photo set large enough to train on.
    """
    target = data_root() / "flickr5"
    if target.is_dir() and list_class_folders(target):
        return target
    raise DataMissingError(
        "flickr5 photo set",
        target,
        "Put one folder of photos per class there (e.g. Persian_cat/, ambulance/, ...; jpg or png), "
        "collected by hand or with flickrapi, or use imagewoof5_path() for a downloadable photo set.",
    )
