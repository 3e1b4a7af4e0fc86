"""Keras ImageNet backbones for transfer learning: weights that are really pretrained, a frozen base, a new head.

``BACKBONES`` lists the architectures (VGG16 and ResNet50 as in the study, and MobileNet alpha 0.75, the
one whose ImageNet weights the offline data root holds). ``resolve_weights`` finds a backbone's weights:

1. ``weights_path``: a Keras weights file, or a folder searched (recursively) for the backbone's
   files by Keras' own names, with or without the top; by default ``<data root>/weights``
   (``../shared/data/weights/mobilenet_v1_0.75_224/`` offline). A file whose name is not one of
   Keras' names is taken for whichever backbone it is given for, after the layer check below;
2. Keras' download cache (``$KERAS_HOME/models`` or ``~/.keras/models``);
3. a download through ``keras.applications`` (``weights="imagenet"``) when ``download`` is allowed.

Nothing is ever left with random weights: when none of these works, ``WeightsUnavailableError`` names the
backbone, the files and folders looked at and how to get the weights. A local file is loaded by layer
name, after checking that it holds every weighted layer of the base, so a file with or without the top
works at any input size (convolution weights do not depend on it).

``build_classifier`` assembles ``pixels in [0, 1] -> the backbone's own preprocessing -> frozen base ->
global average pooling -> dropout -> dense logits``. The head is trained on features computed once
(the base is frozen, so this is the same model, much faster), and the whole model is what ART attacks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from helpers.cache import cached_artifact
from helpers.frameworks import import_tensorflow
from helpers.paths import data_root


@dataclass(frozen=True)
class BackboneSpec:
    """One keras.applications architecture and the names of its ImageNet weight files."""

    name: str
    title: str
    module: str  # keras.applications sub-module with preprocess_input
    constructor: str
    files: tuple[str, ...]  # Keras' file names: no-top first, then with top
    origin: str  # where keras.applications downloads the no-top file from
    options: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        return self.title


_KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications"
BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "VGG16", "VGG16", "vgg16", "VGG16",
            ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
            f"{_KERAS_WEIGHTS}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        BackboneSpec(
            "ResNet50", "ResNet50", "resnet50", "ResNet50",
            ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
            f"{_KERAS_WEIGHTS}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        BackboneSpec(
            "MobileNet", "MobileNet (alpha 0.75)", "mobilenet", "MobileNet",
            ("mobilenet_7_5_224_tf_no_top.h5", "mobilenet_7_5_224_tf.h5"),
            f"{_KERAS_WEIGHTS}/mobilenet/mobilenet_7_5_224_tf_no_top.h5",
            options=(("alpha", 0.75),),
        ),
    )
}


class WeightsUnavailableError(FileNotFoundError):
    """A backbone's ImageNet weights are neither on disk nor downloadable; the message says how to get them."""

    def __init__(self, backbone: str, message: str):
        self.backbone = backbone
        super().__init__(message)

    def __str__(self) -> str:
        return self.args[0]


