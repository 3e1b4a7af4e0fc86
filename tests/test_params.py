import types

import pytest

from helpers.params import Param, ParameterError, check_parameters

SCHEMA = {
    "epochs": Param(int, low=1, high=10),
    "lr": Param(float, low=0.0),
    "mode": Param(str, choices=("a", "b")),
    "epsilons": Param(list, item=float, low=0.0, high=1.0),
    "limit": Param(int, optional=True),
}


def namespace(**overrides):
    values = {"epochs": 2, "lr": 0.01, "mode": "a", "epsilons": [0.1, 0.2], "limit": None}
    values.update(overrides)
    # What a kernel namespace also holds: modules, functions, IPython's names, private names.
    return {**values, "np": types, "print_it": print, "In": [], "Out": {}, "_i1": "x", "get_ipython": None}


def test_valid_parameters_are_returned_in_schema_order():
    params = check_parameters(namespace(lr=1), SCHEMA)  # an int is fine where a float is expected
    assert list(params) == list(SCHEMA) and params["lr"] == 1


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epoch": 3}, "unknown parameter"),
        ({"epochs": 0}, "must be >= 1"),
        ({"epochs": 2.5}, "must be int"),
        ({"epochs": True}, "must be int"),
        ({"mode": "c"}, "must be one of"),
        ({"epsilons": 0.1}, "must be a list"),
        ({"epsilons": []}, "at least 1"),
        ({"epsilons": [0.1, 2.0]}, r"epsilons\[1\]"),
        ({"lr": None}, "must not be None"),
    ],
)
def test_bad_parameters_stop_with_one_clear_message(overrides, message):
    with pytest.raises(ParameterError, match=message):
        check_parameters(namespace(**overrides), SCHEMA)


def test_unknown_name_lists_valid_ones_and_missing_is_reported():
    with pytest.raises(ParameterError, match="valid parameters: epochs, lr, mode, epsilons, limit"):
        check_parameters(namespace(typo=1), SCHEMA)
    values = namespace()
    del values["lr"]
    with pytest.raises(ParameterError, match="missing parameter"):
        check_parameters(values, SCHEMA)


def test_every_study_declares_the_run_parameters():
    from helpers.params import RUN_PARAMETERS

    for module in ("quickstart", "histology_defense.study", "cifar_robust.study", "mnist_detection.study", "gan_attacker.study"):
        schema = __import__(f"helpers.{module}", fromlist=["PARAMETERS"]).PARAMETERS
        assert all(schema[name] is spec for name, spec in RUN_PARAMETERS.items()), module
