"""Study 4's parameters, presets, reference, headline and findings: every preset is valid, cross-parameter checks
stop bad combinations, the study's reference values are labelled and only where the study states them, the
headline keeps the same keys at every setting (learned-attacker numbers as means over attacker seeds), and each
finding's verdict follows constructed numbers: holds, does not hold, not shown at this scale."""
from pathlib import Path

import pytest
import yaml

from helpers.params import ParameterError
from conftest import default_parameters
from helpers.studies.gan_attacker import parameters, reference, report
from helpers import findings as checks
from helpers.studies.gan_attacker import study
from helpers.studies.gan_attacker.ceilings import PGDCeiling
from helpers.studies.gan_attacker.comparison import SpeedComparison
from helpers.studies.gan_attacker.study import Ceiling, Ensemble, Robust
from helpers.studies.gan_attacker.training import AttackerRun, SeededRuns
from helpers.studies.gan_attacker.universal import Universal

PRESETS = Path(__file__).resolve().parents[1] / "notebooks" / "presets" / "gan_attacker"


def test_full_preset_is_the_study_scale():
    full = yaml.safe_load((PRESETS / "full.yaml").read_text())
    assert full["classifier_epochs"] == 20 and full["attacker_epochs"] == 20 and full["pretrain_epochs"] == 5
    assert full["alternating_epochs"] == 20 and full["attacker_objective"] == "cross_entropy"  # the study's loss
    assert tuple(full["intensities"]) == reference.STUDY_INTENSITIES
    assert set(full["modes"]) == {"consecutive", "alternating"}
    assert full["attacker_width"] == 1.0 and full["attacker_architecture"] == "study"  # the study's A at its widths
    assert set(full["extras"]) == set(study.EXTRAS) and full["attacker_seeds"] >= 3
    assert reference.PROTOCOL_PRESETS == ("full",)


def test_default_trains_three_attacker_seeds_at_the_comparison_intensities():
    p = default_parameters("gan_attacker")
    assert p["attacker_seeds"] >= 3 and 0.08 in p["intensities"] and 0.08 in p["alternating_intensities"]
    assert study.comparison_intensities(p["intensities"]) == sorted({0.08, max(p["intensities"])})
    for t in p["intensities"]:
        seeds = study.attacker_seeds(t, p)
        assert len(seeds) == p["attacker_seeds"] and len(set(seeds)) == len(seeds) and seeds[0] == p["seed"]
    other = {**p, "intensities": [0.02, 0.04, 0.08, 0.32]}
    assert [len(study.attacker_seeds(t, other)) for t in other["intensities"]] == [1, 1, p["attacker_seeds"], p["attacker_seeds"]]
    recipe = study.attacker_recipe(p)
    assert (recipe.width, recipe.beta1, recipe.epochs) == (p["attacker_width"], p["attacker_beta1"], p["attacker_epochs"])
    assert study.attacker_recipe(p, architecture="study").architecture == "study"


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


# The headline, the final table and the findings, from made-up runs (no training).


def _run(mode, t, c1_attacked, c2_attacked, seed=0):
    record = {"epoch": 1, "c1_clean_accuracy": 0.98, "c2_clean_accuracy": 0.97,
              "c1_attacked_accuracy": c1_attacked, "c2_attacked_accuracy": c2_attacked}
    return AttackerRun(mode, t, history=[{**record, "epoch": 0}, record], train_seconds=10.0, digits=2000 + int(1000 * t), seed=seed)


def _seeded(mode, t, c1_values, c2_values):
    return SeededRuns(mode, t, [_run(mode, t, a, b, seed=k) for k, (a, b) in enumerate(zip(c1_values, c2_values))])


def _ceiling(target, t, attacker, c2=None, universal=None, pgd=None, digits=500):
    universal = 0.9 - t if universal is None else universal
    pgd = max(0.1 - t / 2, 0.0) if pgd is None else pgd
    u = Universal(t, None, accuracy=universal, train_accuracy=universal, transfer={"c2": 0.95}, digits=digits)
    top = PGDCeiling(t, [(25, pgd + 0.005), (50, pgd)], transfer={"c2": 0.6}, seconds=1.0, digits=digits)
    learned = {target: list(attacker)} | ({"c2": list(c2)} if c2 is not None else {})
    return Ceiling(target, t, 0.98, u, top, learned, {"c2": 0.97} if c2 is not None else {})