def spec_of(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    return BACKBONES[name]


def keras_cache_dir() -> Path:
    """Where ``keras.utils.get_file`` keeps downloaded application weights."""
    home = os.environ.get("KERAS_HOME", "").strip()
    return (Path(home).expanduser() if home else Path("~/.keras").expanduser()) / "models"


def default_weights_dir() -> Path:
    return data_root() / "weights"


@dataclass(frozen=True)
class WeightsSource:
    """Where a backbone's weights come from: a local file, or ``"imagenet"`` through keras.applications."""

    backbone: str
    path: Path | None  # None: keras.applications' own "imagenet" download / cache
    origin: str  # "local file", "Keras cache" or "download"

    def describe(self) -> str:
        return f"{self.backbone}: ImageNet weights from {self.origin}" + (f" ({self.path})" if self.path else "")


def _find_file(folder: Path, names: Sequence[str]) -> Path | None:
    if not folder.is_dir():
        return None
    for name in names:  # the no-top file first: it is smaller and exactly what the base needs
        direct = folder / name
        if direct.is_file():
            return direct
        found = sorted(folder.rglob(name))
        if found:
            return found[0]
    return None


def _network_reaches(url: str, timeout: float = 5.0) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except Exception:  # DNS failure, refused, timeout, HTTP error: no usable download
        return False


def resolve_weights(name: str, *, weights_path: Path | str | None = None, download: bool = True, any_file: bool = False) -> WeightsSource:
    """Find ``name``'s ImageNet weights (local file, Keras cache, download) or raise ``WeightsUnavailableError``.

    ``weights_path`` is a folder searched for Keras' file names, or one file: used when its name is one
    of Keras' names for this backbone, or, with ``any_file`` (a single backbone asked for), whatever its name.
    """
    spec = spec_of(name)
    folder = Path(weights_path).expanduser() if weights_path else default_weights_dir()
    if folder.is_file():
        if folder.name in spec.files or any_file:
            return WeightsSource(name, folder, "local file")
        local = None
    else:
        local = _find_file(folder, spec.files)
    if local is not None:
        return WeightsSource(name, local, "local file")
    cached = _find_file(keras_cache_dir(), spec.files[:1])
    if cached is not None:
        return WeightsSource(name, cached, "Keras cache")
    if download and _network_reaches(spec.origin):
        return WeightsSource(name, None, "download")
    raise WeightsUnavailableError(
        name,
        f"ImageNet weights for backbone {name} are not available: none of {', '.join(spec.files)} is under "
        f"{folder} (parameter weights_path) or in the Keras cache {keras_cache_dir()}, and "
        + ("the download failed (no network?)" if download else "downloading is switched off (download_weights=False)")
        + f". Get them with a network connection (keras.applications.{spec.constructor}(weights='imagenet') "
        f"downloads {spec.origin}), or copy that file into {folder} or the Keras cache, then rerun. "
        "Random weights are never used instead.",
    )


def _weighted_layer_names(model) -> list[str]:
    return [layer.name for layer in model.layers if layer.weights]


def _layers_in_file(path: Path) -> set[str]:
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        names = group.attrs.get("layer_names")
        if names is None:
            raise WeightsUnavailableError("?", f"{path} is not a Keras HDF5 weights file (no layer_names attribute)")
        return {n.decode() if isinstance(n, bytes) else str(n) for n in names}


def load_base(name: str, source: WeightsSource, image_size: int):
    """The backbone without its top, at ``image_size``, with ImageNet weights from ``source``; frozen."""
    import_tensorflow()
    import keras

    spec = spec_of(name)
    constructor = getattr(keras.applications, spec.constructor)
    options = dict(spec.options)
    shape = (image_size, image_size, 3)
    if source.path is None:
        try:
            base = constructor(include_top=False, weights="imagenet", input_shape=shape, **options)
        except Exception as error:  # a failed or interrupted download: say which backbone and what to do
            raise WeightsUnavailableError(
                name, f"downloading the ImageNet weights of {name} ({spec.origin}) failed: {error}. Retry, or put "
                f"{spec.files[0]} into the folder given by weights_path or into {keras_cache_dir()}.",
            ) from error
    else:
        base = constructor(include_top=False, weights=None, input_shape=shape, **options)
        try:
            in_file = _layers_in_file(source.path)
        except OSError as error:
            raise WeightsUnavailableError(name, f"cannot read the {name} weights file {source.path}: {error}") from error
        missing = [layer for layer in _weighted_layer_names(base) if layer not in in_file]
        if missing:
            raise WeightsUnavailableError(
                name,
                f"{source.path} does not hold {name}'s layers ({len(missing)} missing, e.g. {missing[:3]}): "
                f"is it the right file? Expected one of {', '.join(spec.files)}.",
            )
        base.load_weights(source.path, by_name=True)
    base.trainable = False
    return base


def preprocessing_layer(name: str):
    """A layer mapping pixels in [0, 1] to what the backbone was trained on (its ``preprocess_input``)."""
    import_tensorflow()
    import keras

    preprocess = getattr(keras.applications, spec_of(name).module).preprocess_input
    return keras.layers.Lambda(lambda x: preprocess(x * 255.0), name=f"{name.lower()}_preprocess")


@dataclass
class TransferModel:
    """A trained transfer-learning classifier and what went into it."""

    backbone: str
    model: object  # keras.Model: pixels in [0, 1] (N, S, S, 3) -> logits
    weights: WeightsSource
    history: list[dict]
    from_cache: bool
    feature_seconds: float = 0.0

    @property
    def title(self) -> str:
        return spec_of(self.backbone).title

    def predict(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Predicted class indices for pixels in [0, 1]."""
        return np.argmax(self.model.predict(np.asarray(x, dtype=np.float32), batch_size=batch_size, verbose=0), axis=1)


def build_classifier(base, name: str, n_classes: int, *, dropout: float):
    """(feature extractor, head, full model): preprocessing -> frozen base -> pooling; dropout -> dense logits."""
    import_tensorflow()
    import keras

    size = base.input_shape[1]
    pixels = keras.Input((size, size, 3), name="pixels")
    features = keras.layers.GlobalAveragePooling2D(name="pool")(base(preprocessing_layer(name)(pixels), training=False))
    extractor = keras.Model(pixels, features, name=f"{name}_features")
    head = keras.Sequential(
        [keras.Input((features.shape[-1],)), keras.layers.Dropout(dropout), keras.layers.Dense(n_classes, name="logits")],
        name=f"{name}_head",
    )
    model = keras.Model(pixels, head(extractor(pixels)), name=f"{name}_transfer")
    return extractor, head, model


def train_transfer_model(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    n_classes: int,
    source: WeightsSource,
    data_id: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    dropout: float,
    seed: int,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> TransferModel:
    """Frozen ``name`` base with a new dense head trained on ``x_train`` (pixels in [0, 1]).

    The head's weights are cached under a key of everything that determines them (backbone, weights
    file, data, hyperparameters, seed), so a rerun with the same settings skips feature extraction.
    """
    import time

    import_tensorflow()
    import keras

    image_size = int(x_train.shape[1])
    base = load_base(name, source, image_size)
    extractor, head, model = build_classifier(base, name, n_classes, dropout=dropout)
    started = time.perf_counter()

    def build(temporary: Path) -> dict:
        keras.utils.set_random_seed(seed)
        features = extractor.predict(x_train, batch_size=batch_size, verbose=0)
        val = None
        if validation is not None:
            val = (extractor.predict(validation[0], batch_size=batch_size, verbose=0), validation[1])
        head.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        fit = head.fit(features, y_train, epochs=epochs, batch_size=batch_size, validation_data=val, verbose=0, shuffle=True)
        history = [
            {"epoch": epoch + 1, **{key: float(values[epoch]) for key, values in fit.history.items()}}
            for epoch in range(epochs)
        ]
        head.save_weights(temporary)
        return {"history": history}

    weights_id = {"origin": source.origin, "file": source.path.name if source.path else "imagenet",
                  "bytes": source.path.stat().st_size if source.path else None}
    parts = {
        "backbone": name, "weights": weights_id, "data": data_id, "image_size": image_size, "n_train": len(x_train),
        "n_classes": n_classes, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
        "dropout": dropout, "seed": seed,
    }
    entry = cached_artifact(
        "models", f"flickr-transfer-{name.lower()}", parts, build, suffix=".weights.h5",
        frameworks=("tensorflow",), load=head.load_weights,
    )
    head.load_weights(entry.path)  # also after training: the same bytes the cache holds, so reruns agree
    return TransferModel(name, model, source, entry.meta.get("history", []), entry.from_cache,
                         feature_seconds=time.perf_counter() - started)
