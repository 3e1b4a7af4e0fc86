"""Parameters of ``notebooks/05_flickr_transfer_attacks.ipynb`` and the checks across them.

A Keras study with the shared run parameters ``preset``, ``seed`` and ``device``: ``"auto"`` runs Keras on
the GPU when TensorFlow sees one, ``"cpu"`` keeps it on the CPU, ``"cuda"`` (or ``"mps"``, TensorFlow's
Metal plug-in) stops the run when there is no GPU (``study.keras_device``).
"""
from __future__ import annotations

from typing import Any, Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError

from .backbones import BACKBONES
from .flickr_builder import FLICKR_LICENSES, KEY_ENV, SECRET_ENV

PARAMETERS = {
    "preset": RUN_PARAMETERS["preset"],
    "seed": RUN_PARAMETERS["seed"],
    "device": RUN_PARAMETERS["device"],
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
    "defense_pca_components": Param(int, low=1, high=512, help="PCA components kept when PCA is the defense (section 6)"),
    "defense_noise_percent": Param(float, low=0.0, high=100.0, help="% of pixels noised when noise is the defense (section 6)"),
    "adaptive_epsilons": Param(list, item=float, low=0.0, high=1.0, min_items=1,
                               help="budgets (of epsilons) of PGD through each defense, beside the plain PGD images"),
    "adaptive_size": Param(int, low=1, high=100_000, help="evaluation photos attacked through each defense (the first of eval_size)"),
    "eot_samples": Param(int, low=1, high=1000, help="noise draws averaged per PGD step through the noise defense (EOT)"),
    "export_epsilon": Param(float, low=0.0, high=1.0, help="attacked images at this budget are exported (nearest of epsilons)"),
    "grid_images": Param(int, low=1, high=12, help="photos per row of the example grids"),
}

_NO_DUPLICATES = ("backbones", "epsilons", "adaptive_epsilons", "flickr_classes", "noise_percents", "blur_kernels", "pca_components", "jpeg_qualities")


def check_combinations(params: Mapping[str, Any]) -> None:
    """Checks that involve more than one value (``check_parameters`` checks each parameter alone)."""
    for name in _NO_DUPLICATES:
        if len(set(params[name])) != len(params[name]):
            raise ParameterError(f"parameter {name!r} has duplicates: {params[name]!r}")
    if any(e <= 0 for e in params["epsilons"]):
        raise ParameterError(f"parameter 'epsilons' must be > 0 (epsilon 0 is the clean images, always shown): {params['epsilons']!r}")
    outside = [e for e in params["adaptive_epsilons"] if not any(abs(e - k) <= 1e-12 for k in params["epsilons"])]
    if outside:
        raise ParameterError(f"parameter 'adaptive_epsilons' must be budgets of 'epsilons' (their plain PGD images are reused): "
                             f"{outside!r} not in {params['epsilons']!r}")
    if params["adaptive_size"] > params["eval_size"]:
        raise ParameterError(f"parameter 'adaptive_size' ({params['adaptive_size']}) must be <= eval_size ({params['eval_size']})")
    if params["defense_blur_kernel"] > params["image_size"]:
        raise ParameterError(f"parameter 'defense_blur_kernel' ({params['defense_blur_kernel']}) must be <= image_size")
    if params["image_size"] < 32:
        raise ParameterError("parameter 'image_size' must be >= 32 (the backbones downsample 32x)")
