"""Parameters of ``notebooks/05_flickr_transfer_attacks.ipynb`` and the checks across them.

A Keras study: the device is TensorFlow's own choice, so the schema has ``preset`` and ``seed`` of the
shared run parameters but no ``device``.
"""
from __future__ import annotations

from typing import Any, Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError

from .backbones import BACKBONES
from .flickr_builder import FLICKR_LICENSES, KEY_ENV, SECRET_ENV

PARAMETERS = {
    "preset": RUN_PARAMETERS["preset"],
    "seed": RUN_PARAMETERS["seed"],
    "use_flickr": Param(bool, help=f"build the photo set with flickrapi when {KEY_ENV} and {SECRET_ENV} are set"),
    "flickr_classes": Param(list, item=str, min_items=2, help="Flickr search texts, one per class"),
    "flickr_dir": Param(str, help="where the Flickr-built set goes ('' = <data root>/flickr_photos)"),
    "flickr_licenses": Param(list, item=int, choices=tuple(FLICKR_LICENSES), help="Flickr license ids accepted"),
    "photo_folder": Param(str, help="without Flickr: 'imagewoof5', 'flickr5' or a class-per-folder path"),
    "photos_per_class": Param(int, low=2, high=100_000, help="photos per class (downloaded from Flickr or read)"),
    "image_size": Param(int, low=32, high=512, help="photos are centre-cropped and resized to this (study: 224)"),
    "test_fraction": Param(float, low=0.05, high=0.9, help="share of photos held out for testing (stratified)"),
    "backbones": Param(list, item=str, choices=tuple(BACKBONES), help="Keras ImageNet backbones (study: VGG16, ResNet50)"),
    "weights_path": Param(str, help="a Keras weights file, or a folder holding them by Keras' file names ('' = <data root>/weights)"),
    "download_weights": Param(bool, help="let keras.applications download ImageNet weights that are not on disk"),
    "offline_substitute": Param(str, choices=tuple(BACKBONES), optional=True,
                                help="backbone run in place of one whose weights cannot be had; None: stop with an error"),
    "epochs": Param(int, low=1, high=500, help="epochs of head training"),
    "batch_size": Param(int, low=1, high=1024),
    "learning_rate": Param(float, low=1e-6, high=1.0),
    "dropout": Param(float, low=0.0, high=0.9),
    "eval_size": Param(int, low=2, high=100_000, help="test photos altered and attacked (class-balanced)"),
    "epsilons": Param(list, item=float, low=0.0, high=1.0, help="L-infinity budgets of FGSM and PGD, pixels in [0, 1]"),
    "pgd_steps": Param(int, low=1, high=1000),
    "noise_percents": Param(list, item=float, low=0.0, high=100.0, help="random noise: % of pixels altered"),
    "blur_kernels": Param(list, item=int, low=1, high=101, help="blur kernel sizes k"),
    "pca_components": Param(list, item=int, low=1, high=512, help="PCA: principal components kept"),
    "jpeg_qualities": Param(list, item=int, low=1, high=95, help="JPEG qualities"),
    "defense_jpeg_quality": Param(int, low=1, high=95, help="JPEG quality applied to attacked images"),
    "defense_blur_kernel": Param(int, low=1, high=101, help="blur kernel applied to attacked images"),
    "export_epsilon": Param(float, low=0.0, high=1.0, help="attacked images at this budget are exported (nearest of epsilons)"),
    "grid_images": Param(int, low=1, high=12, help="photos per row of the example grids"),
}

_NO_DUPLICATES = ("backbones", "epsilons", "flickr_classes", "noise_percents", "blur_kernels", "pca_components", "jpeg_qualities")


def check_combinations(params: Mapping[str, Any]) -> None:
    """Checks that involve more than one value (``check_parameters`` checks each parameter alone)."""
    for name in _NO_DUPLICATES:
        if len(set(params[name])) != len(params[name]):
            raise ParameterError(f"parameter {name!r} has duplicates: {params[name]!r}")
    if any(e <= 0 for e in params["epsilons"]):
        raise ParameterError(f"parameter 'epsilons' must be > 0 (epsilon 0 is the clean images, always shown): {params['epsilons']!r}")
    if params["image_size"] < 32:
        raise ParameterError("parameter 'image_size' must be >= 32 (the backbones downsample 32x)")