SPREAD = (-0.02, 0.0, 0.02)  # three attacker seeds around each mean


def _results(intensities, modes, alternating_intensities=(), seeds=SPREAD):
    around = lambda centre: [centre + d for d in seeds]  # noqa: E731
    runs = {"consecutive": {t: _seeded("consecutive", t, around(0.5 - t), around(0.95 - t / 2)) for t in intensities}
            if "consecutive" in modes else {},
            "alternating": {t: _seeded("alternating", t, around(0.7 - t), around(0.95)) for t in alternating_intensities}
            if "alternating" in modes else {}}
    ceilings = [_ceiling("c1", t, around(0.5 - t), around(0.95 - t / 2)) for t in runs["consecutive"]]
    ceilings += [_ceiling("alternating c1", t, [0.7 - t]) for t in runs["alternating"]]
    rows = [{"network": "C1", "role": "ensemble member", "clean": 0.98, "single": 0.2, "ensemble": 0.3},
            {"network": "C2", "role": "unseen", "clean": 0.97, "single": 0.85, "ensemble": 0.7}]
    t = max(intensities)
    ensemble = Ensemble(t, 3, _run("consecutive", t, 0.2, 0.85), _run("ensemble", t, 0.3, 0.7), rows)
    robust = Robust(t, 2, 5, False, 0.97, _run("robust", t, 0.8, 0.9), _ceiling("robust c1", t, [0.8]), None)
    speed = SpeedComparison(t, 500, 20, attacker_seconds=0.5, pgd_seconds=10.0, attacker_accuracy=0.4, pgd_accuracy=0.01)
    return runs["consecutive"], runs["alternating"], ceilings, ensemble, robust, speed


def _headline(p):
    return report.headline(*_results(p["intensities"], p["modes"], p["alternating_intensities"]), p)


def _params(**change):
    return {**default_parameters("gan_attacker"), **change}


def test_headline_keys_are_stable_and_the_study_value_is_beside_ours_at_its_intensity():
    default = _params(intensities=[0.04, 0.08, 0.16])  # the study's 0.08 and a "near chance" 0.16 are in the run
    other = _params(intensities=[0.1, 0.3], modes=["consecutive"], alternating_intensities=[0.1], pgd_steps=3, ensemble_intensity=0.3)
    first = {m.key: m for m in _headline(default)}
    second = {m.key: m for m in _headline(other)}
    assert list(first) == list(second) and 4 <= len(first) <= 10
    assert all(key.isidentifier() and "0" not in key for key in first)  # no budget or step count in a key

    # Values in percent (means over attacker seeds), the setting and the seeds' spread in the detail.
    c1 = first["consecutive_c1_accuracy"]
    assert c1.unit == "%" and c1.value == pytest.approx(42.0) and c1.detail["t"] == 0.08
    assert c1.detail["seeds"] == 3 and c1.detail["spread"] == "40.0-44.0%" and c1.detail["width"] == default["attacker_width"]
    assert (c1.study, c1.tolerance) == (20.0, 10.0) and c1.study_source and c1.reproduced is False
    assert first["consecutive_c2_accuracy"].study == 90.0 and first["consecutive_c2_accuracy"].reproduced is True
    strongest = first["consecutive_c1_strongest_accuracy"]
    assert strongest.detail["t"] == 0.16 and strongest.study == 10.0 and strongest.value == pytest.approx(34.0)
    assert first["alternating_c1_accuracy"].value == pytest.approx(62.0) and first["alternating_c1_accuracy"].detail["seeds"] == 3
    pgd = first["pgd_c1_accuracy"]
    assert pgd.detail == {"eps": 0.08, "steps": 2 * default["pgd_steps"], "converged": True} and pgd.value == pytest.approx(6.0)
    assert first["universal_c1_accuracy"].value == pytest.approx(82.0)
    assert first["ensemble_attacker_unseen_accuracy"].value == pytest.approx(70.0)
    assert first["robust_c1_attacker_accuracy"].value == pytest.approx(80.0)
    assert first["attacker_speedup"].value == pytest.approx(20.0) and first["attacker_speedup"].unit == "x"
    assert first["attacker_digits_per_second"].value == pytest.approx(3 * (2040 + 2080 + 2160) / 90, abs=0.05)  # pooled over runs and seeds

    # At other intensities the study states nothing comparable: no study value, the metric still there.
    assert second["consecutive_c1_accuracy"].detail["t"] == 0.1 and second["consecutive_c1_accuracy"].study is None
    assert second["consecutive_c1_strongest_accuracy"].detail["t"] == 0.3
    assert second["consecutive_c1_strongest_accuracy"].study is None
    # The PGD steps are those of the ceiling's longest run (what converged), not the pgd_steps parameter.
    assert second["pgd_c1_accuracy"].detail == {"eps": 0.1, "steps": 50, "converged": True}
    # A mode that did not run has no value, and is not reported as reproduced or not.
    assert second["alternating_c1_accuracy"].value is None and second["alternating_c1_accuracy"].reproduced is None


