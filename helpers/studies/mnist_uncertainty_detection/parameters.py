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
    "mixed_size": Param(int, low=20, high=20_000, help="images per FGSM / BIM-A / BIM-B mixed set, half clean, half adversarial"),
    "jsma_size": Param(int, low=20, high=20_000, help="images in the JSMA mixed set (JSMA is slow on a CPU)"),
    "fgsm_eps": Param(float, low=0.0, high=1.0, help="FGSM L-infinity budget"),
    "bim_eps": Param(float, low=0.0, high=1.0, help="BIM L-infinity budget"),
    "bim_steps": Param(int, low=1, high=1000, help="BIM-B's iterations; BIM-A's most (it stops each digit once misclassified)"),
    "bim_step_size": Param(float, low=1e-4, high=1.0),
    "jsma_theta": Param(float, low=-1.0, high=1.0, help="JSMA change per selected pixel"),
    "jsma_gamma": Param(float, low=0.001, high=1.0, help="JSMA: largest fraction of pixels changed"),
    "mc_passes": Param(int, low=2, high=1000, help="stochastic forward passes per image (N)"),
    "crop_size": Param(int, low=14, high=27, help="side of the five crops, resized back to 28"),
    "repeats": Param(int, low=1, high=100, help="dropout-mask seeds and fold splits per mixed set; the intervals are over these"),
    "adaptive_size": Param(int, low=20, high=20_000, help="images in the adaptive-attack mixed set"),
    "adaptive_eps": Param(float, low=0.0, high=1.0, help="adaptive attack L-infinity budget"),
    "adaptive_steps": Param(int, low=1, high=1000),
    "adaptive_step_size": Param(float, low=1e-4, high=1.0),
    "adaptive_eot": Param(int, low=1, high=200, help="dropout masks averaged per adaptive step"),
    "adaptive_kappa": Param(float, low=0.0, high=1e3, help="logit margin the attacker asks of every pass (and crop)"),
    "adaptive_restarts": Param(int, low=1, high=20, help="random restarts; per digit the one with the highest objective is kept"),
    "adaptive_uncertainty_weight": Param(float, low=0.0, high=1e4, help="weight of an explicit uncertainty penalty"),
    "adaptive_crop_weight": Param(float, low=0.0, high=1e4, help="weight of the crop-margin term"),
    "check_size": Param(int, low=10, high=10_000, help="test digits the readable and the fast MC dropout and crop voting are compared on"),
    "attack_check_size": Param(int, low=2, high=10_000, help="digits the readable and the fast adaptive attack are compared on"),
    "convergence_size": Param(int, low=1, high=20_000, help="adaptive digits the convergence curve is measured on"),
    "convergence_eot": Param(list, item=int, low=1, high=200, help="dropout masks per step tried at the default step count"),
    "robust_epochs": Param(int, low=1, high=200, help="epochs of PGD adversarial training (from the natural LeNet)"),
    "robust_batch_size": Param(int, low=8, high=4096),
    "robust_steps": Param(int, low=1, high=100, help="PGD steps per training batch"),
    "robust_step_size": Param(float, low=1e-4, high=1.0),
    "robust_eval_size": Param(int, low=10, high=10_000, help="test digits both LeNets are attacked on"),
    "robust_eval_steps": Param(int, low=1, high=1000, help="PGD steps of the evaluation attack"),
    "robust_eval_restarts": Param(int, low=1, high=20, help="random starts of the evaluation attack"),
}

MIXED_SET_SIZES = ("mixed_size", "jsma_size", "adaptive_size")


def check_combinations(params: Mapping[str, Any]) -> None:
    """The clean half of every mixed set is drawn from the test digits, so it cannot be larger than them;
    the convergence curve runs on digits of the adaptive set, and the robust LeNet is attacked on test digits.

    (Only correctly classified test digits are attacked; when fewer of those than asked for exist, the sets
    shrink to what there is and the notebook prints the sizes it used.)
    """
    for name in MIXED_SET_SIZES:
        if params[name] // 2 > params["test_size"]:
            raise ParameterError(
                f"{name} ({params[name]}) needs {params[name] // 2} clean test digits but test_size is "
                f"{params['test_size']}: each mixed set is half clean test digits, half their adversarial copies"
            )
    if params["convergence_size"] > params["adaptive_size"] // 2:
        raise ParameterError(
            f"convergence_size ({params['convergence_size']}) is measured on adversarial digits of the adaptive set, "
            f"which holds {params['adaptive_size'] // 2}: lower it or raise adaptive_size"
        )
    if params["attack_check_size"] > params["adaptive_size"] // 2:
        raise ParameterError(
            f"attack_check_size ({params['attack_check_size']}) digits of the adaptive set are compared on, which holds "
            f"{params['adaptive_size'] // 2}: lower it or raise adaptive_size"
        )
    if params["check_size"] > params["test_size"]:
        raise ParameterError(
            f"check_size ({params['check_size']}) test digits are compared on, but test_size is {params['test_size']}"
        )
    if params["robust_eval_size"] > params["test_size"]:
        raise ParameterError(
            f"robust_eval_size ({params['robust_eval_size']}) test digits are attacked, but test_size is {params['test_size']}"
        )
