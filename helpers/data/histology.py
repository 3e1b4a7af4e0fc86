"""Colorectal histology tiles (H&E), with their tissue classes folded into four groups.

The seed study classifies tiles into four groups, ``GROUPS = ("artifacts", "cancer", "normal",
"other")``, while the public data sets label finer tissue classes, each with its own folder names.
The tables below fold every published scheme into those four groups, so a model trained on one
data set can be evaluated, and attacked, on another with the same label indices:

==============================  =========================================================
scheme (folder names)           groups
==============================  =========================================================
Kather 2016 (5,000 tiles,       01_TUMOR -> cancer; 06_MUCOSA -> normal;
150 px, Zenodo 53169)           05_DEBRIS, 08_EMPTY -> artifacts;
                                02_STROMA, 03_COMPLEX, 04_LYMPHO, 07_ADIPOSE -> other
Kather 2019 (NCT-CRC-HE-100K,   TUM -> cancer; NORM -> normal; BACK, DEB -> artifacts;
CRC-VAL-HE-7K, 224 px,          ADI, LYM, MUC, MUS, STR -> other
Zenodo 1214456)
seed study                      artifacts, cancer_regions, normal_regions, other -> same-named group
==============================  =========================================================

"Artifacts" collects what is not tissue to diagnose (background, debris, empty glass), "normal"
is healthy mucosa, and "other" every remaining tissue type. Pass ``mapping={folder: group}`` to
override an entry or to use a data set with other folder names.

Where tiles come from (``load_histology(source=...)``): ``"kather2016"`` (default),
``"kather2019"`` (the 7,180-tile validation set CRC-VAL-HE-7K, 800 MB) or ``"kather2019-100k"``
(NCT-CRC-HE-100K, 11.7 GB), each looked for under the data root, then in ``<data root>/histology``
when that folder's class names belong to the same scheme, then downloaded from Zenodo with its md5
checked. Any other string or path is read as a class-per-folder tree.

The offline data root holds the whole Kather 2016 set there (all 5,000 tiles, 625 per class folder),
downsized from 150 to 64 x 64 pixels (PNG): the histology study's default preset runs offline on it.
A run with ``image_size`` above the tiles' own size upsamples them and prints one line saying so; for
larger tiles, use a data root without that copy, where ``kather2016`` downloads the original 150 px archive.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable, Mapping

import numpy as np
import torch

from ..paths import DataMissingError, data_root
from .download import RemoteFile, fetch
from .photos import check_class_folders, list_class_folders, read_images, sample_class_files
from .splits import ImageSplit, stratified_split

__all__ = [
    "GROUPS",
    "KATHER2016_GROUPS",
    "KATHER2019_GROUPS",
    "SEED_STUDY_GROUPS",
    "SCHEMES",
    "SOURCES",
    "HistologyTiles",
    "UnknownTissueClassError",
    "detect_scheme",
    "group_of",
    "load_histology",
]

GROUPS = ("artifacts", "cancer", "normal", "other")

#: Kather et al. 2016, "Multi-class texture analysis in colorectal cancer histology" (8 classes).
KATHER2016_GROUPS = {
    "01_TUMOR": "cancer",
    "02_STROMA": "other",
    "03_COMPLEX": "other",
    "04_LYMPHO": "other",
    "05_DEBRIS": "artifacts",
    "06_MUCOSA": "normal",
    "07_ADIPOSE": "other",
    "08_EMPTY": "artifacts",
}

#: Kather, Halama & Marx 2018/2019, NCT-CRC-HE-100K and CRC-VAL-HE-7K (9 classes).
KATHER2019_GROUPS = {
    "ADI": "other",  # adipose
    "BACK": "artifacts",  # background
    "DEB": "artifacts",  # debris
    "LYM": "other",  # lymphocytes
    "MUC": "other",  # mucus
    "MUS": "other",  # smooth muscle
    "NORM": "normal",  # normal colon mucosa
    "STR": "other",  # cancer-associated stroma
    "TUM": "cancer",  # colorectal adenocarcinoma epithelium
}

#: The seed study's own folders.
SEED_STUDY_GROUPS = {
    "artifacts": "artifacts",
    "cancer_regions": "cancer",
    "normal_regions": "normal",
    "other": "other",
}

SCHEMES: dict[str, dict[str, str]] = {
    "kather2016": KATHER2016_GROUPS,
    "kather2019": KATHER2019_GROUPS,
    "seed": SEED_STUDY_GROUPS,
}

_KNOWN = {name: group for table in SCHEMES.values() for name, group in table.items()}
_KNOWN_FOLDED = {name.lower(): group for name, group in _KNOWN.items()}

#: Tile files the loader reads: the published sets are TIFF, converted copies PNG or JPEG.
TILE_EXTENSIONS = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class _Source:
    title: str
    folder: str  # folder under the data root (the archive is extracted into it)
    scheme: str
    archive: RemoteFile
    size_text: str


# md5 values: the ones Zenodo lists for these files, as pinned by several independent projects on
# GitHub that download them (CHMNIST / Kather-2016 loaders; NCT-CRC-HE download scripts, which also
# pin the byte sizes used here).
SOURCES: dict[str, _Source] = {
    "kather2016": _Source(
        "Kather 2016 tiles",
        "Kather_texture_2016_image_tiles_5000",
        "kather2016",
        RemoteFile(
            "https://zenodo.org/records/53169/files/Kather_texture_2016_image_tiles_5000.zip?download=1",
            "Kather_texture_2016_image_tiles_5000.zip",
            md5="0ddbebfc56344752028fda72602aaade",
        ),
        "about 250 MB from Zenodo record 53169",
    ),
    "kather2019": _Source(
        "Kather 2019 CRC-VAL-HE-7K tiles",
        "CRC-VAL-HE-7K",
        "kather2019",
        RemoteFile(
            "https://zenodo.org/records/1214456/files/CRC-VAL-HE-7K.zip?download=1",
            "CRC-VAL-HE-7K.zip",
            md5="2fd1651b4f94ebd818ebf90ad2b6ce06",
            size=800_276_929,
        ),
        "800 MB from Zenodo record 1214456",
    ),
    "kather2019-100k": _Source(
        "Kather 2019 NCT-CRC-HE-100K tiles",
        "NCT-CRC-HE-100K",
        "kather2019",
        RemoteFile(
            "https://zenodo.org/records/1214456/files/NCT-CRC-HE-100K.zip?download=1",
            "NCT-CRC-HE-100K.zip",
            md5="6fd702d11df6292bc054397ae038a464",
            size=11_690_284_003,
        ),
        "11.7 GB from Zenodo record 1214456",
    ),
}


class UnknownTissueClassError(ValueError):
    """A tile folder name is in none of the mapping tables (and not in the caller's mapping)."""


def _check_mapping(mapping: Mapping[str, str]) -> None:
    wrong = {name: group for name, group in mapping.items() if group not in GROUPS}
    if wrong:
        raise ValueError(f"mapping sends {wrong} to unknown groups; groups are {GROUPS}")


def group_of(folder_name: str, mapping: Mapping[str, str] | None = None) -> str:
    """The group (one of ``GROUPS``) of a tissue class folder.

    ``mapping`` entries take precedence over the built-in tables; built-in names also match
    case-insensitively (copies of the data sets sometimes lower-case them).

    Raises ``UnknownTissueClassError`` naming the folder and listing the known names.
    """
    if mapping:
        _check_mapping(mapping)
        if folder_name in mapping:
            return mapping[folder_name]
    group = _KNOWN.get(folder_name) or _KNOWN_FOLDED.get(folder_name.lower())
    if group is None:
        known = "; ".join(f"{scheme}: {', '.join(table)}" for scheme, table in SCHEMES.items())
        raise UnknownTissueClassError(
            f"unknown tissue class folder {folder_name!r}. Known folders: {known}. To use it, pass "
            f"mapping={{{folder_name!r}: <one of {', '.join(GROUPS)}>}}."
        )
    return group


def detect_scheme(folder_names: Iterable[str]) -> str | None:
    """Which naming scheme (``"kather2016"``, ``"kather2019"``, ``"seed"``) all the folder names belong to, if any."""
    names = set(folder_names)
    for scheme, table in SCHEMES.items():
        if names and names <= set(table):
            return scheme
    return None


def _tile_root(path: Path) -> Path | None:
    """The folder whose sub-folders are the tissue classes, looking through single wrapper folders
    (archives unpack to ``X/X/<class>`` in some copies); None when there are no class folders."""
    for _ in range(4):
        if not path.is_dir():
            return None
        subfolders = list_class_folders(path)
        if not subfolders:
            return None
        if len(subfolders) == 1 and subfolders[0].lower() not in _KNOWN_FOLDED:
            inner = path / subfolders[0]
            if list_class_folders(inner):  # one non-class folder holding folders: a wrapper
                path = inner
                continue
        return path
    return path


def _resolve(source: str | os.PathLike, download: bool) -> tuple[Path, str]:
    """(tile root, title) for a source name or path; downloads when allowed and needed."""
    if isinstance(source, str) and source in SOURCES:
        spec = SOURCES[source]
        root = data_root()
        official = root / spec.folder
        found = _tile_root(official)
        if found is not None:
            return found, spec.title
        shared = _tile_root(root / "histology")
        if shared is not None and detect_scheme(list_class_folders(shared)) == spec.scheme:
            return shared, spec.title  # the name shows the path, so a partial copy is recognisable
        if shared is not None:
            names = list_class_folders(shared)
            if len(set(names) & set(SCHEMES[spec.scheme])) * 2 >= len(SCHEMES[spec.scheme]):
                # Mostly this scheme's folders, plus others: a damaged copy, not a missing one.
                check_class_folders(shared, names, SCHEMES[spec.scheme], f"{spec.title} ({spec.scheme})")
        how_to_get = (
            f"Also looked at {root / 'histology'} for {spec.scheme} class folders. Call "
            f"load_histology({source!r}, download=True) with a network connection ({spec.size_text}), "
            f"or unzip {spec.archive.filename} ({spec.archive.url.split('?')[0]}) there."
        )
        if not download:
            raise DataMissingError(f"Histology tiles '{source}' ({spec.title})", official, how_to_get)
        fetch(spec.archive, root, dataset=f"Histology tiles '{source}'", how_to_get=how_to_get, extract_to=official)
        found = _tile_root(official)
        if found is None:
            raise FileNotFoundError(f"{spec.archive.filename} unpacked into {official} but holds no class folders")
        return found, spec.title

    path = Path(source).expanduser()
    if not path.exists():
        if isinstance(source, str) and os.sep not in source and "/" not in source:
            raise ValueError(
                f"unknown histology source {source!r}: use one of {sorted(SOURCES)} or a path to a "
                "class-per-folder tree of tiles"
            )
        raise DataMissingError("Histology tiles", path, "Pass a folder with one sub-folder of tiles per tissue class.")
    found = _tile_root(path)
    if found is None:
        raise FileNotFoundError(f"{path} holds no class sub-folders (expected <class>/<tile>.tif|png|jpg)")
    return found, "Histology tiles"


@dataclass(repr=False, eq=False, kw_only=True)
class HistologyTiles(ImageSplit):
    """An ``ImageSplit`` of tiles whose labels are group indices into ``GROUPS`` (``classes`` == GROUPS).

    Per tile it also keeps the tissue class folder it came from (``tissue_train`` / ``tissue_test``)
    and its file (``paths_train`` / ``paths_test``), so errors can be traced back to the slides and
    fine-grained confusions (e.g. stroma vs. tumour) can still be analysed after grouping.
    ``mapping`` is the tissue-class-to-group table that was applied.
    """

    tissue_train: list[str]
    tissue_test: list[str]
    paths_train: list[Path]
    paths_test: list[Path]
    mapping: dict[str, str] = field(default_factory=dict)

    _train_fields: ClassVar[tuple[str, ...]] = ("x_train", "y_train", "tissue_train", "paths_train")
    _test_fields: ClassVar[tuple[str, ...]] = ("x_test", "y_test", "tissue_test", "paths_test")

    def tissue_counts(self, part: str = "train") -> dict[str, int]:
        """Tiles per tissue class folder in the ``"train"`` or ``"test"`` part."""
        tissues = {"train": self.tissue_train, "test": self.tissue_test}[part]
        return {name: tissues.count(name) for name in sorted(set(self.mapping) | set(tissues))}


def _say_if_upsampled(paths: list[Path], image_size: int, tile_root: Path) -> None:
    """Print one line when the tiles (the first of each class folder) are smaller than ``image_size``."""
    from PIL import Image

    sizes = []
    for path in {p.parent: p for p in reversed(paths)}.values():
        try:
            with Image.open(path) as image:
                sizes.append(min(image.size))
        except Exception:  # an unreadable tile: read_images reports it, naming the file
            continue
    if sizes and min(sizes) < image_size:
        print(f"The tiles at {tile_root} are {min(sizes)} px; image_size={image_size} upsamples them (the offline copy of "
              f"Kather 2016 is at 64 px; for larger tiles download the original 150 px archive, {SOURCES['kather2016'].size_text}).")


def load_histology(
    source: str | os.PathLike = "kather2016",
    *,
    image_size: int = 64,
    max_per_class: int | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
    mapping: Mapping[str, str] | None = None,
    download: bool = True,
) -> HistologyTiles:
    """Load histology tiles as a train/test split labelled with the four ``GROUPS``.

    Args:
        source: ``"kather2016"``, ``"kather2019"`` (CRC-VAL-HE-7K), ``"kather2019-100k"``
            (NCT-CRC-HE-100K; use ``max_per_class``, all 100,000 tiles at 224 px would need 60 GB),
            or a path to a class-per-folder tree of tiles (.tif/.png/.jpg).
        image_size: tiles are converted to RGB and resized (Lanczos) to this square size.
        max_per_class: at most this many tiles per tissue class folder, picked at random with ``seed``.
        test_fraction: share of tiles in the test part; the split is stratified by group and seeded.
        mapping: ``{folder name: group}`` entries overriding or extending the built-in tables.
        download: fetch a named source from Zenodo (md5-checked) when it is not on disk.

    Raises:
        DataMissingError: a named source is missing and cannot be downloaded, or the path does not exist.
        UnknownTissueClassError: a class folder is in no table and not in ``mapping``.
        ImageDecodeError: a tile cannot be read (the message names the file).
    """
    tile_root, title = _resolve(source, download)
    tissue_classes = list_class_folders(tile_root)
    scheme = detect_scheme(tissue_classes)
    if scheme is not None and not mapping:  # a known set with a class folder gone would lose a group silently
        check_class_folders(tile_root, tissue_classes, SCHEMES[scheme], f"the {scheme} tiles")
    table = {name: group_of(name, mapping) for name in tissue_classes}
    paths, tissue_index = sample_class_files(
        tile_root, tissue_classes, extensions=TILE_EXTENSIONS, per_class=max_per_class, seed=seed
    )
    tissues = [tissue_classes[i] for i in tissue_index]

    groups = np.asarray([GROUPS.index(table[t]) for t in tissues], dtype=np.int64)
    train, test = stratified_split(groups, test_fraction, seed=seed)
    _say_if_upsampled(paths, image_size, tile_root)
    images = torch.from_numpy(read_images(paths, image_size)).permute(0, 3, 1, 2)
    x = images.to(torch.float32).div_(255.0)
    index = {"train": torch.from_numpy(train), "test": torch.from_numpy(test)}
    return HistologyTiles(
        x_train=x[index["train"]].contiguous(),
        y_train=torch.from_numpy(groups[train]),
        x_test=x[index["test"]].contiguous(),
        y_test=torch.from_numpy(groups[test]),
        classes=list(GROUPS),
        name=f"{title} at {tile_root} ({len(paths)} tiles, {len(tissue_classes)} tissue classes -> 4 groups)",
        tissue_train=[tissues[i] for i in train],
        tissue_test=[tissues[i] for i in test],
        paths_train=[paths[i] for i in train],
        paths_test=[paths[i] for i in test],
        mapping=table,
    )
