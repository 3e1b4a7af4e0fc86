"""Photo folders for the Keras study: imagewoof5, odd image modes, broken files, missing folders."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.data import (
    IMAGEWOOF5_BREEDS,
    DataMissingError,
    ImageDecodeError,
    flickr5_path,
    imagewoof5_path,
    load_photo_folder,
    read_image,
)
from helpers.paths import REPO_ROOT

_DATA = Path(os.environ.get("ADVLAB_DATA", ""))
needs_imagewoof = pytest.mark.skipif(not (_DATA / "imagewoof5").is_dir(), reason="imagewoof5 not under ADVLAB_DATA")


@needs_imagewoof
def test_imagewoof5_all_photos_rgb_uint8():
    photos = load_photo_folder(imagewoof5_path(download=False), image_size=48)
    assert photos.images.shape == (800, 48, 48, 3) and photos.images.dtype == np.uint8
    assert photos.labels.dtype == np.int64
    assert sorted(photos.classes) == sorted(IMAGEWOOF5_BREEDS.values()) and photos.classes == sorted(photos.classes)
    assert set(photos.class_counts().values()) == {160}
    assert all(p.parent.name == photos.classes[k] for p, k in zip(photos.paths, photos.labels))


@needs_imagewoof
def test_grayscale_photos_come_out_rgb():
    root = imagewoof5_path(download=False)
    grey = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with Image.open(path) as image:
                if image.mode == "L":
                    grey.append(path)
    assert grey, "the offline imagewoof5 copy is known to hold grayscale photos"
    for path in grey:
        pixels = read_image(path, 224)
        assert pixels.shape == (224, 224, 3)
        assert np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2])


@needs_imagewoof
def test_per_class_draw_is_seeded():
    root = imagewoof5_path(download=False)
    a = load_photo_folder(root, image_size=32, per_class=4, seed=0)
    b = load_photo_folder(root, image_size=32, per_class=4, seed=0)
    c = load_photo_folder(root, image_size=32, per_class=4, seed=1)
    assert len(a) == 20 and set(a.class_counts().values()) == {4}
    assert a.paths == b.paths and np.array_equal(a.images, b.images)
    assert a.paths != c.paths


def _odd_tree(root: Path) -> Path:
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    (root / ".ipynb_checkpoints").mkdir()
    Image.new("L", (40, 30), 128).save(root / "cats" / "grey.png")
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 16, 32))  # left half fully transparent
    rgba.save(root / "cats" / "transparent.png")
    wide = Image.new("RGB", (300, 100), (0, 255, 0))
    wide.paste((255, 0, 0), (0, 0, 100, 100))  # red band on the left, cropped away by a centre crop
    wide.save(root / "dogs" / "WIDE.JPG", quality=95)
    (root / "dogs" / "readme.txt").write_text("not a photo")
    (root / "dogs" / "._WIDE.JPG").write_bytes(b"macOS resource fork")
    return root


def test_modes_sizes_and_hidden_entries(tmp_path):
    photos = load_photo_folder(_odd_tree(tmp_path / "set"), image_size=20)
    assert photos.classes == ["cats", "dogs"]
    assert photos.images.shape == (3, 20, 20, 3) and photos.labels.tolist() == [0, 0, 1]
    grey, transparent, wide = photos.images.astype(int)
    assert np.all(np.abs(grey - 128) <= 1)
    assert np.all(transparent[:, :8] >= 250)  # transparent pixels composited onto white
    assert np.all(np.abs(transparent[:, 12:] - [255, 0, 0]) <= 2)
    assert wide[..., 0].max() < 40 and wide[..., 1].min() > 215  # centre crop kept only the green part
    assert "3 photos" in photos.describe() and "cats=2" in photos.describe()


def test_broken_photo_is_named(tmp_path):
    root = _odd_tree(tmp_path / "set")
    bad = root / "dogs" / "broken.jpeg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    with pytest.raises(ImageDecodeError) as info:
        load_photo_folder(root, image_size=20)
    assert info.value.path == bad and str(bad) in str(info.value)


def test_missing_photo_folders(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nothing"):
        load_photo_folder(tmp_path / "nothing")
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))
    with pytest.raises(DataMissingError) as info:
        imagewoof5_path(download=False)
    assert "imagewoof5" in str(info.value) and str(tmp_path / "imagewoof5") in str(info.value)
    with pytest.raises(DataMissingError) as info:
        flickr5_path()
    assert "flickr5" in str(info.value) and str(tmp_path / "flickr5") in str(info.value)


@pytest.mark.skipif(not (_DATA / "flickr5").is_dir(), reason="flickr5 not under ADVLAB_DATA")
def test_flickr5_offline_copy():
    photos = load_photo_folder(flickr5_path(), image_size=64)
    assert len(photos.classes) == 5 and photos.images.shape[1:] == (64, 64, 3)


def test_photo_module_does_not_load_torch():
    """A Keras notebook importing the photo loaders must not pull in PyTorch."""
    code = (
        "import sys\n"
        "from helpers.data import DataMissingError, imagewoof5_path, load_photo_folder\n"
        "try:\n"
        "    load_photo_folder(imagewoof5_path(download=False), image_size=16, per_class=1)\n"
        "except DataMissingError:\n"
        "    pass\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
