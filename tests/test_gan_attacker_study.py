"""Study 4's parameters, presets, reference and headline: every preset is valid, cross-parameter checks stop
bad combinations, the study's reference values are labelled and only where the study states them, and the
headline keeps the same keys at every setting, with the study's value beside ours where it applies."""
from pathlib import Path

import pytest
import yaml

from helpers.params import ParameterError
from helpers.runner.catalog import find_study
from helpers.studies.gan_attacker import parameters, reference, report
from helpers.studies.gan_attacker.training import AttackerRun

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
        assert set(overrides) <= set(parameters.PARAMETERS), set(overrides) - set(parameters.PARAMETERS)
        values.update(overrides, preset=preset)
    assert set(values) == set(parameters.PARAMETERS)
    for name, spec in parameters.PARAMETERS.items():
        spec.check(name, values[name])
    parameters.check_combinations(values)


def test_full_preset_is_the_study_scale():
    full = yaml.safe_load((PRESETS / "full.yaml").read_text())
    assert full["classifier_epochs"] == 20 and full["attacker_epochs"] == 20 and full["pretrain_epochs"] == 5
    assert tuple(full["intensities"]) == reference.STUDY_INTENSITIES
    assert set(full["modes"]) == {"consecutive", "alternating"}


@pytest.mark.parametrize("change, message", [
    ({"attack_size": 600, "test_size": 500}, "attack_size"),
    ({"attacker_train_size": 3000, "train_size": 2000}, "attacker_train_size"),
    ({"intensities": [0.04, 0.04]}, "duplicates"),
    ({"modes": ["consecutive", "consecutive"]}, "duplicates"),
])
def test_inconsistent_parameters_are_rejected(change, message):
    values = {**_parameters_cell(), **change}
    with pytest.raises(ParameterError, match=message):
        parameters.check_combinations(values)


def test_study_reference_is_only_what_the_study_states():
    assert reference.study_reference("consecutive", 0.08) == ("~20%", "~90%")
    assert reference.study_reference("alternating", 0.16) == ("-", "-")
    assert all(mode in ("consecutive", "alternating") and t in reference.STUDY_INTENSITIES for mode, t in reference.STUDY_REFERENCE)
    assert reference.NEAR_CHANCE_INTENSITIES == (0.16, 0.32, 0.64)
    # The numeric references are the study's statements at 0.08, in percent.
    assert reference.REFERENCE["consecutive_c1_accuracy"].value == 20.0
    assert reference.REFERENCE["consecutive_c2_accuracy"].value == 90.0


# The headline, from made-up runs (no training): keys, units, and where the study's value is set beside ours.


def _run(mode, t, c1_attacked, c2_attacked):
    record = {"epoch": 1, "c1_clean_accuracy": 0.98, "c2_clean_accuracy": 0.97,
              "c1_attacked_accuracy": c1_attacked, "c2_attacked_accuracy": c2_attacked}
    return AttackerRun(mode, t, history=[{**record, "epoch": 0}, record])


def _results(intensities, modes):
    runs = {mode: {t: _run(mode, t, 0.5 - t, 0.95 - t / 2) for t in intensities} if mode in modes else {}
            for mode in ("consecutive", "alternating")}
    pgd = [{"intensity": t, "pgd_c1": 0.1 - t / 2, "pgd_c2": 0.6} for t in intensities]
    ensemble = [{"network": "C1", "role": "ensemble member", "clean": 0.98, "single": 0.2, "ensemble": 0.3},
                {"network": "C2", "role": "unseen", "clean": 0.97, "single": 0.85, "ensemble": 0.7}]
    return runs["consecutive"], runs["alternating"], pgd, ensemble


def _params(**change):
    return {**_parameters_cell(), **change}


def test_headline_keys_are_stable_and_the_study_value_is_beside_ours_at_its_intensity():
    default = _params()  # intensities 0.04, 0.08, 0.16: the study's 0.08 and a "near chance" 0.16 are in the run
    other = _params(intensities=[0.1, 0.3], modes=["consecutive"], pgd_steps=3, ensemble_intensity=0.3)
    first = {m.key: m for m in report.headline(*_results(default["intensities"], default["modes"]), default)}
    second = {m.key: m for m in report.headline(*_results(other["intensities"], other["modes"]), other)}
    assert list(first) == list(second) and 4 <= len(first) <= 10
    assert all(key.isidentifier() and "0" not in key for key in first)  # no budget or step count in a key

    # Values in percent, the setting in the detail, the study's value beside ours where it states one.
    c1 = first["consecutive_c1_accuracy"]
    assert c1.unit == "%" and c1.value == pytest.approx(42.0) and c1.detail["t"] == 0.08
    assert (c1.study, c1.tolerance) == (20.0, 10.0) and c1.study_source and c1.reproduced is False
    assert first["consecutive_c2_accuracy"].study == 90.0 and first["consecutive_c2_accuracy"].reproduced is True
    strongest = first["consecutive_c1_strongest_accuracy"]
    assert strongest.detail["t"] == 0.16 and strongest.study == 10.0
    assert first["pgd_c1_accuracy"].detail == {"eps": 0.08, "steps": default["pgd_steps"]}
    assert first["ensemble_attacker_unseen_accuracy"].value == pytest.approx(70.0)

    # At other intensities the study states nothing comparable: no study value, the metric still there.
    assert second["consecutive_c1_accuracy"].detail["t"] == 0.1 and second["consecutive_c1_accuracy"].study is None
    assert second["consecutive_c1_strongest_accuracy"].detail["t"] == 0.3
    assert second["consecutive_c1_strongest_accuracy"].study is None
    assert second["pgd_c1_accuracy"].detail == {"eps": 0.1, "steps": 3}
    # A mode that did not run has no value, and is not reported as reproduced or not.
    assert second["alternating_c1_accuracy"].value is None and second["alternating_c1_accuracy"].reproduced is None


def test_headline_at_the_smoke_preset_has_the_same_keys():
    smoke = _params(**yaml.safe_load((PRESETS / "smoke.yaml").read_text()))
    default = _params()
    keys = lambda p: [m.key for m in report.headline(*_results(p["intensities"], p["modes"]), p)]  # noqa: E731
    assert keys(smoke) == keys(default)
