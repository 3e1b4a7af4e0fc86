"""Study 5's findings, judged on constructed numbers (no TensorFlow): each check holds, does not hold, or is not
shown at this scale as the 95% intervals of its numbers say, and the outcomes come in ``reference.FINDINGS`` order."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN, Outcome
from helpers.studies.flickr_transfer_attacks import reference, report, study
from helpers.studies.flickr_transfer_attacks.adaptive import AdaptiveSweep, defenses_of
from helpers.studies.flickr_transfer_attacks.evaluation import AlterationSweep, AttackSweep

TITLES = {"MobileNet": "MobileNet", "VGG16": "VGG16", "ResNet50": "ResNet50"}


def _point(level, accuracy, ssim=0.99, half=0.001):
    return {"level": level, "accuracy": accuracy, "agreement": accuracy, "ssim": ssim,
            "ssim_low": ssim - half, "ssim_high": ssim + half}


def _attacked(*, n=100, clean=0.9, fgsm=(0.6, 0.4), pgd=(0.2, 0.0), ssim_gap=0.01, blur=0.25, jpeg=0.6,
              backbones=("MobileNet",), clean_by=None):
    """Two budgets; FGSM/PGD accuracies per budget; section 5's rows at the export budget (0.004)."""
    sweeps = {}
    for name in backbones:
        sweep = AttackSweep(name)
        sweep.curves = {"fgsm": [_point(e, a, 0.95) for e, a in zip((0.002, 0.004), fgsm)],
                        "pgd": [_point(e, a, 0.95 + ssim_gap) for e, a in zip((0.002, 0.004), pgd)]}
        per_image = np.linspace(0.9, 1.0, n)
        sweep.ssim = {"fgsm": {e: per_image for e in (0.002, 0.004)},
                      "pgd": {e: per_image + ssim_gap + np.linspace(-1e-4, 1e-4, n) for e in (0.002, 0.004)}}
        sweep.defense = [{"attack": "clean", "epsilon": 0.0, "attacked_accuracy": clean, "jpeg_accuracy": 0.85,
                          "blur_accuracy": 0.8}]
        sweep.defense += [{"attack": a, "epsilon": 0.004, "attacked_accuracy": 0.2, "jpeg_accuracy": jpeg,
                           "blur_accuracy": blur} for a in ("fgsm", "pgd")]
        sweeps[name] = sweep
    accuracy = clean_by or {name: clean for name in backbones}
    return study.Attacked(sweeps, 0.004, {"jpeg": 50, "blur": 3}, accuracy, 10)


def _adaptive(rows, *, images=100):
    """``rows``: defense -> list of (eps, undefended, plain, through)."""
    sweep = AdaptiveSweep("MobileNet", images, 10, defenses_of({d: {"jpeg": 50, "blur": 3, "pca": 32, "noise": 5.0}[d]
                                                                   for d in rows}, eot_samples=2))
    for defense, values in rows.items():
        level = {"jpeg": 50, "blur": 3, "pca": 32, "noise": 5.0}[defense]
        for eps, bare, plain, through in values:
            sweep.rows.append({"defense": defense, "level": level, "epsilon": eps, "clean_accuracy": 0.9,
                               "undefended_accuracy": bare, "plain_accuracy": plain, "through_accuracy": through,
                               "plain_ssim": 0.99, "through_ssim": 0.99})
    return study.Adaptive({"MobileNet": sweep}, {}, sorted({e for v in rows.values() for e, *_ in v}), images, 10, 2)


