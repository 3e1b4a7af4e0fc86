"""Histology tiles: the group mapping tables, the offline Kather 2016 copy (all 5,000 tiles at 64 px), other trees, errors."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers.data import (
    GROUPS,
    KATHER2016_GROUPS,
    KATHER2019_GROUPS,
    SEED_STUDY_GROUPS,
    DataMissingError,
    HistologyTiles,
    ImageDecodeError,
    UnknownTissueClassError,
    detect_scheme,
    group_of,
    load_histology,
)

needs_histology = pytest.mark.skipif(
    not (Path(os.environ.get("ADVLAB_DATA", "")) / "histology").is_dir(),
    reason="histology sample not under ADVLAB_DATA",
)


@pytest.mark.parametrize(
    "folder, group",
    [
        # Kather 2019 (NCT-CRC-HE-100K / CRC-VAL-HE-7K)
        ("TUM", "cancer"), ("NORM", "normal"), ("BACK", "artifacts"), ("DEB", "artifacts"),
        ("ADI", "other"), ("LYM", "other"), ("MUC", "other"), ("MUS", "other"), ("STR", "other"),
        # Kather 2016
        ("01_TUMOR", "cancer"), ("06_MUCOSA", "normal"), ("05_DEBRIS", "artifacts"), ("08_EMPTY", "artifacts"),
        ("02_STROMA", "other"), ("03_COMPLEX", "other"), ("04_LYMPHO", "other"), ("07_ADIPOSE", "other"),
        # the seed study
        ("artifacts", "artifacts"), ("cancer_regions", "cancer"), ("normal_regions", "normal"), ("other", "other"),
    ],
)
def test_every_published_folder_maps_to_its_group(folder, group):
    assert group_of(folder) == group


def test_tables_cover_exactly_the_published_folders():
    assert GROUPS == ("artifacts", "cancer", "normal", "other")
    assert len(KATHER2016_GROUPS) == 8 and len(KATHER2019_GROUPS) == 9 and len(SEED_STUDY_GROUPS) == 4
    for table in (KATHER2016_GROUPS, KATHER2019_GROUPS, SEED_STUDY_GROUPS):
        assert set(table.values()) == set(GROUPS)
    assert detect_scheme(KATHER2019_GROUPS) == "kather2019"
    assert detect_scheme(["01_TUMOR", "08_EMPTY"]) == "kather2016"
    assert detect_scheme(["cancer_regions", "other"]) == "seed"
    assert detect_scheme(["TUM", "01_TUMOR"]) is None


def test_unknown_folder_error_names_it_and_lists_known_ones():
    with pytest.raises(UnknownTissueClassError) as info:
        group_of("09_BLOOD")
    message = str(info.value)
    assert "'09_BLOOD'" in message and "01_TUMOR" in message and "TUM" in message and "cancer_regions" in message
    assert "mapping=" in message


def test_user_mapping_overrides_and_extends_and_is_checked():
    assert group_of("03_COMPLEX", {"03_COMPLEX": "cancer"}) == "cancer"
    assert group_of("09_BLOOD", {"09_BLOOD": "artifacts"}) == "artifacts"
    assert group_of("TUM", {"09_BLOOD": "artifacts"}) == "cancer"  # built-ins still apply
    assert group_of("tum") == "cancer"  # lower-cased copies of the data sets
    with pytest.raises(ValueError, match="tumour"):
        group_of("TUM", {"TUM": "tumour"})


@needs_histology
def test_kather2016_sample_groups_and_stratified_split():
    tiles = load_histology("kather2016", download=False, max_per_class=3)  # 24 of the offline copy's 5,000 tiles
    assert isinstance(tiles, HistologyTiles) and tiles.classes == list(GROUPS)
    assert tiles.x_train.shape == (16, 3, 64, 64) and tiles.x_test.shape == (8, 3, 64, 64)
    assert tiles.x_train.dtype == torch.float32 and 0 <= tiles.x_train.min() and tiles.x_train.max() <= 1
    all_groups = Counter(GROUPS[i] for i in torch.cat([tiles.y_train, tiles.y_test]).tolist())
    assert all_groups == {"cancer": 3, "normal": 3, "artifacts": 6, "other": 12}
    assert tiles.class_counts("test") == {"artifacts": 2, "cancer": 1, "normal": 1, "other": 4}
    assert len(set(tiles.tissue_train + tiles.tissue_test)) == 8
    for label, tissue, path in zip(tiles.y_train.tolist(), tiles.tissue_train, tiles.paths_train):
        assert path.parent.name == tissue and GROUPS[label] == group_of(tissue)
    assert tiles.name.startswith("Kather 2016") and str(Path(os.environ["ADVLAB_DATA"]).resolve() / "histology") in tiles.name


@needs_histology
def test_sample_split_is_seeded_and_options_apply():
    a = load_histology(download=False, seed=1, max_per_class=3)
    b = load_histology(download=False, seed=1, max_per_class=3)
    c = load_histology(download=False, seed=2, max_per_class=3)
    assert a.paths_test == b.paths_test and torch.equal(a.x_test, b.x_test)
    assert a.paths_test != c.paths_test
    small = load_histology(download=False, image_size=32, max_per_class=2, test_fraction=0.25)
    assert small.x_train.shape[1:] == (3, 32, 32)
    assert len(small.x_train) + len(small.x_test) == 16 and len(small.x_test) == 4
    regrouped = load_histology(download=False, max_per_class=3, mapping={"03_COMPLEX": "cancer", "04_LYMPHO": "cancer"})
    assert Counter(regrouped.tissue_train + regrouped.tissue_test) == Counter({t: 3 for t in KATHER2016_GROUPS})
    assert torch.cat([regrouped.y_train, regrouped.y_test]).eq(GROUPS.index("cancer")).sum() == 9
    subset = a.subset(train_size=8, seed=0)
    assert len(subset.paths_train) == 8 and subset.paths_test == a.paths_test
    for label, tissue in zip(subset.y_train.tolist(), subset.tissue_train):
        assert GROUPS[label] == group_of(tissue)


@needs_histology
def test_offline_copy_holds_the_whole_kather2016_set_at_64_px(capsys):
    root = Path(os.environ["ADVLAB_DATA"]) / "histology"
    counts = {folder: len(list((root / folder).glob("*.png"))) for folder in KATHER2016_GROUPS}
    assert counts == {folder: 625 for folder in KATHER2016_GROUPS}
    with Image.open(next((root / "01_TUMOR").glob("*.png"))) as tile:
        assert tile.size == (64, 64)
    load_histology(download=False, max_per_class=1, image_size=64, test_fraction=0.5)
    assert "upsamples" not in capsys.readouterr().out
    upsampled = load_histology(download=False, max_per_class=1, image_size=96, test_fraction=0.5)
    lines = [line for line in capsys.readouterr().out.splitlines() if "upsamples" in line]
    assert len(lines) == 1 and "64 px" in lines[0] and "image_size=96" in lines[0]
    assert upsampled.x_train.shape[1:] == (3, 96, 96)


def _tile(path: Path, mode: str, size: int, value: int) -> None:
    colour = {"L": value, "RGB": (value, 0, 0), "RGBA": (value, 0, 0, 255)}[mode]
    Image.new(mode, (size, size), colour).save(path)


def test_any_class_per_folder_tree_with_mixed_files(tmp_path):
    for i, name in enumerate(SEED_STUDY_GROUPS):
        folder = tmp_path / "study" / name
        folder.mkdir(parents=True)
        _tile(folder / "a.tif", "RGB", 150, 40 * i + 20)
        _tile(folder / "b.PNG", "L", 224, 40 * i + 20)
        _tile(folder / "c.png", "RGBA", 100, 40 * i + 20)
        _tile(folder / "d.jpg", "RGB", 64, 40 * i + 20)
        (folder / "notes.txt").write_text("not a tile")
    tiles = load_histology(tmp_path / "study", image_size=16, test_fraction=0.25)
    assert len(tiles.x_train) == 12 and len(tiles.x_test) == 4
    assert tiles.x_train.shape[1:] == (3, 16, 16)
    assert set(tiles.class_counts("test").values()) == {1}
    for x, label in zip(tiles.x_train, tiles.y_train.tolist()):
        assert abs(float(x[0].mean()) * 255 - (40 * label + 20)) < 3  # red channel carries the group


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_unknown_folder_in_a_tree_and_a_broken_tile(tmp_path):
    for name in ("TUM", "NORM", "BLOOD"):
        (tmp_path / name).mkdir()
        _tile(tmp_path / name / "x.tif", "RGB", 32, 100)
    with pytest.raises(UnknownTissueClassError, match="BLOOD"):
        load_histology(str(tmp_path))
    tiles = load_histology(str(tmp_path), mapping={"BLOOD": "other"}, test_fraction=0.34)
    assert sorted(tiles.tissue_train + tiles.tissue_test) == ["BLOOD", "NORM", "TUM"]
    (tmp_path / "TUM" / "broken.tif").write_bytes(b"II*\x00 truncated tiff")
    with pytest.raises(ImageDecodeError, match="broken.tif"):
        load_histology(str(tmp_path), mapping={"BLOOD": "other"})


def test_missing_source_names_dataset_and_path(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))
    with pytest.raises(DataMissingError) as info:
        load_histology("kather2019", download=False)
    message = str(info.value)
    assert "kather2019" in message and "CRC-VAL-HE-7K" in message
    assert str(tmp_path / "CRC-VAL-HE-7K") in message and "zenodo.org" in message
    with pytest.raises(ValueError, match="kather2020"):
        load_histology("kather2020", download=False)
    with pytest.raises(DataMissingError, match="nowhere"):
        load_histology(tmp_path / "nowhere")


def test_shared_folder_of_another_scheme_is_not_taken_for_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))
    for name in ("TUM", "NORM"):
        (tmp_path / "histology" / name).mkdir(parents=True)
        _tile(tmp_path / "histology" / name / "x.png", "RGB", 32, 10)
    with pytest.raises(DataMissingError):
        load_histology("kather2016", download=False)  # a 2019-named sample is no Kather 2016 data
    # Read as the 2019 set it names, the copy lacks seven of its nine class folders: refused, naming them.
    from helpers.data.photos import ClassFolderError

    with pytest.raises(ClassFolderError, match="missing ADI, BACK, DEB"):
        load_histology("kather2019", download=False, test_fraction=0.5)
