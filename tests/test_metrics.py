import numpy as np
import pytest
import torch

from helpers import metrics


def test_accuracy_from_labels_and_scores():
    labels = np.array([0, 1, 2, 2])
    assert metrics.accuracy(np.array([0, 1, 1, 2]), labels) == 0.75
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.0, 0.1, 0.9]])
    assert metrics.accuracy(scores, torch.tensor(labels)) == 0.75


def test_accuracy_rejects_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="shape"):
        metrics.accuracy(np.array([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy(np.array([], dtype=int), np.array([], dtype=int))


def test_harmonic_mean_hand_computed():
    # The histology study's final numbers: 6368/6929 clean and 17369/22228 adversarial -> 0.8446.
    clean, adversarial = 6368 / 6929, 17369 / 22228
    assert metrics.harmonic_mean(clean, adversarial) == pytest.approx(0.8446, abs=5e-5)
    assert metrics.harmonic_mean(0.5, 0.5) == 0.5
    assert metrics.harmonic_mean(1.0, 0.0) == 0.0
    assert metrics.harmonic_mean(0.0, 0.0) == 0.0
    with pytest.raises(ValueError):
        metrics.harmonic_mean(1.2, 0.5)


def test_detection_counts_hand_computed():
    flagged = [True, True, False, False, True, False]
    truth = [True, False, False, True, True, False]
    counts = metrics.detection_counts(flagged, truth)
    assert (counts.tp, counts.fp, counts.tn, counts.fn) == (2, 1, 2, 1)
    assert counts.accuracy == pytest.approx(4 / 6)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.as_dict()["tp"] == 2


def test_ssim_identity_noise_and_layouts():
    rng = np.random.default_rng(0)
    images = rng.random((3, 3, 16, 16)).astype(np.float32)  # NCHW
    assert np.allclose(metrics.ssim(images, images), 1.0)
    noisy = np.clip(images + rng.normal(0, 0.2, images.shape), 0, 1).astype(np.float32)
    scores = metrics.ssim(images, noisy)
    assert scores.shape == (3,) and np.all(scores < 0.9)
    # Same images as NHWC uint8 give the same scores up to quantisation.
    nhwc = lambda a: (np.moveaxis(a, 1, -1) * 255).round().astype(np.uint8)
    assert np.allclose(metrics.ssim(nhwc(images), nhwc(noisy)), scores, atol=0.02)
    # Grayscale N,H,W and tiny images work too.
    assert metrics.ssim(images[:, 0], images[:, 0]).shape == (3,)
    assert np.allclose(metrics.ssim(images[:, :, :5, :5], images[:, :, :5, :5]), 1.0)


def test_ssim_against_hand_computed_constant_images():
    # Two constant images a and b: SSIM = (2ab + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * range)^2.
    a, b = 0.2, 0.6
    x = np.full((1, 1, 16, 16), a, dtype=np.float64)
    y = np.full((1, 1, 16, 16), b, dtype=np.float64)
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert metrics.ssim(x, y, channel_axis=1)[0] == pytest.approx(expected, rel=1e-3)


def test_mean_interval_hand_computed():
    # 1..5: mean 3, sample sd sqrt(2.5), t(0.975, 4) = 2.776445 -> half width 2.776445 * sqrt(2.5) / sqrt(5).
    interval = metrics.mean_interval([1, 2, 3, 4, 5])
    half = 2.776445 * np.sqrt(2.5) / np.sqrt(5)
    assert interval.estimate == 3.0
    assert (interval.low, interval.high) == (pytest.approx(3 - half, abs=1e-5), pytest.approx(3 + half, abs=1e-5))
    assert interval.half_width == pytest.approx(half, abs=1e-5) and interval.contains(3.0)
    assert metrics.mean_interval([0.7, 0.7, 0.7])[1:] == (pytest.approx(0.7), pytest.approx(0.7))
    single = metrics.mean_interval([0.4])
    assert single.estimate == 0.4 and np.isnan(single.low) and np.isnan(single.high)
    with pytest.raises(ValueError):
        metrics.mean_interval([])


def test_wilson_interval_hand_computed():
    # 8 of 10 at 95%: the textbook Wilson interval is (0.4902, 0.9433).
    interval = metrics.wilson_interval(8, 10)
    assert interval.estimate == 0.8
    assert (interval.low, interval.high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    # It stays inside [0, 1] where the normal approximation would not.
    assert metrics.wilson_interval(0, 20).low == 0.0 and metrics.wilson_interval(20, 20).high == 1.0
    assert metrics.wilson_interval(0, 20).high > 0.0
    with pytest.raises(ValueError):
        metrics.wilson_interval(3, 2)


def test_bootstrap_interval_brackets_the_statistic_and_narrows_with_more_data():
    rng = np.random.default_rng(1)
    small, large = rng.normal(1.0, 1.0, 50), rng.normal(1.0, 1.0, 2000)
    a, b = metrics.bootstrap_interval(small, seed=0), metrics.bootstrap_interval(large, seed=0)
    assert a.low < a.estimate < a.high and b.low < b.estimate < b.high
    assert b.half_width < a.half_width / 3
    assert b.contains(1.0)
    assert metrics.bootstrap_interval(small, seed=3) == metrics.bootstrap_interval(small, seed=3)
    # Rows are the items: a 2-D input resamples whole rows.
    pairs = np.c_[small, small]
    assert metrics.bootstrap_interval(pairs, lambda v: v[:, 0].mean(), seed=0) == metrics.bootstrap_interval(small, seed=0)
