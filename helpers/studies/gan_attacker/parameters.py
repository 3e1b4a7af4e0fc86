"""Parameters of ``notebooks/04_gan_attacker.ipynb`` and the checks across them."""
from __future__ import annotations

from typing import Any, Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError

from .networks import ARCHITECTURES, OUTPUT_MODES
from .study import EXTRAS
from .training import MODES, OBJECTIVES, SCHEDULES

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=100, high=60_000, help="training digits (classifiers and attacker)"),
    "test_size": Param(int, low=100, high=10_000, help="test digits evaluated after every epoch"),
    "attacker_train_size": Param(int, low=32, high=60_000, help="training digits the attacker (and the alternating C1 and C2) trains on, a stratified subset of train_size"),
    "batch_size": Param(int, low=8, high=1024),
    "classifier_epochs": Param(int, low=1, high=100, help="clean training of C1 and C2 before the consecutive mode (study: 20)"),
    "pretrain_epochs": Param(int, low=1, high=100, help="clean pre-training of C1 and C2 before the alternating mode (study: 5)"),
    "attacker_epochs": Param(int, low=1, high=100, help="epochs of attacker training, consecutive mode (study: 20)"),
    "alternating_epochs": Param(int, low=1, high=100, help="epochs of alternating training (A, C1 and C2 in turns; study: 20)"),
    "classifier_learning_rate": Param(float, low=1e-6, high=1.0),
    "attacker_learning_rate": Param(float, low=1e-6, high=1.0, help="A's (peak) learning rate"),
    "attacker_schedule": Param(str, choices=SCHEDULES, help="A's learning rate: 'constant' or 'onecycle' (warm-up then anneal)"),
    "attacker_objective": Param(str, choices=OBJECTIVES, help="A's loss: 'cross_entropy' (the study's, -CE) or 'non_saturating' (-log(1 - p_y), our default)"),
    "attacker_beta1": Param(float, low=0.0, high=0.999, help="Adam's first beta for A (0.5: the usual GAN setting; 0.9: PyTorch's default)"),
    "attacker_width": Param(float, low=0.05, high=4.0, help="A's channels as a share of the study's 64, 128, 256, 512 (1.0: the study's A)"),
    "attacker_seeds": Param(int, low=1, high=20, help="attacker seeds at the comparison intensities (nearest 0.08 and the largest): A is trained once per seed against the same classifiers"),
    "evaluations_per_epoch": Param(int, low=1, high=20, help="test evaluations per attacker epoch (the points of Figures 3 to 6)"),
    "intensities": Param(list, item=float, low=0.001, high=1.0, help="attacker intensities t, the L-infinity bound of A's output"),
    "attacker_architecture": Param(str, choices=ARCHITECTURES, help="'study': the study's encoder-decoder; 'skip': the same with U-Net skip connections (our default)"),
    "output_mode": Param(str, choices=OUTPUT_MODES, help="'scaled': t * tanh; 'clamp': tanh clamped to [-t, t]"),
    "modes": Param(list, item=str, choices=MODES, help="training modes to run"),
    "alternating_intensities": Param(list, item=float, low=0.001, high=1.0, help="the intensities the alternating mode trains at (a subset of intensities)"),
    "attack_size": Param(int, low=10, high=10_000, help="test digits the ceilings, the learned attackers and the timing share"),
    "pgd_steps": Param(int, low=1, high=1000, help="white-box PGD steps; the run also runs twice (and, while that still moves it, four times) as many to show convergence"),
    "universal_epochs": Param(int, low=1, high=100, help="epochs of the universal perturbation over the attacker's training digits"),
    "robust_epochs": Param(int, low=1, high=100, help="epochs of PGD adversarial training of the robust C1 (on train_size digits)"),
    "robust_pgd_steps": Param(int, low=1, high=100, help="PGD steps per batch in adversarial training of the robust C1"),
    "extras": Param(list, item=str, choices=EXTRAS, min_items=0, help="sections beyond the study's experiments: 'architectures' (the other A beside this one), 'ensemble' (A against several classifiers), 'robust' (A against a PGD-trained C1)"),
    "ensemble_size": Param(int, low=2, high=8, help="classifiers the ensemble attacker is trained against (C1, C3, ...); C2 stays unseen"),
    "ensemble_intensity": Param(float, low=0.001, high=1.0, help="intensity of the ensemble attacker"),
}


def check_combinations(params: Mapping[str, Any]) -> None:
    """Checks that involve more than one parameter (``check_parameters`` checks each one alone)."""
    if params["attack_size"] > params["test_size"]:
        raise ParameterError(f"parameter 'attack_size' ({params['attack_size']}) must be <= test_size ({params['test_size']})")
    if params["attacker_train_size"] > params["train_size"]:
        raise ParameterError(f"parameter 'attacker_train_size' ({params['attacker_train_size']}) must be <= train_size ({params['train_size']})")
    if len(set(params["intensities"])) != len(params["intensities"]):
        raise ParameterError(f"parameter 'intensities' has duplicates: {params['intensities']!r}")
    if len(set(params["alternating_intensities"])) != len(params["alternating_intensities"]):
        raise ParameterError(f"parameter 'alternating_intensities' has duplicates: {params['alternating_intensities']!r}")
    if not set(params["alternating_intensities"]) <= set(params["intensities"]):
        raise ParameterError(f"parameter 'alternating_intensities' ({params['alternating_intensities']!r}) must be a subset of "
                             f"intensities ({params['intensities']!r}): each alternating run is compared with the consecutive one")
    if len(set(params["modes"])) != len(params["modes"]):
        raise ParameterError(f"parameter 'modes' has duplicates: {params['modes']!r}")
