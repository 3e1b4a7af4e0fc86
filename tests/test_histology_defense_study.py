"""helpers.studies.histology_defense.study: data loading rules (images_dir, mapping, min_tiles) on the offline tiles."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers.studies.histology_defense import study
from helpers.paths import DataMissingError

SAMPLE = Path(os.environ.get("ADVLAB_DATA", "")) / "histology"
needs_sample = pytest.mark.skipif(not (SAMPLE / "01_TUMOR").is_dir(), reason="24-tile histology sample not under ADVLAB_DATA")


def _params(**overrides):
    params = {"images_dir": "kather2016", "image_size": 32, "max_per_class": None, "min_tiles": 12, "test_fraction": 0.5,
              "seed": 0, "mapping": {}}
    params.update(overrides)
    return params


@needs_sample
def test_offline_sample_is_refused_below_min_tiles_with_a_data_missing_error():
    assert len(study.load_data(_params()).y_test) == 12
    with pytest.raises(DataMissingError, match=r"min_tiles=1000.*Only 24 tiles"):
        study.load_data(_params(min_tiles=1000))


@needs_sample
def test_images_dir_with_custom_folders_and_mapping(tmp_path):
    for source, target in (("01_TUMOR", "tumour_tiles"), ("06_MUCOSA", "healthy"), ("08_EMPTY", "glass"), ("07_ADIPOSE", "fat")):
        shutil.copytree(SAMPLE / source, tmp_path / target)
    mapping = {"tumour_tiles": "cancer", "healthy": "normal", "glass": "artifacts", "fat": "other"}
    data = study.load_data(_params(images_dir=str(tmp_path), mapping=mapping, min_tiles=4))
    assert data.mapping == mapping
    assert sorted(data.class_counts("train").values()) + sorted(data.class_counts("test").values()) and \
        sum(data.class_counts("train").values()) + sum(data.class_counts("test").values()) == 12
