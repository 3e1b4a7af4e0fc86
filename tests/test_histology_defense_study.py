"""helpers.studies.histology_defense.study: data loading rules (images_dir, mapping, min_tiles) on the offline tiles."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers.studies.histology_defense import study
from helpers.paths import DataMissingError

SAMPLE = Path(os.environ.get("ADVLAB_DATA", "")) / "histology"
needs_sample = pytest.mark.skipif(not (SAMPLE / "01_TUMOR").is_dir(), reason="Kather 2016 tiles not under ADVLAB_DATA/histology")


def _params(**overrides):
    params = {"images_dir": "kather2016", "image_size": 32, "max_per_class": 3, "min_tiles": 12, "test_fraction": 0.5,
              "seed": 0, "mapping": {}}
    params.update(overrides)
    return params


@needs_sample
def test_too_few_tiles_are_refused_below_min_tiles_with_a_data_missing_error():
    assert len(study.load_data(_params()).y_test) == 12
    with pytest.raises(DataMissingError, match=r"min_tiles=1000.*Only 24 tiles were read: max_per_class=3"):
        study.load_data(_params(min_tiles=1000))


@needs_sample
def test_a_partial_copy_is_refused_with_how_to_get_the_tiles(tmp_path, monkeypatch):
    for folder in ("01_TUMOR", "02_STROMA", "03_COMPLEX", "04_LYMPHO", "05_DEBRIS", "06_MUCOSA", "07_ADIPOSE", "08_EMPTY"):
        (tmp_path / "histology" / folder).mkdir(parents=True)
        shutil.copy(next((SAMPLE / folder).glob("*.png")), tmp_path / "histology" / folder)
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))
    with pytest.raises(DataMissingError, match=r"Only 8 tiles are there.*Zenodo record 53169"):
        study.load_data(_params(max_per_class=None, min_tiles=1000))


@needs_sample
def test_images_dir_with_custom_folders_and_mapping(tmp_path):
    for source, target in (("01_TUMOR", "tumour_tiles"), ("06_MUCOSA", "healthy"), ("08_EMPTY", "glass"), ("07_ADIPOSE", "fat")):
        shutil.copytree(SAMPLE / source, tmp_path / target)
    mapping = {"tumour_tiles": "cancer", "healthy": "normal", "glass": "artifacts", "fat": "other"}
    data = study.load_data(_params(images_dir=str(tmp_path), mapping=mapping, min_tiles=4))
    assert data.mapping == mapping
    assert sorted(data.class_counts("train").values()) + sorted(data.class_counts("test").values()) and \
        sum(data.class_counts("train").values()) + sum(data.class_counts("test").values()) == 12
