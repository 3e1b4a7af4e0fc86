"""Parameters of ``notebooks/00_quickstart.ipynb`` and the checks across them."""
from __future__ import annotations

from typing import Any, Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=100, high=60_000, help="training digits"),
    "test_size": Param(int, low=100, high=10_000, help="test digits for clean accuracy"),
    "epochs": Param(int, low=1, high=100),
    "batch_size": Param(int, low=8, high=4096),
    "learning_rate": Param(float, low=1e-6, high=1.0),
    "attack_size": Param(int, low=10, high=10_000, help="test digits attacked at each budget"),
    "epsilons": Param(list, item=float, low=0.0, high=1.0, help="L-infinity budgets, pixels in [0, 1]"),
    "pgd_steps": Param(int, low=1, high=1000, help="PGD iterations (step size 2.5 * eps / pgd_steps)"),
    "pgd_random_start": Param(bool, help="PGD starts from a random point of the eps-ball (False: from the clean digit)"),
    "grid_epsilon": Param(float, low=0.0, high=1.0, help="budget of the example grid"),
    "squeeze_bit_depth": Param(int, low=1, high=8, help="feature squeezing: bits kept per pixel"),
}


def check_combinations(params: Mapping[str, Any]) -> None:
    """The attacked digits are drawn from the test digits, so there cannot be more of them."""
    if params["attack_size"] > params["test_size"]:
        raise ParameterError(
            f"attack_size ({params['attack_size']}) must not exceed test_size ({params['test_size']}): "
            "the attacked digits are the first test digits"
        )
