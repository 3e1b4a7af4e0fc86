"""Study 4's parameters, presets, reference and headline: every preset is valid, cross-parameter checks stop
bad combinations, the study's reference values are labelled and only where the study states them, and the
headline keeps the same keys at every setting, with the study's value beside ours where it applies."""
from pathlib import Path

import pytest
import yaml

from helpers.params import ParameterError
from conftest import default_parameters
from helpers.studies.gan_attacker import parameters, reference, report
from helpers.studies.gan_attacker.ceilings import PGDCeiling, Universal
from helpers.studies.gan_attacker.comparison import SpeedComparison
from helpers.studies.gan_attacker.study import Ceiling, Robust
from helpers.studies.gan_attacker.training import AttackerRun

PRESETS = Path(__file__).resolve().parents[1] / "notebooks" / "presets" / "gan_attacker"


def test_full_preset_is_the_study_scale():
    full = yaml.safe_load((PRESETS / "full.yaml").read_text())
    assert full["classifier_epochs"] == 20 and full["attacker_epochs"] == 20 and full["pretrain_epochs"] == 5
    assert tuple(full["intensities"]) == reference.STUDY_INTENSITIES
    assert set(full["modes"]) == {"consecutive", "alternating"}


@pytest.mark.parametrize("change, message", [
    ({"attack_size": 600, "test_size": 500}, "attack_size"),
    ({"attacker_train_size": 3000, "train_size": 2000}, "attacker_train_size"),
    ({"intensities": [0.04, 0.04]}, "duplicates"),
    ({"alternating_intensities": [0.32]}, "subset"),
    ({"modes": ["consecutive", "consecutive"]}, "duplicates"),
])
def test_inconsistent_parameters_are_rejected(change, message):
    values = {**default_parameters("gan_attacker"), **change}
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
    return AttackerRun(mode, t, history=[{**record, "epoch": 0}, record], train_seconds=10.0, digits=2000 + int(1000 * t))


def _ceiling(target, t, attacker):
    universal = Universal(t, None, accuracy=0.9 - t, train_accuracy=0.9 - t, transfer={"c2": 0.95})
    pgd = PGDCeiling(t, 20, accuracy=0.1 - t / 2 + 0.005, accuracy_doubled=0.1 - t / 2, transfer={"c2": 0.6}, seconds=1.0, digits=500)
    return Ceiling(target, t, 0.98, universal, pgd, {target: attacker})


def _results(intensities, modes, alternating_intensities=()):
    runs = {"consecutive": {t: _run("consecutive", t, 0.5 - t, 0.95 - t / 2) for t in intensities} if "consecutive" in modes else {},
            "alternating": {t: _run("alternating", t, 0.7 - t, 0.95) for t in alternating_intensities} if "alternating" in modes else {}}
    ceilings = [_ceiling("c1", t, 0.5 - t) for t in runs["consecutive"]]
    ceilings += [_ceiling("alternating c1", t, 0.7 - t) for t in runs["alternating"]]
    ensemble = [{"network": "C1", "role": "ensemble member", "clean": 0.98, "single": 0.2, "ensemble": 0.3},
                {"network": "C2", "role": "unseen", "clean": 0.97, "single": 0.85, "ensemble": 0.7}]
    t = max(intensities)
    robust = Robust(t, 2, 5, False, 0.97, _run("robust", t, 0.8, 0.9), _ceiling("robust c1", t, 0.8), None)
    speed = SpeedComparison(t, 500, 20, attacker_seconds=0.5, pgd_seconds=10.0, attacker_accuracy=0.4, pgd_accuracy=0.01)
    return runs["consecutive"], runs["alternating"], ceilings, ensemble, robust, speed


def _headline(p):
    return report.headline(*_results(p["intensities"], p["modes"], p["alternating_intensities"]), p)


def _params(**change):
    return {**default_parameters("gan_attacker"), **change}