def test_attacks_lower_accuracy_holds_fails_or_is_not_shown():
    assert report.judge_attacks_lower_accuracy(_attacked(), TITLES, 100).status == HOLDS
    nothing = report.judge_attacks_lower_accuracy(_attacked(clean=0.4, fgsm=(0.6, 0.9), pgd=(0.6, 0.9)), TITLES, 100)
    assert nothing.status == DOES_NOT_HOLD and nothing.measured.endswith("(all of the evidence)")
    assert "FGSM eps=0.004: 90.0%" in nothing.evidence
    # only FGSM fails: what the run measured names that part alone
    partly = report.judge_attacks_lower_accuracy(_attacked(clean=0.4, fgsm=(0.6, 0.9), pgd=(0.2, 0.0)), TITLES, 100)
    assert partly.status == DOES_NOT_HOLD and "FGSM eps=0.004: 90.0%" in partly.measured and "PGD" not in partly.measured
    assert report.judge_attacks_lower_accuracy(_attacked(clean=0.6, fgsm=(0.5, 0.4), pgd=(0.5, 0.4)), TITLES, 5).status == NOT_SHOWN


def test_pgd_beats_fgsm_at_some_budget_and_loses_at_none():
    assert report.judge_pgd_fools_more(_attacked(), TITLES, 100).status == HOLDS
    assert report.judge_pgd_fools_more(_attacked(fgsm=(0.6, 0.0), pgd=(0.6, 0.3)), TITLES, 100).status == DOES_NOT_HOLD
    # both at zero: the intervals cannot separate them
    assert report.judge_pgd_fools_more(_attacked(fgsm=(0.0, 0.0), pgd=(0.0, 0.0)), TITLES, 100).status == NOT_SHOWN


def test_ssim_findings_use_the_image_by_image_difference_and_the_threshold():
    # PGD's SSIM above FGSM's on every photo: the study's claim does not hold, and the run says what it measured
    outcome = report.judge_fgsm_more_similar(_attacked(ssim_gap=0.01), TITLES)
    assert outcome.status == DOES_NOT_HOLD and outcome.measured.startswith("PGD's images had the higher SSIM")
    assert "FGSM minus PGD SSIM -0.01 " in outcome.evidence
    assert report.judge_fgsm_more_similar(_attacked(ssim_gap=-0.01), TITLES).status == HOLDS
    assert report.judge_fgsm_more_similar(_attacked(ssim_gap=0.0), TITLES).status == NOT_SHOWN
    assert report.judge_ssim_high(_attacked(), TITLES).status == HOLDS
    low = _attacked()
    low.sweeps["MobileNet"].curves["pgd"][1] = _point(0.004, 0.0, ssim=0.5, half=0.05)
    judged = report.judge_ssim_high(low, TITLES)
    assert judged.status == DOES_NOT_HOLD and judged.evidence.startswith("lowest mean: MobileNet, PGD eps=0.004: SSIM 0.500")


def test_pca_claim_needs_a_level_that_looks_similar_and_costs_accuracy():
    def altered(points):
        return AlterationSweep(curves={"MobileNet": {"pca": points}})

    attacked = _attacked(clean=0.9)
    similar_and_wrong = altered([_point(32, 0.85, ssim=0.95), _point(16, 0.5, ssim=0.9)])
    assert report.judge_pca(similar_and_wrong, attacked, TITLES, 100).status == HOLDS
    wrong_only_when_unlike = altered([_point(32, 0.88, ssim=0.95), _point(4, 0.2, ssim=0.5)])
    outcome = report.judge_pca(wrong_only_when_unlike, attacked, TITLES, 400)
    assert outcome.status == DOES_NOT_HOLD and outcome.measured.startswith("no PCA level both kept SSIM")
    assert "4 comp. SSIM 0.500" in outcome.evidence
    assert report.judge_pca(altered([_point(16, 0.6, ssim=0.9)]), attacked, TITLES, 4).status == NOT_SHOWN