def test_headline_without_the_extra_sections_keeps_its_keys():
    p = _params()
    consecutive, alternating, ceilings, _, _, speed = _results(p["intensities"], p["modes"], p["alternating_intensities"])
    metrics = {m.key: m for m in report.headline(consecutive, alternating, ceilings, None, None, speed, p)}
    assert [m.key for m in _headline(p)] == list(metrics)
    assert metrics["ensemble_attacker_unseen_accuracy"].value is None and metrics["robust_c1_attacker_accuracy"].value is None


def test_headline_at_the_smoke_preset_has_the_same_keys():
    smoke = _params(**yaml.safe_load((PRESETS / "smoke.yaml").read_text()))
    default = _params()
    keys = lambda p: [m.key for m in _headline(p)]  # noqa: E731
    assert keys(smoke) == keys(default)


def test_final_table_puts_the_learned_attacker_between_its_ceilings_with_its_seeds():
    p = _params(intensities=[0.04, 0.08, 0.16], alternating_intensities=[0.08, 0.16])
    consecutive, alternating, ceilings, *_ = _results(p["intensities"], p["modes"], p["alternating_intensities"])
    rows = report.final_rows({"consecutive": consecutive, "alternating": alternating}, ceilings)
    assert [(r[0], r[1]) for r in rows] == [("0.04", "consecutive"), ("0.08", "consecutive"), ("0.08", "alternating"),
                                            ("0.16", "consecutive"), ("0.16", "alternating")]
    t08 = rows[1]
    assert t08[2] == 3 and t08[4] == pytest.approx(0.82) and t08[6] == pytest.approx(0.06)  # seeds, universal, PGD
    assert t08[5] == "42.0% (40.0-44.0)" and t08[7] == "~20%"  # A: mean (lowest-highest seed), the study's
    assert t08[9] == "91.0% (89.0-93.0)"  # C2 under A, transfer
    assert rows[2][5] == "62.0% (60.0-64.0)"  # the alternating C1 under its own attackers
    # A at 0.42 between universal 0.82 and PGD 0.06: (0.82 - 0.42) / (0.82 - 0.06) of the way.
    assert report.position(ceilings[1]) == pytest.approx(0.40 / 0.76)
    summary = report.ceilings_summary(ceilings)
    assert "covers 53% of the way" in summary and "42.0% (seeds 40.0-44.0%)" in summary
    assert "one run each" in summary
    # The study's ~20% at 0.08 is above our PGD ceiling (6%) and below our universal one (82%): between them.
    assert "t=0.08: the study's ~20% for C1 lies between" in report.study_position_summary(ceilings)
    ceilings[2].attacker["c1"] = [ceilings[2].universal.accuracy + 0.01] * 3  # A no better than one pattern for all digits
    assert "t=0.16: clean" in report.ceilings_summary(ceilings) and "matches the universal perturbation" in report.ceilings_summary(ceilings)


def test_cells_and_prose_with_one_seed_show_no_spread():
    assert report.seeds_cell([0.3]) == "30.0%" and report.seeds_text([0.3]) == "30.0%" and report.seeds_cell(None) == "-"
    assert report.seeds_cell([0.2, 0.4]) == "30.0% (20.0-40.0)" and report.seeds_text([0.2, 0.4]) == "30.0% (seeds 20.0-40.0%)"


