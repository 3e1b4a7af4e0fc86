"""Parameters of ``notebooks/01_histology_defense.ipynb`` and the checks across them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from helpers.data.histology import GROUPS
from helpers.params import RUN_PARAMETERS, Param, ParameterError

from .preprocessors import PREPROCESSORS

ATTACK_CHOICES = ("fgsm", "pgd", "deepfool")
PREPROCESSOR_CHOICES = tuple(PREPROCESSORS)


@dataclass(frozen=True)
class MappingParam(Param):
    """A ``{tissue class folder: group}`` dict whose groups are among ``GROUPS`` (an empty dict: built-in tables)."""

    def check(self, name, value):
        if not isinstance(value, dict):
            raise ParameterError(f"parameter {name!r} must be a dict {{folder: group}}, got {type(value).__name__} {value!r}{self._hint()}")
        for folder, group in value.items():
            if not isinstance(folder, str) or group not in GROUPS:
                raise ParameterError(f"parameter {name!r}: {folder!r} -> {group!r}; folders are strings and groups one of {', '.join(GROUPS)}")


PARAMETERS = {
    **RUN_PARAMETERS,
    # data and model
    "images_dir": Param(str, help="kather2016, kather2019, kather2019-100k, or a path to a class-per-folder tree of tiles"),
    "mapping": MappingParam(dict, help="{folder: group} overriding the built-in class-to-group tables; {} for none"),
    "max_per_class": Param(int, low=1, high=100_000, optional=True, help="tiles per class folder, None for all"),
    "min_tiles": Param(int, low=1, high=10_000_000, help="fewer tiles than this stop the run"),
    "image_size": Param(int, low=16, high=256, help="tiles are resized to this square size"),
    "test_fraction": Param(float, low=0.1, high=0.9, help="share of tiles held out from training the CNN"),
    "model_path": Param(str, optional=True, help="a TorchScript file or a HistologyCNN state_dict; None trains the CNN"),
    "width": Param(int, low=4, high=256, help="filters of the CNN's first conv layer (then twice and four times as many)"),
    "augment": Param(bool, help="flip and turn the training tiles at random (tissue has no orientation)"),
    "epochs": Param(int, low=1, high=200),
    "batch_size": Param(int, low=8, high=4096),
    "learning_rate": Param(float, low=1e-6, high=1.0, help="peak of the one-cycle learning rate (Adam)"),
    # the adversarial set
    "clean_size": Param(int, low=4, high=1_000_000, optional=True, help="correctly classified held-out tiles used, None for all"),
    "attacks": Param(list, item=str, choices=ATTACK_CHOICES, help="attack mix"),
    "fgsm_epsilons": Param(list, item=float, low=0.0, high=1.0, help="FGSM L-infinity budgets"),
    "pgd_epsilons": Param(list, item=float, low=0.0, high=1.0, help="PGD L-infinity budgets"),
    "pgd_steps": Param(int, low=1, high=1000),
    "deepfool_max_iter": Param(int, low=1, high=1000),
    "deepfool_overshoot": Param(float, low=0.0, high=1.0, help="DeepFool's overshoot epsilon"),
    # pre-processors and the search
    "preprocessors": Param(list, item=str, choices=PREPROCESSOR_CHOICES, help="pre-processors searched"),
    "total_variation_grid": Param(list, item=float, low=0.0, high=100.0, help="coarse grid of TotalVarMin's lamb"),
    "spatial_smoothing_grid": Param(list, item=int, low=1, high=32, help="coarse grid of the median window size"),
    "jpeg_grid": Param(list, item=int, low=1, high=95, help="coarse grid of the JPEG quality"),
    "feature_squeezing_grid": Param(list, item=int, low=1, high=8, help="coarse grid of the bit depth"),
    "tvm_prob": Param(float, low=0.01, high=1.0, help="TotalVarMin: share of pixels kept"),
    "tvm_max_iter": Param(int, low=1, high=100, help="TotalVarMin: optimiser iterations"),
    "tvm_size": Param(int, low=4, high=1_000_000, optional=True, help="images TotalVarMin is scored on per stage (an optimisation per image); None: same as the others"),
    "coarse_size": Param(int, low=4, high=1_000_000, help="images in the coarse stage's sample"),
    "fine_size": Param(int, low=4, high=1_000_000, optional=True, help="images in the fine stage; None: the whole set"),
    "fine_points": Param(int, low=2, high=100, help="at most this many values in the fine stage"),
    # post-processors
    "table_preprocessors": Param(list, item=str, choices=PREPROCESSOR_CHOICES, help="pre-processors combined with the post-processors (study: spatial_smoothing, jpeg)"),
    "gaussian_noise_scale": Param(float, low=1e-6, high=10.0),
    "high_confidence_cutoff": Param(float, low=1e-6, high=1.0),
    "reverse_sigmoid_beta": Param(float, low=1e-6, high=100.0),
    "reverse_sigmoid_gamma": Param(float, low=1e-6, high=100.0),
    "rounded_decimals": Param(int, low=0, high=10),
    "lightgbm_learning_rates": Param(list, item=float, low=1e-4, high=1.0),
    "lightgbm_num_leaves": Param(list, item=int, low=2, high=4096),
    "lightgbm_rounds": Param(list, item=int, low=1, high=10_000),
    "lightgbm_min_child_samples": Param(int, low=1, high=10_000),
    "holdout_fraction": Param(float, low=0.1, high=0.9, help="share of source tiles LightGBM never sees (honest scores)"),
    "validation_split": Param(float, low=0.05, high=0.9, help="share of the remaining tiles for LightGBM's validation (study: 0.2)"),
    "split_ratios": Param(list, item=float, low=0.05, high=0.9, help="validation ratios of the split-ratio study"),
    "split_seeds": Param(int, low=1, high=50, help="seeds per ratio in the split-ratio study"),
    # the adaptive attack
    "adaptive_eps": Param(float, low=0.0, high=1.0, help="budget of plain and adaptive PGD"),
    "adaptive_steps": Param(int, low=1, high=1000),
    "adaptive_size": Param(int, low=2, high=1_000_000, optional=True, help="correct held-out tiles LightGBM never saw that the adaptive attacks run on, None for all"),
    "agreement_size": Param(int, low=1, high=100_000, help="images on which each readable method is run beside the implementation the study uses"),
    # the end-to-end attacker: a differentiable surrogate of LightGBM
    "surrogate_samples": Param(int, low=100, high=10_000_000, help="random / jittered softmax vectors added to the surrogate's training inputs"),
    "surrogate_hidden": Param(int, low=4, high=4096, help="width of the surrogate's two hidden layers"),
    "surrogate_steps": Param(int, low=10, high=1_000_000, help="Adam steps (mini-batches of 256) training the surrogate"),
    "surrogate_rounds": Param(int, low=1, high=20, help="attack rounds, the surrogate refit on LightGBM's answers at the last round's examples"),
    # HopSkipJump on the final defense (decision-based, gradient-free)
    "hsj_size": Param(int, low=1, high=1_000_000, help="adaptive tiles HopSkipJump attacks (it is slow: a small subset)"),
    "hsj_max_iter": Param(int, low=1, high=1000, help="HopSkipJump iterations per tile"),
    "hsj_max_eval": Param(int, low=1, high=100_000, help="HopSkipJump's cap on queries per gradient estimate"),
    "hsj_init_eval": Param(int, low=1, high=100_000, help="HopSkipJump's queries for the first gradient estimate"),
    "hsj_init_size": Param(int, low=1, high=100_000, help="random images tried for a misclassified starting point"),
    # the JPEG-history check
    "jpeg_check_quality": Param(int, low=1, high=95, optional=True, help="JPEG quality of the per-class clean check; None: the JPEG search's best"),
}


def check_combinations(params: Mapping[str, Any]) -> None:
    """Checks across parameters that ``Param`` cannot express; raises ``ParameterError``."""
    missing = [p for p in params["table_preprocessors"] if p not in params["preprocessors"]]
    if missing:
        raise ParameterError(f"table_preprocessors {missing} must also be in preprocessors {params['preprocessors']}")
    if params["hsj_init_eval"] > params["hsj_max_eval"]:
        raise ParameterError(f"hsj_init_eval={params['hsj_init_eval']} must not exceed hsj_max_eval={params['hsj_max_eval']}")
    for name in params["attacks"]:
        if name in ("fgsm", "pgd") and not params[f"{name}_epsilons"]:
            raise ParameterError(f"attack {name!r} needs at least one budget in {name}_epsilons")
    check_tiles_per_class(params["max_per_class"], params["test_fraction"])


#: Tiles of each class folder needed on either side of the CNN's train / held-out split.
MIN_TILES_PER_SIDE = 2


def smallest_max_per_class(test_fraction: float) -> int:
    """The smallest ``max_per_class`` that leaves ``MIN_TILES_PER_SIDE`` tiles of each class folder on both sides."""
    return math.ceil(MIN_TILES_PER_SIDE / min(test_fraction, 1 - test_fraction) - 1e-9)


def check_tiles_per_class(max_per_class: int | None, test_fraction: float) -> None:
    """Refuse a ``max_per_class`` that leaves fewer than two tiles of a class folder on either side of the split.

    Cancer and normal are one class folder each, and the post-processor stage splits the correctly classified
    held-out tiles by tile into LightGBM's fit, validation and held-out parts: with one held-out tile per folder
    those parts cannot be filled (the stage would fail minutes later, so the first cell says so instead).
    """
    if max_per_class is None:
        return
    smallest = smallest_max_per_class(test_fraction)
    if max_per_class < smallest:
        raise ParameterError(
            f"max_per_class={max_per_class} leaves fewer than {MIN_TILES_PER_SIDE} tiles per class folder on one side of the "
            f"test_fraction={test_fraction:g} split, too few for the post-processor stage's fit / validation / held-out parts: "
            f"use max_per_class >= {smallest} (or None for all tiles)")
