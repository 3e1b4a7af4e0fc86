"""Keras side of the study: ART's TensorFlowV2Classifier on a tiny model, backbone weights (never random)."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.frameworks import import_tensorflow
from helpers.paths import data_root

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, which comes after torchvision)

from helpers.studies.flickr_transfer_attacks import backbones, evaluation, study  # noqa: E402
from helpers.studies.flickr_transfer_attacks.backbones import TransferModel, WeightsUnavailableError  # noqa: E402

MOBILENET_FILE = data_root() / "weights" / "mobilenet_v1_0.75_224" / "mobilenet_7_5_224_tf.h5"
needs_mobilenet = pytest.mark.skipif(not MOBILENET_FILE.is_file(), reason="MobileNet 0.75 weights not under ADVLAB_DATA")


@pytest.fixture(autouse=True)
def _no_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no weights from the user's Keras cache


@pytest.fixture
def tiny():
    """A tiny Keras classifier that tells bright images from dark ones, and such images."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    x = np.clip(rng.normal(0.35 + 0.3 * labels[:, None, None, None], 0.05, (40, 8, 8, 3)), 0, 1).astype(np.float32)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, labels, epochs=30, verbose=0)
    return TransferModel("tiny", model, None, [], False), x, labels


def test_art_wrapper_attacks_a_tiny_keras_model(tiny):
    model, x, y = tiny
    clean = model.predict(x)
    assert (clean == y).mean() == 1.0
    classifier = evaluation.art_classifier(model, x, 2)
    assert type(classifier).__name__ == "TensorFlowV2Classifier"
    sweep = evaluation.attack_sweep(model, x, y, clean, n_classes=2, epsilons=[0.02, 0.3], pgd_steps=5,
                                    defenses={"jpeg": 50, "blur": 3}, keep_epsilons=[0.3])
    for attack in ("fgsm", "pgd"):
        small, large = sweep.curves[attack]
        assert large["accuracy"] < 0.2 < small["accuracy"]  # a budget past the class gap flips the answers
        assert large["ssim"] < small["ssim"] <= 1.0
        adversarial = sweep.adversarial[attack][0.3]
        assert np.abs(adversarial - x).max() <= 0.3 + 1e-5 and 0.0 <= adversarial.min() and adversarial.max() <= 1.0
    assert [r["attack"] for r in sweep.defense] == ["clean", "fgsm", "fgsm", "pgd", "pgd"]
    assert {"jpeg_accuracy", "blur_agreement", "attacked_agreement"} <= set(sweep.defense[0])


def test_alteration_sweep_measures_both_accuracies_and_ssim(tiny):
    model, x, y = tiny
    original = model.predict(x)
    result = evaluation.alteration_sweep({"tiny": model}, x, y, {"tiny": original}, {"noise": [0, 50], "jpeg": [90]}, keep=3)
    noise = result.curves["tiny"]["noise"]
    assert noise[0] == {"level": 0, "agreement": 1.0, "accuracy": 1.0, "ssim": pytest.approx(1.0),
                        "ssim_low": pytest.approx(1.0), "ssim_high": pytest.approx(1.0)}  # the mean SSIM's 95% interval
    assert noise[1]["ssim_low"] <= noise[1]["ssim"] <= noise[1]["ssim_high"]
    assert noise[1]["ssim"] < 1.0 and result.examples["noise"][50].shape == (3, 8, 8, 3)


def test_missing_weights_fail_with_the_backbone_name_and_how_to_get_them(tmp_path):
    with pytest.raises(WeightsUnavailableError) as caught:
        backbones.resolve_weights("VGG16", weights_path=tmp_path, download=False)
    message = str(caught.value)
    assert "VGG16" in message and "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path) in message and "Random weights are never used" in message


def test_a_weights_file_of_another_network_is_refused(tmp_path):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_x")])
    path = tmp_path / "mobilenet_7_5_224_tf_no_top.h5"
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, other)
    source = backbones.resolve_weights("MobileNet", weights_path=tmp_path, download=False)
    with pytest.raises(WeightsUnavailableError, match="does not hold MobileNet's layers"):
        backbones.load_base("MobileNet", source, 32)


@needs_mobilenet
def test_mobilenet_loads_the_local_imagenet_weights_at_any_size():
    import h5py

    source = backbones.resolve_weights("MobileNet", download=False)
    assert source.path == MOBILENET_FILE and source.origin == "local file"
    assert backbones.resolve_weights("MobileNet", weights_path=MOBILENET_FILE).path == MOBILENET_FILE  # one file
    with pytest.raises(WeightsUnavailableError):  # another backbone's file name is not taken for VGG16 ...
        backbones.resolve_weights("VGG16", weights_path=MOBILENET_FILE, download=False)
    with pytest.raises(WeightsUnavailableError, match="does not hold VGG16's layers"):  # ... and never loaded into it
        backbones.load_base("VGG16", backbones.resolve_weights("VGG16", weights_path=MOBILENET_FILE, any_file=True), 32)
    base = backbones.load_base("MobileNet", source, 64)
    assert base.input_shape == (None, 64, 64, 3) and not base.trainable
    with h5py.File(MOBILENET_FILE) as handle:
        group = handle["conv_pw_13"]
        stored = np.asarray(group[group.attrs["weight_names"][0]])
    assert np.array_equal(base.get_layer("conv_pw_13").get_weights()[0], stored)


@needs_mobilenet
def test_missing_backbones_are_substituted_out_loud_or_stop_the_run(tmp_path):
    params = {"backbones": ["VGG16", "ResNet50"], "weights_path": "", "download_weights": False, "offline_substitute": "MobileNet"}
    plans = study.plan_backbones(params)
    assert len(plans) == 1 and plans[0].run == "MobileNet" and plans[0].requested == ["VGG16", "ResNet50"]
    assert plans[0].substituted and "VGG16: ImageNet weights not available" in study.describe_plans(plans)
    with pytest.raises(WeightsUnavailableError, match="VGG16"):
        study.plan_backbones({**params, "offline_substitute": None})
    mixed = study.plan_backbones({**params, "backbones": ["MobileNet", "VGG16"]})
    assert [p.run for p in mixed] == ["MobileNet"] and mixed[0].requested == ["MobileNet", "VGG16"]


@needs_mobilenet
def test_transfer_model_trains_a_new_head_and_is_cached():
    rng = np.random.default_rng(0)
    x = rng.random((10, 32, 32, 3)).astype(np.float32)
    y = np.arange(10) % 2
    source = backbones.resolve_weights("MobileNet", download=False)
    common = dict(n_classes=2, source=source, data_id="random", epochs=2, batch_size=8, learning_rate=1e-3, dropout=0.0, seed=0)
    first = backbones.train_transfer_model("MobileNet", x, y, **common)
    second = backbones.train_transfer_model("MobileNet", x, y, **common)
    assert not first.from_cache and second.from_cache and len(first.history) == 2
    assert np.allclose(first.model.predict(x, verbose=0), second.model.predict(x, verbose=0), atol=1e-5)
    assert first.model.output_shape == (None, 2)
