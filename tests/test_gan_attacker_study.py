"""Study 4's parameters and presets: every preset is valid, cross-parameter checks stop bad combinations,
and the study's reference values are labelled and only where the study states them."""
from pathlib import Path

import pytest
import yaml

from helpers.studies.gan_attacker import study
from helpers.params import ParameterError
from helpers.runner.catalog import find_study

PRESETS = Path(__file__).resolve().parents[1] / "notebooks" / "presets" / "gan_attacker"


def _parameters_cell():
    import nbformat

    nb = nbformat.read(find_study("gan_attacker").path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    namespace = {}
    exec(cell.source, namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


@pytest.mark.parametrize("preset", ["default", "smoke", "full"])
def test_every_preset_passes_the_parameter_checks(preset):
    values = _parameters_cell()
    if preset != "default":
        overrides = yaml.safe_load((PRESETS / f"{preset}.yaml").read_text())
        assert set(overrides) <= set(study.PARAMETERS), set(overrides) - set(study.PARAMETERS)
        values.update(overrides, preset=preset)
    assert set(values) == set(study.PARAMETERS)
    for name, spec in study.PARAMETERS.items():
        spec.check(name, values[name])
    study.check_consistency(values)


def test_full_preset_is_the_study_scale():
    full = yaml.safe_load((PRESETS / "full.yaml").read_text())
    assert full["classifier_epochs"] == 20 and full["attacker_epochs"] == 20 and full["pretrain_epochs"] == 5
    assert tuple(full["intensities"]) == study.STUDY_INTENSITIES
    assert set(full["modes"]) == {"consecutive", "alternating"}


@pytest.mark.parametrize("change, message", [
    ({"attack_size": 600, "test_size": 500}, "attack_size"),
    ({"attacker_train_size": 3000, "train_size": 2000}, "attacker_train_size"),
    ({"intensities": [0.04, 0.04]}, "duplicates"),
])
def test_inconsistent_parameters_are_rejected(change, message):
    values = {**_parameters_cell(), **change}
    with pytest.raises(ParameterError, match=message):
        study.check_consistency(values)


def test_study_reference_is_only_what_the_study_states():
    assert study.study_reference("consecutive", 0.08) == ("~20%", "~90%")
    assert study.study_reference("alternating", 0.16) == ("-", "-")
    assert all(mode in ("consecutive", "alternating") and t in study.STUDY_INTENSITIES for mode, t in study.STUDY_REFERENCE)