def test_headline_keys_are_stable_and_the_study_value_is_beside_ours_at_its_intensity():
    default = _params()  # intensities 0.04, 0.08, 0.16: the study's 0.08 and a "near chance" 0.16 are in the run
    other = _params(intensities=[0.1, 0.3], modes=["consecutive"], alternating_intensities=[0.1], pgd_steps=3, ensemble_intensity=0.3)
    first = {m.key: m for m in _headline(default)}
    second = {m.key: m for m in _headline(other)}
    assert list(first) == list(second) and 4 <= len(first) <= 10
    assert all(key.isidentifier() and "0" not in key for key in first)  # no budget or step count in a key

    # Values in percent, the setting in the detail, the study's value beside ours where it states one.
    c1 = first["consecutive_c1_accuracy"]
    assert c1.unit == "%" and c1.value == pytest.approx(42.0) and c1.detail["t"] == 0.08
    assert (c1.study, c1.tolerance) == (20.0, 10.0) and c1.study_source and c1.reproduced is False
    assert first["consecutive_c2_accuracy"].study == 90.0 and first["consecutive_c2_accuracy"].reproduced is True
    strongest = first["consecutive_c1_strongest_accuracy"]
    assert strongest.detail["t"] == 0.16 and strongest.study == 10.0
    pgd = first["pgd_c1_accuracy"]
    assert pgd.detail == {"eps": 0.08, "steps": 2 * default["pgd_steps"], "converged": True} and pgd.value == pytest.approx(6.0)
    assert first["universal_c1_accuracy"].value == pytest.approx(82.0)
    assert first["ensemble_attacker_unseen_accuracy"].value == pytest.approx(70.0)
    assert first["robust_c1_attacker_accuracy"].value == pytest.approx(80.0)
    assert first["attacker_speedup"].value == pytest.approx(20.0) and first["attacker_speedup"].unit == "x"
    assert first["attacker_digits_per_second"].value == pytest.approx((2040 + 2080 + 2160) / 30, abs=0.05)  # pooled over the consecutive runs

    # At other intensities the study states nothing comparable: no study value, the metric still there.
    assert second["consecutive_c1_accuracy"].detail["t"] == 0.1 and second["consecutive_c1_accuracy"].study is None
    assert second["consecutive_c1_strongest_accuracy"].detail["t"] == 0.3
    assert second["consecutive_c1_strongest_accuracy"].study is None
    assert second["pgd_c1_accuracy"].detail == {"eps": 0.1, "steps": 6, "converged": True}
    # A mode that did not run has no value, and is not reported as reproduced or not.
    assert second["alternating_c1_accuracy"].value is None and second["alternating_c1_accuracy"].reproduced is None


def test_headline_at_the_smoke_preset_has_the_same_keys():
    smoke = _params(**yaml.safe_load((PRESETS / "smoke.yaml").read_text()))
    default = _params()
    keys = lambda p: [m.key for m in _headline(p)]  # noqa: E731
    assert keys(smoke) == keys(default)


def test_final_table_puts_the_learned_attacker_between_its_ceilings():
    p = {**_params(), "alternating_intensities": [0.08, 0.16]}
    consecutive, alternating, ceilings, *_ = _results(p["intensities"], p["modes"], p["alternating_intensities"])
    rows = report.final_rows({"consecutive": consecutive, "alternating": alternating}, ceilings)
    assert [(r[0], r[1]) for r in rows] == [("0.04", "consecutive"), ("0.08", "consecutive"), ("0.08", "alternating"),
                                            ("0.16", "consecutive"), ("0.16", "alternating")]
    t08 = rows[1]
    assert t08[3] == pytest.approx(0.82) and t08[4] == pytest.approx(0.42) and t08[5] == pytest.approx(0.06)  # universal, A, PGD
    assert t08[6] == "~20%"
    # A at 0.42 between universal 0.82 and PGD 0.06: (0.82 - 0.42) / (0.82 - 0.06) of the way.
    assert report.position(ceilings[1]) == pytest.approx(0.40 / 0.76)
    assert "covers 53% of the way" in report.ceilings_summary(ceilings)
    # The study's ~20% at 0.08 is above our PGD ceiling (6%) and below our universal one (82%): between them.
    assert "t=0.08: the study's ~20% for C1 lies between" in report.study_position_summary(ceilings)
    assert "Target at t=0.16, C1 under A at most 50%: measured 34.0%" in report.targets_summary(consecutive, ceilings)
    assert "reached." in report.targets_summary(consecutive, ceilings)
    ceilings[2].attacker["c1"] = ceilings[2].universal.accuracy + 0.01  # A no better than one pattern for all digits
    assert "t=0.16: clean" in report.ceilings_summary(ceilings) and "matches the universal perturbation" in report.ceilings_summary(ceilings)


def _run_ending_at(c1_attacked: float, clean: float = 0.98) -> AttackerRun:
    run = AttackerRun("consecutive", 0.16)
    run.history = [{"epoch": 2, "c1_attacked_accuracy": c1_attacked, "c1_clean_accuracy": clean, "c2_attacked_accuracy": 0.9}]
    return run


def test_architecture_prose_follows_the_measured_gap():
    from helpers.studies.gan_attacker.study import ArchitectureComparison

    p = _params()
    _, _, ceilings, *_ = _results(p["intensities"], p["modes"], p["alternating_intensities"])
    universal = next(c for c in ceilings if c.target == "c1" and c.intensity == 0.16).universal.accuracy
    helped = ArchitectureComparison(0.16, "skip", {"skip": _run_ending_at(0.40), "study": _run_ending_at(universal)},
                                    {"skip": 0.3, "study": 0.02})
    text = report.architecture_summary(helped, ceilings)
    assert f"the skip connections take {100 * (universal - 0.40):.1f} more points off C1" in text
    assert "about as well as that input-independent pattern" in text and "0.02 t across digits against 0.30 t" in text
    hurt = ArchitectureComparison(0.16, "skip", {"skip": _run_ending_at(0.70), "study": _run_ending_at(0.60)},
                                  {"skip": 0.3, "study": 0.02})
    assert "did not help this time (10.0 points worse)" in report.architecture_summary(hurt, ceilings)
