"""The study's alterations, the attacked-image export and the class-balanced evaluation set."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from helpers.studies.flickr_transfer_attacks import alterations, export, study
from helpers.metrics import ssim


@pytest.fixture
def photos():
    rng = np.random.default_rng(0)
    # Smooth images (like photos) so blur, PCA and JPEG have something to keep.
    base = rng.random((3, 8, 8, 3)).astype(np.float32)
    return np.stack([np.kron(image, np.ones((4, 5, 1))) for image in base]).astype(np.float32)  # (3, 32, 40, 3)


@pytest.mark.parametrize("percent", [0, 1, 10, 40, 100])
def test_noise_changes_one_channel_of_exactly_n_percent_of_pixels(photos, percent):
    noisy = alterations.random_pixel_noise(photos, percent, seed=1)
    assert noisy.shape == photos.shape and noisy.dtype == np.float32
    assert noisy.min() >= 0 and noisy.max() <= 1
    changed_channels = (noisy != photos).sum(axis=-1)  # per pixel: how many channels changed
    expected = round(percent / 100 * 32 * 40)
    for image in changed_channels:
        assert (image > 0).sum() == expected
        assert image.max() <= 1  # one random channel per picked pixel
    assert np.array_equal(alterations.random_pixel_noise(photos, percent, seed=1), noisy)  # seeded


def test_ssim_of_an_image_with_itself_is_one(photos):
    assert np.allclose(ssim(photos, photos, data_range=1.0), 1.0)
    assert np.allclose(ssim(photos, alterations.blur(photos, 1), data_range=1.0), 1.0)
    assert ssim(photos, alterations.random_pixel_noise(photos, 20), data_range=1.0).max() < 0.95


def test_blur_averages_over_the_kernel(photos):
    assert np.array_equal(alterations.blur(photos, 1), photos)
    flat = np.full((1, 16, 16, 3), 0.25, dtype=np.float32)
    assert np.allclose(alterations.blur(flat, 5), 0.25)
    blurred = alterations.blur(photos, 5)
    assert blurred.std() < photos.std()
    assert np.isclose(blurred[0, 10, 10, 0], photos[0, 8:13, 8:13, 0].mean(), atol=1e-6)
    with pytest.raises(ValueError):
        alterations.blur(photos, 0)


def test_pca_reconstruction_loses_detail_with_fewer_components(photos):
    full = alterations.pca_reconstruction(photos, 32)
    assert np.allclose(full, photos, atol=1e-4)  # all components: the image back
    similarity = [ssim(photos, alterations.pca_reconstruction(photos, k), data_range=1.0).mean() for k in (8, 4, 1)]
    assert similarity[0] >= similarity[1] >= similarity[2] and similarity[2] < 0.99
    assert alterations.pca_reconstruction(photos, 1).min() >= 0


def test_jpeg_quality_orders_similarity(photos):
    high, low = alterations.jpeg(photos, 95), alterations.jpeg(photos, 5)
    assert high.dtype == np.float32 and high.shape == photos.shape
    assert ssim(photos, high, data_range=1.0).mean() > ssim(photos, low, data_range=1.0).mean()
    assert np.abs(high - photos).max() < np.abs(low - photos).max()


def test_alteration_registry_labels_and_direction(photos):
    assert set(alterations.ALTERATIONS) == {"noise", "blur", "pca", "jpeg"}
    assert alterations.ALTERATIONS["jpeg"].stronger_when_lower and not alterations.ALTERATIONS["blur"].stronger_when_lower
    assert alterations.ALTERATIONS["noise"](photos, 5, seed=3).shape == photos.shape
    assert alterations.ALTERATIONS["pca"].label(8) == "PCA 8 comp."


class _ConstantModel:
    def __init__(self, label):
        self.label = label

    def predict(self, x):
        return np.full(len(x), self.label)


def test_export_writes_pngs_and_a_csv_of_what_they_are(photos, tmp_path):
    batch = export.AttackedBatch("MobileNet", "pgd", 0.008, photos, ["beagle/a.JPEG", "beagle/b.JPEG", "Samoyed/c.JPEG"],
                                 np.array([0, 0, 1]), {"MobileNet": np.array([0, 1, 1])})
    path, rows = export.export_attacked(tmp_path, [batch], ["beagle", "Samoyed"], {"MobileNet": _ConstantModel(1)})
    with open(path, newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 3 and written[0]["file"] == "MobileNet/pgd_eps0.008/beagle/a.png"
    assert {k: written[2][k] for k in ("source", "attack", "epsilon", "label", "clean_prediction_MobileNet", "adversarial_prediction_MobileNet")} == {
        "source": "Samoyed/c.JPEG", "attack": "pgd", "epsilon": "0.008", "label": "Samoyed",
        "clean_prediction_MobileNet": "Samoyed", "adversarial_prediction_MobileNet": "Samoyed"}
    saved = np.asarray(Image.open(tmp_path / written[1]["file"]))
    assert np.array_equal(saved, export.to_uint8(photos[1]))


def test_eval_set_is_class_balanced():
    split = study.Split(["a", "b", "c"], np.zeros((1, 4, 4, 3)), np.zeros(1, int), np.zeros((9, 4, 4, 3)),
                        np.array([0, 0, 0, 1, 1, 1, 2, 2, 2]), [str(i) for i in range(9)], "x")
    _, labels, paths = split.eval_set(5)
    assert list(labels) == [0, 1, 2, 0, 1] and paths[:3] == ["0", "3", "6"]
