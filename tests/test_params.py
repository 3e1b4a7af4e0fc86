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
    import importlib

    from helpers.params import RUN_PARAMETERS
    from helpers.studies import STUDY_IDS

    for study in STUDY_IDS:
        schema = importlib.import_module(f"helpers.studies.{study}.parameters").PARAMETERS
        shared = [name for name in RUN_PARAMETERS if name in schema]
        assert {"preset", "seed"} <= set(shared), study
        assert all(schema[name] is RUN_PARAMETERS[name] for name in shared), study


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_rejected_in_scalars_and_lists(value):
    with pytest.raises(ParameterError, match="finite"):
        Param(float).check("lr", value)
    with pytest.raises(ParameterError, match=r"epsilons\[1\].*finite"):
        Param(list, item=float).check("epsilons", [0.1, value])


def test_integers_beyond_what_the_libraries_take_are_rejected():
    from helpers.params import RUN_PARAMETERS

    with pytest.raises(ParameterError, match="seed"):
        RUN_PARAMETERS["seed"].check("seed", 2**32)
    RUN_PARAMETERS["seed"].check("seed", 2**32 - 1)
    with pytest.raises(ParameterError, match="<="):
        Param(int).check("size", 2**40)
