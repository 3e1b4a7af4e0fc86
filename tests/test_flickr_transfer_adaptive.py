"""Study 5, section 6: PGD through each alteration used as a defense.

The TensorFlow versions of the defenses compute what the NumPy defenses compute (blur and PCA exactly
differentiable, noise as a mask), the BPDA gradient of JPEG is the identity, PGD stays in its budget, and on
a trained transfer model (MobileNet 0.75 on a few Imagewoof photos) attacking through each defense lowers
accuracy at least as much as the plain attack made against the bare model, and the readable FGSM and PGD of
``keras_attacks`` agree with ART's.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import default_parameters
from helpers.frameworks import import_tensorflow
from helpers.paths import data_root

tf = import_tensorflow()

from helpers import metrics  # noqa: E402
from helpers import attacks  # noqa: E402
from helpers.studies.flickr_transfer_attacks import adaptive, alterations, evaluation, keras_attacks, study  # noqa: E402

MOBILENET_FILE = data_root() / "weights" / "mobilenet_v1_0.75_224" / "mobilenet_7_5_224_tf.h5"
needs_model_data = pytest.mark.skipif(not MOBILENET_FILE.is_file() or not (data_root() / "imagewoof5").is_dir(),
                                      reason="MobileNet 0.75 weights or the Imagewoof photos not under ADVLAB_DATA")


@pytest.fixture
def photos():
    return np.random.default_rng(0).random((3, 21, 18, 3), dtype=np.float32)


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, 9])
def test_differentiable_blur_equals_the_blur_used_as_defense(photos, kernel):
    np.testing.assert_allclose(adaptive.blur_tf(photos, kernel).numpy(), alterations.blur(photos, kernel), atol=1e-6)


@pytest.mark.parametrize("components", [1, 4, 16, 40])
def test_pca_linear_map_equals_the_pca_reconstruction(photos, components):
    np.testing.assert_allclose(adaptive.pca_reconstruction_tf(photos, components).numpy(),
                               alterations.pca_reconstruction(photos, components), atol=1e-4)


def test_blur_and_pca_have_gradients_and_blur_is_linear(photos):
    x = tf.constant(photos)
    weights = tf.constant(np.random.default_rng(1).random(photos.shape, dtype=np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        blurred = tf.reduce_sum(adaptive.blur_tf(x, 3) * weights)
        rebuilt = tf.reduce_sum(adaptive.pca_reconstruction_tf(x, 4) * weights)
    blur_gradient = tape.gradient(blurred, x).numpy()
    # the blur is a linear map, so its gradient is the blur's adjoint applied to the weights: its sum is conserved
    assert blur_gradient.sum() == pytest.approx(float(tf.reduce_sum(weights)), rel=1e-4)
    assert np.abs(tape.gradient(rebuilt, x).numpy()).sum() > 0


def test_bpda_jpeg_is_real_jpeg_forward_and_identity_backward(photos):
    x = tf.constant(photos)
    weights = tf.constant(np.random.default_rng(2).normal(size=photos.shape).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        compressed = adaptive.jpeg_bpda_tf(x, 30)
        value = tf.reduce_sum(compressed * weights)
    np.testing.assert_allclose(compressed.numpy(), alterations.jpeg(photos, 30), atol=1e-6)
    assert not np.allclose(compressed.numpy(), photos, atol=1e-3)  # JPEG did change the photos
    np.testing.assert_array_equal(tape.gradient(value, x).numpy(), weights.numpy())


def test_a_noise_draw_is_the_study_noise_and_differentiable_where_pixels_survive(photos):
    mask, values = alterations.noise_draw(photos.shape, 20, seed=5)
    np.testing.assert_array_equal(adaptive.noise_tf(photos, mask, values).numpy(), alterations.random_pixel_noise(photos, 20, seed=5))
    assert mask.sum(axis=-1).max() == 1 and mask.sum() == 3 * round(0.2 * 21 * 18)  # one channel per picked pixel
    x = tf.constant(photos)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = tf.reduce_sum(adaptive.noise_tf(x, mask, values))
    np.testing.assert_array_equal(tape.gradient(value, x).numpy(), 1.0 - mask)


def test_defenses_are_named_in_order_and_unknown_ones_refused():
    defenses = adaptive.defenses_of({"noise": 5.0, "jpeg": 50, "pca": 8, "blur": 3}, eot_samples=4)
    assert [d.name for d in defenses] == list(adaptive.DEFENSES)
    assert [d.eot_samples for d in defenses] == [1, 1, 1, 4] and [d.stochastic for d in defenses] == [False, False, False, True]
    assert "EOT" in defenses[-1].gradient and "BPDA" in defenses[0].gradient
    with pytest.raises(ValueError, match="median"):
        adaptive.defenses_of({"median": 3})


# --------------------------------------------------------------------------------------------------
# On a trained transfer model


@pytest.fixture(scope="module")
def trained_mobilenet(tmp_path_factory):
    """MobileNet 0.75 with a head trained on 12 Imagewoof photos per class at 96 px, the test photos it gets
    right, and plain PGD images made against the bare model (ART, as section 4 makes them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADVLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras")))
        params = {**default_parameters("flickr_transfer_attacks"), "use_flickr": False, "photos_per_class": 12,
                  "image_size": 96, "test_fraction": 0.4, "backbones": ["MobileNet"], "download_weights": False, "epochs": 10}
        photos = study.load_photos(params)
        trained = study.train_backbones(study.plan_backbones(params), photos.split, params)
    model = trained.models["MobileNet"]
    right = model.predict(photos.split.x_test) == photos.split.y_test
    x, y = photos.split.x_test[right][:10], photos.split.y_test[right][:10]
    eps = 0.004
    plain = evaluation.attack_sweep(model, x, y, y, n_classes=trained.n_classes, epsilons=[eps], pgd_steps=5, defenses={},
                                    keep_epsilons=[eps], attack_names=("pgd",)).adversarial["pgd"][eps]
    return model, x, y, eps, plain


@needs_model_data
def test_pgd_through_a_defense_stays_in_its_budget(trained_mobilenet):
    model, x, y, eps, _ = trained_mobilenet
    attacked = adaptive.pgd_through(model, x[:4], y[:4], adaptive.Defense("blur", 3), eps=eps, steps=2)
    assert np.abs(attacked - x[:4]).max() <= eps + 1e-6 and attacked.min() >= 0.0 and attacked.max() <= 1.0
    assert metrics.ssim(x[:4], attacked, data_range=1.0).mean() > 0.99


@needs_model_data
@pytest.mark.parametrize("name, level", [("jpeg", 50), ("blur", 3), ("pca", 16), ("noise", 5.0)])
def test_attacking_through_the_defense_lowers_accuracy_at_least_as_much_as_the_plain_attack(trained_mobilenet, name, level):
    model, x, y, eps, plain = trained_mobilenet
    defense = adaptive.defenses_of({name: level}, eot_samples=2)
    sweep = adaptive.adaptive_sweep(model, x, y, {eps: plain}, defense, steps=5)
    (row,) = sweep.rows
    assert row["undefended_accuracy"] < 1.0  # the plain attack works on the bare model (which gets every photo right)
    assert row["through_accuracy"] <= row["plain_accuracy"], row
    assert row["through_accuracy"] < row["clean_accuracy"], row  # the defense does not stop an attacker who knows it
    assert 0.99 < row["through_ssim"] <= 1.0 and 0.99 < row["plain_ssim"] <= 1.0


@needs_model_data
def test_the_study_runs_on_the_device_the_parameter_picks(trained_mobilenet):
    model, *_ = trained_mobilenet
    assert study.keras_device("cpu").name == "/CPU:0"
    with study.keras_device("cpu").scope():
        assert study.used_device(model).endswith("CPU:0")
    if not tf.config.list_physical_devices("GPU"):
        assert study.keras_device("auto").name == "/CPU:0"
        with pytest.raises(RuntimeError, match="advlab\\[gpu\\]"):
            study.keras_device("cuda")
    else:
        assert study.keras_device("auto").name == "/GPU:0"


@needs_model_data
def test_readable_fgsm_and_pgd_agree_with_art_within_a_point(trained_mobilenet):
    model, x, y, eps, _ = trained_mobilenet
    classifier = evaluation.art_classifier(model, x, 5)
    gradient = keras_attacks.input_gradient(model.model)
    pairs = {
        "fgsm": (attacks.make_attack("fgsm", classifier, eps=eps).generate(x, y=y),
                 keras_attacks.fgsm(gradient, x, y, eps=eps)),
        "pgd": (attacks.make_attack("pgd", classifier, eps=eps, max_iter=5, num_random_init=0).generate(x, y=y),
                keras_attacks.pgd(gradient, x, y, eps=eps, steps=5, step_size=keras_attacks.default_step_size(eps, 5),
                                  random_start=False)),
    }
    for name, (by_art, readable) in pairs.items():
        art_accuracy = metrics.accuracy(model.predict(by_art), y)
        readable_accuracy = metrics.accuracy(model.predict(readable), y)
        assert abs(art_accuracy - readable_accuracy) <= 0.01, (name, art_accuracy, readable_accuracy)
        if name == "fgsm":  # one step: the same pixels but for gradient entries too close to zero to have one sign
            assert np.mean(np.isclose(by_art, readable, atol=1e-5)) > 0.99
        assert art_accuracy < 1.0  # the attack does something on photos the model gets right


@needs_model_data
def test_early_stop_gives_the_same_attack_as_the_plain_loop(trained_mobilenet):
    """A fooled image's gradient is zero, so it stays; not computing it again changes nothing."""
    model, x, y, eps, _ = trained_mobilenet
    defense = adaptive.Defense("blur", 3)
    stopping = adaptive.defense_gradient(model.model, defense)
    plain = keras_attacks.input_gradient(model.model, defense.apply_tf)
    both = keras_attacks.loss_gradient(model.model, defense.apply_tf)

    def zero_when_fooled(images, labels):
        grad, logits = both(images, labels)
        grad[np.argmax(logits, axis=1) != labels] = 0.0
        return grad

    options = dict(eps=eps, steps=4, step_size=keras_attacks.default_step_size(eps, 4))
    fast = keras_attacks.pgd(stopping, x, y, rng=np.random.default_rng(0), **options)
    slow = keras_attacks.pgd(zero_when_fooled, x, y, rng=np.random.default_rng(0), **options)
    np.testing.assert_array_equal(fast, slow)
    assert plain(x[:2], y[:2]).shape == x[:2].shape