def test_report_text_has_no_targets():
    import inspect

    source = inspect.getsource(report).lower()
    assert "target at" not in source and "not reached" not in source


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


# Findings: each verdict from constructed numbers.


def _verdicts(consecutive, alternating, ceilings, p):
    return {o.key: o for o in report.findings(consecutive, alternating, ceilings, p)}


def test_findings_cover_the_reference_and_judge_the_study_claims():
    p = _params(intensities=[0.08, 0.16], alternating_intensities=[0.08])
    assert {f.key for f in reference.FINDINGS} == {"c1_falls_at_008", "alternating_resists", "little_transfer", "between_ceilings"}
    assert [f.key for f in reference.FINDINGS if f.ours] == ["between_ceilings"]
    tight = (-0.01, 0.0, 0.01)
    around = lambda centre, spread=tight: [centre + d for d in spread]  # noqa: E731
    consecutive = {0.08: _seeded("consecutive", 0.08, around(0.22), around(0.9)), 0.16: _seeded("consecutive", 0.16, around(0.3), around(0.85))}
    alternating = {0.08: _seeded("alternating", 0.08, around(0.6), around(0.95))}
    ceilings = [_ceiling("c1", 0.08, around(0.22), around(0.9), universal=0.8, pgd=0.05),
                _ceiling("c1", 0.16, around(0.3), around(0.85), universal=0.7, pgd=0.02)]
    held = _verdicts(consecutive, alternating, ceilings, p)
    assert {k: o.status for k, o in held.items()} == {k: checks.HOLDS for k in held}
    assert "3 attacker seeds" in held["c1_falls_at_008"].evidence and "Wilson" in held["c1_falls_at_008"].evidence

    # The study's claims contradicted: C1 barely falls, the alternating C1 falls further, C2 falls as far as C1,
    # and A is no better than one universal pattern.
    consecutive = {0.08: _seeded("consecutive", 0.08, around(0.9), around(0.95)), 0.16: _seeded("consecutive", 0.16, around(0.7), around(0.7))}
    alternating = {0.08: _seeded("alternating", 0.08, around(0.5), around(0.95))}
    ceilings = [_ceiling("c1", 0.08, around(0.9), around(0.95), universal=0.92, pgd=0.05),
                _ceiling("c1", 0.16, around(0.85), around(0.85), universal=0.7, pgd=0.02)]
    failed = _verdicts(consecutive, alternating, ceilings, p)
    assert {k: o.status for k, o in failed.items()} == {k: checks.DOES_NOT_HOLD for k in failed}
    assert failed["c1_falls_at_008"].measured == ("C1 at 90.0% (seeds 89.0-91.0%) under A; converged white-box PGD with the "
                                                  "same budget leaves 5.0%")
    assert "not stronger than the universal perturbation" in failed["between_ceilings"].measured

    # Seeds that disagree widely: every difference lies inside its interval, nothing is shown.
    wide = (-0.25, 0.0, 0.25)
    consecutive = {0.08: _seeded("consecutive", 0.08, around(0.3, wide), around(0.9, wide)),
                   0.16: _seeded("consecutive", 0.16, around(0.4, wide), around(0.8, wide))}
    alternating = {0.08: _seeded("alternating", 0.08, around(0.45, wide), around(0.95))}
    ceilings = [_ceiling("c1", 0.08, around(0.3, wide), around(0.9, wide), universal=0.8, pgd=0.05),
                _ceiling("c1", 0.16, around(0.4, wide), around(0.8, wide), universal=0.7, pgd=0.1)]
    unsure = _verdicts(consecutive, alternating, ceilings, p)
    assert {k: o.status for k, o in unsure.items()} == {k: checks.NOT_SHOWN for k in unsure}


def test_findings_without_the_runs_they_need_are_not_shown():
    p = _params(intensities=[0.1, 0.3], modes=["consecutive"], alternating_intensities=[0.1])
    consecutive, alternating, ceilings, *_ = _results(p["intensities"], p["modes"], p["alternating_intensities"])
    outcomes = _verdicts(consecutive, alternating, ceilings, p)
    assert outcomes["c1_falls_at_008"].status == checks.NOT_SHOWN and "0.08" in outcomes["c1_falls_at_008"].evidence
    assert outcomes["alternating_resists"].status == checks.NOT_SHOWN
