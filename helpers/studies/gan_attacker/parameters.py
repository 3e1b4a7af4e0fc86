"""Parameters of ``notebooks/04_gan_attacker.ipynb`` and the checks across them."""
from __future__ import annotations

from typing import Any, Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError

from .networks import OUTPUT_MODES
from .training import MODES

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=100, high=60_000, help="training digits (classifiers and attacker)"),
    "test_size": Param(int, low=100, high=10_000, help="test digits evaluated after every epoch"),
    "attacker_train_size": Param(int, low=32, high=60_000, help="training digits the attacker (and the alternating C1 and C2) trains on, a stratified subset of train_size"),
    "batch_size": Param(int, low=8, high=1024),
    "classifier_epochs": Param(int, low=1, high=100, help="clean training of C1 and C2 before the consecutive mode (study: 20)"),
    "pretrain_epochs": Param(int, low=1, high=100, help="clean pre-training of C1 and C2 before the alternating mode (study: 5)"),
    "attacker_epochs": Param(int, low=1, high=100, help="epochs of attacker (and alternating) training (study: 20)"),
    "classifier_learning_rate": Param(float, low=1e-6, high=1.0),
    "attacker_learning_rate": Param(float, low=1e-6, high=1.0),
    "intensities": Param(list, item=float, low=0.001, high=1.0, help="attacker intensities t, the L-infinity bound of A's output"),
    "output_mode": Param(str, choices=OUTPUT_MODES, help="'scaled': t * tanh; 'clamp': tanh clamped to [-t, t]"),
    "modes": Param(list, item=str, choices=MODES, help="training modes to run"),
    "attack_size": Param(int, low=10, high=10_000, help="test digits for the PGD comparison"),
    "pgd_steps": Param(int, low=1, high=1000),
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
    if len(set(params["modes"])) != len(params["modes"]):
        raise ParameterError(f"parameter 'modes' has duplicates: {params['modes']!r}")