def test_blur_and_jpeg_claims_at_the_export_budget():
    assert report.judge_blur(_attacked(blur=0.2), TITLES, 1000).status == HOLDS  # blur recovers nothing
    helped = report.judge_blur(_attacked(blur=0.6), TITLES, 100)
    assert helped.status == DOES_NOT_HOLD and helped.measured.startswith("blur recovered accuracy")
    assert "60.0%" in helped.evidence and "blurred (k=3)" in helped.evidence
    assert report.judge_blur(_attacked(blur=0.25), TITLES, 50).status == NOT_SHOWN
    assert report.judge_jpeg_vs_blur(_attacked(jpeg=0.6, blur=0.25), TITLES, 100).status == HOLDS
    assert report.judge_jpeg_vs_blur(_attacked(jpeg=0.1, blur=0.5), TITLES, 100).status == DOES_NOT_HOLD
    assert report.judge_jpeg_vs_blur(_attacked(jpeg=0.3, blur=0.25), TITLES, 20).status == NOT_SHOWN


def test_resnet_against_vgg_only_when_both_ran():
    alone = report.judge_resnet_vs_vgg(_attacked(), TITLES, 100)
    assert alone.status == NOT_SHOWN and "ran: MobileNet" in alone.evidence
    both = ("VGG16", "ResNet50")
    assert report.judge_resnet_vs_vgg(_attacked(backbones=both, clean_by={"VGG16": 0.7, "ResNet50": 0.95}),
                                      TITLES, 200).status == HOLDS
    assert report.judge_resnet_vs_vgg(_attacked(backbones=both, clean_by={"VGG16": 0.95, "ResNet50": 0.7}),
                                      TITLES, 200).status == DOES_NOT_HOLD


def test_a_defense_falls_when_it_helps_against_the_plain_attack_and_the_attack_through_it_takes_that_back():
    falls = _adaptive({"blur": [(0.002, 0.05, 0.75, 0.3), (0.004, 0.0, 0.3, 0.0)]})
    assert report.judge_through_defense(falls, "blur", TITLES).status == HOLDS
    # JPEG that helps only where the budget is rounded away, and there the attack through it cannot do better
    jpeg = _adaptive({"jpeg": [(0.001, 0.05, 0.95, 0.95), (0.004, 0.0, 0.0, 0.0)]}, images=400)
    outcome = report.judge_through_defense(jpeg, "jpeg", TITLES)
    assert outcome.status == DOES_NOT_HOLD and outcome.measured.startswith("at no budget") and outcome.ours
    assert "eps=0.001: plain PGD 5.0%" in outcome.evidence
    small = _adaptive({"noise": [(0.004, 0.0, 0.4, 0.2)]}, images=10)
    assert report.judge_through_defense(small, "noise", TITLES).status == NOT_SHOWN
    assert report.judge_through_defense(None, "pca", TITLES).status == NOT_SHOWN


def test_findings_come_in_reference_order_with_every_key_once():
    trained = study.Trained([], {}, {}, TITLES, 5)
    target = study.EvalSet(np.zeros((100, 4, 4, 3)), np.zeros(100, int), [], {}, {})
    altered = AlterationSweep(curves={"MobileNet": {"pca": [_point(16, 0.5, ssim=0.9)]}})
    adaptive = _adaptive({d: [(0.004, 0.0, 0.5, 0.0)] for d in ("jpeg", "blur", "pca", "noise")})
    outcomes = report.findings(trained, target, altered, _attacked(), adaptive)
    assert all(isinstance(o, Outcome) for o in outcomes)
    assert [o.key for o in outcomes] == [f.key for f in reference.FINDINGS]
    verdicts = {o.key: o.status for o in outcomes}
    assert verdicts["jpeg_falls_to_bpda"] == verdicts["noise_falls_to_eot"] == HOLDS
    assert verdicts["fgsm_images_more_similar"] == DOES_NOT_HOLD


@pytest.mark.parametrize("fraction, n", [(0.0, 20), (0.5, 20), (1.0, 500)])
def test_accuracies_carry_wilson_intervals(fraction, n):
    interval = report._accuracy(fraction, n)
    assert interval.low <= fraction <= interval.high and 0.0 <= interval.low and interval.high <= 1.0
    assert interval.high - interval.low > 0
