"""Study 5's readable methods on hand-made inputs: FGSM and PGD of ``keras_attacks`` with a known gradient, the
early stop of ``input_gradient(until_fooled=True)``, the EOT average over noise draws and the readable SSIM beside
scikit-image's. The same functions on a trained model, beside ART, are in test_flickr_transfer_adaptive.py."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import metrics
from helpers.studies.flickr_transfer_attacks import adaptive, keras_attacks, study
from helpers.studies.flickr_transfer_attacks.evaluation import structural_similarity


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0.2, 0.8, (4, 6, 5, 3)).astype(np.float32)


def linear_gradient(direction):
    """The gradient of the loss <direction, x>: the same everywhere."""
    return lambda x, y: np.broadcast_to(direction, x.shape).astype(np.float32)


def test_fgsm_moves_every_pixel_by_eps_along_the_gradient_sign(images):
    direction = np.random.default_rng(1).normal(size=images.shape[1:])
    attacked = keras_attacks.fgsm(linear_gradient(direction), images, np.zeros(4), eps=0.03)
    np.testing.assert_allclose(attacked - images, np.broadcast_to(0.03 * np.sign(direction), images.shape), atol=1e-6)
    corner = keras_attacks.fgsm(linear_gradient(np.ones(images.shape[1:])), np.ones_like(images), np.zeros(4), eps=0.5)
    assert corner.max() == 1.0  # clipped to the pixel range


def test_pgd_walks_to_the_corner_of_the_ball_and_stays_inside(images):
    direction = np.random.default_rng(2).normal(size=images.shape[1:])
    rng = np.random.default_rng(3)
    attacked = keras_attacks.pgd(linear_gradient(direction), images, np.zeros(4), eps=0.02, steps=10,
                                 step_size=keras_attacks.default_step_size(0.02, 10), rng=rng)
    # a constant gradient: 10 steps of 2.5 eps / 10 reach the corner eps * sign(direction) from any start
    np.testing.assert_allclose(attacked - images, np.broadcast_to(0.02 * np.sign(direction), images.shape), atol=1e-6)
    wandering = keras_attacks.pgd(lambda x, y: np.random.default_rng(4).normal(size=x.shape), images, np.zeros(4),
                                  eps=0.02, steps=5, step_size=0.01, rng=np.random.default_rng(5))
    assert np.abs(wandering - images).max() <= 0.02 + 1e-6 and 0.0 <= wandering.min() and wandering.max() <= 1.0


def test_pgd_start_is_drawn_from_the_generator_and_optional(images):
    def run(seed, random_start=True):
        return keras_attacks.pgd(lambda x, y: np.zeros_like(x), images, np.zeros(4), eps=0.05, steps=1, step_size=0.01,
                                 rng=np.random.default_rng(seed), random_start=random_start)

    assert np.array_equal(run(7), run(7)) and not np.array_equal(run(7), run(8))
    assert np.array_equal(run(7, random_start=False), images)  # zero gradient, no start: nothing moves


def test_in_batches_keeps_the_order(images):
    labels = np.arange(4)
    out = keras_attacks.in_batches(lambda x, y: x + y[:, None, None, None], images, labels, batch_size=3)
    np.testing.assert_allclose(out, images + labels[:, None, None, None])


class _Model:
    """A stand-in for ``keras_attacks.loss_gradient``: predicts class 1 for images whose mean is above ``cut``."""

    def __init__(self, cut):
        self.cut, self.calls = cut, []

    def __call__(self, x, y):
        self.calls.append(len(x))
        logits = np.stack([np.zeros(len(x)), (x.mean(axis=(1, 2, 3)) > self.cut).astype(float)], axis=1)
        return np.ones_like(x), logits


def test_until_fooled_stops_images_the_model_gets_wrong_and_does_not_compute_them_again(images, monkeypatch):
    model = _Model(cut=0.85)
    monkeypatch.setattr(keras_attacks, "loss_gradient", lambda keras_model, transform=None: model)
    gradient = keras_attacks.input_gradient(None, until_fooled=True)
    labels = np.zeros(4, int)
    bright = images.copy()
    bright[0] = 0.9  # predicted 1: fooled
    grad = gradient(bright, labels)
    assert not grad[0].any() and grad[1:].all()
    grad = gradient(bright, labels)  # image 0 has not moved: not computed again
    assert model.calls == [4, 3] and not grad[0].any()
    moved = bright.copy()
    moved[0] = 0.1  # it moved (and is right again): computed again
    assert gradient(moved, labels)[0].all() and model.calls[-1] == 4


def test_eot_averages_the_gradient_over_fresh_noise_draws(images):
    seen = []

    def through_one_draw(x, y, mask, values):
        seen.append(mask.copy())
        return 1.0 - mask  # the gradient of sum(x * (1 - mask) + values)

    gradient = adaptive.eot_noise_gradient(through_one_draw, 20.0, samples=4, rng=np.random.default_rng(0))
    grad = gradient(images, np.zeros(4))
    assert len(seen) == 4 and not np.array_equal(seen[0], seen[1])  # a fresh draw each time
    np.testing.assert_allclose(grad, 1.0 - np.mean(seen, axis=0), atol=1e-6)


def test_readable_ssim_equals_scikit_image():
    rng = np.random.default_rng(0)
    a = rng.random((3, 30, 24, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    library = metrics.ssim(a, b, data_range=1.0)
    ours = [structural_similarity(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, library, atol=1e-9)
    assert structural_similarity(a[0], a[0]) == pytest.approx(1.0)


def test_every_method_on_the_page_is_a_function_of_this_study():
    assert {"keras_fgsm", "keras_pgd", "jpeg_bpda", "blur_layer", "pca_layer", "eot_noise", "ssim"} <= set(study.METHODS)
    for function in study.METHODS.values():
        assert function.__module__.startswith("helpers.studies.flickr_transfer_attacks.") and function.__doc__
