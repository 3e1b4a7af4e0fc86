"""Parameters of ``notebooks/03_mnist_uncertainty_detection.ipynb`` and the checks across them."""
from __future__ import annotations

from typing import Any, Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=500, high=60_000, help="training digits"),
    "test_size": Param(int, low=100, high=10_000, help="test digits the mixed sets are drawn from"),
    "epochs": Param(int, low=1, high=100),
    "batch_size": Param(int, low=8, high=4096),
    "learning_rate": Param(float, low=1e-6, high=1.0),
    "dropout": Param(float, low=0.05, high=0.9, help="dropout rate of the dense head (study: 0.5)"),
    "mixed_size": Param(int, low=20, high=20_000, help="images per FGSM / BIM mixed set, half clean, half adversarial"),
    "jsma_size": Param(int, low=20, high=20_000, help="images in the JSMA mixed set (JSMA is slow on a CPU)"),
    "fgsm_eps": Param(float, low=0.0, high=1.0, help="FGSM L-infinity budget"),
    "bim_eps": Param(float, low=0.0, high=1.0, help="BIM L-infinity budget"),
    "bim_steps": Param(int, low=1, high=1000),
    "bim_step_size": Param(float, low=1e-4, high=1.0),
    "jsma_theta": Param(float, low=-1.0, high=1.0, help="JSMA change per selected pixel"),
    "jsma_gamma": Param(float, low=0.001, high=1.0, help="JSMA: largest fraction of pixels changed"),
    "mc_passes": Param(int, low=2, high=1000, help="stochastic forward passes per image (N)"),
    "crop_size": Param(int, low=14, high=27, help="side of the five crops, resized back to 28"),
    "adaptive_size": Param(int, low=20, high=20_000, help="images in the adaptive-attack mixed set"),
    "adaptive_eps": Param(float, low=0.0, high=1.0, help="adaptive attack L-infinity budget"),
    "adaptive_steps": Param(int, low=1, high=1000),
    "adaptive_step_size": Param(float, low=1e-4, high=1.0),
    "adaptive_eot": Param(int, low=1, high=200, help="dropout masks averaged per adaptive step"),
    "adaptive_uncertainty_weight": Param(float, low=0.0, high=1e4, help="weight of the uncertainty penalty"),
    "adaptive_crop_weight": Param(float, low=0.0, high=1e4, help="weight of the crop-agreement term"),
}

MIXED_SET_SIZES = ("mixed_size", "jsma_size", "adaptive_size")


def check_combinations(params: Mapping[str, Any]) -> None:
    """The clean half of every mixed set is drawn from the test digits, so it cannot be larger than them.

    (Only correctly classified test digits are attacked; when fewer of those than asked for exist, the sets
    shrink to what there is and the notebook prints the sizes it used.)
    """
    for name in MIXED_SET_SIZES:
        if params[name] // 2 > params["test_size"]:
            raise ParameterError(
                f"{name} ({params[name]}) needs {params[name] // 2} clean test digits but test_size is "
                f"{params['test_size']}: each mixed set is half clean test digits, half their adversarial copies"
            )
