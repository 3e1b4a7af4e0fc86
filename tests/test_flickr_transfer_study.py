"""Study 5's parameters, presets, reference and headline: every preset is valid, cross-parameter checks stop
bad combinations, the study's claims are findings (it states no numbers), and the headline keeps the same keys
at every setting, with the study's value beside ours only where the study gives one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import default_parameters
from helpers.params import ParameterError
from helpers.runner.catalog import find_study
from helpers.studies.flickr_transfer_attacks import parameters, reference, report, study
from helpers.studies.flickr_transfer_attacks.backbones import WeightsSource
from helpers.studies.flickr_transfer_attacks.evaluation import AttackSweep



@pytest.mark.parametrize("change, message", [
    ({"epsilons": [0.004, 0.004]}, "duplicates"),
    ({"backbones": ["MobileNet", "MobileNet"]}, "duplicates"),
    ({"jpeg_qualities": [50, 10, 50]}, "duplicates"),
    ({"epsilons": [0.0, 0.004]}, "must be > 0"),
    ({"adaptive_epsilons": [0.003]}, "must be budgets of 'epsilons'"),
    ({"adaptive_epsilons": [0.002, 0.002]}, "duplicates"),
    ({"adaptive_size": 51, "eval_size": 50}, "adaptive_size"),
    ({"defense_blur_kernel": 101, "image_size": 96}, "defense_blur_kernel"),
])
def test_inconsistent_parameters_are_rejected(change, message):
    values = {**default_parameters("flickr_transfer_attacks"), **change}
    with pytest.raises(ParameterError, match=message):
        parameters.check_combinations(values)


def test_the_study_states_findings_not_numbers():
    assert "Vangipurapu" in reference.SOURCE and reference.REFERENCE == {}
    keys = [f.key for f in reference.FINDINGS]
    assert {"pgd_fools_more_than_fgsm", "blur_does_not_help", "jpeg_better_than_blur", "pca_looks_similar_but_fools",
            "resnet_beats_vgg"} <= set(keys)
    ours = {f.key for f in reference.FINDINGS if f.ours}
    assert ours == {"jpeg_falls_to_bpda", "blur_fails_through_it", "pca_fails_through_it", "noise_falls_to_eot"}
    assert 0 < reference.HELPS < reference.PCA_COSTS < reference.HIGH_SSIM < 1
    assert reference.PROTOCOL_PRESETS == ("full",)


# --------------------------------------------------------------------------------------------------
# Headline, from hand-made results (no TensorFlow)


class _Model:
    def __init__(self, from_cache):
        self.from_cache = from_cache


def _curve(levels, accuracy, agreement, ssim):
    return [{"level": lv, "accuracy": a, "agreement": g, "ssim": s} for lv, a, g, s in zip(levels, accuracy, agreement, ssim)]


def _results(backbones, epsilons, *, pgd_drop=0.0, from_cache=True):
    """Photos, Trained and Attacked as the stages return them, with made-up numbers."""
    classes = ["a", "b", "c"]
    split = study.Split(classes, np.zeros((6, 4, 4, 3)), np.arange(6) % 3, np.zeros((3, 4, 4, 3)), np.arange(3), ["x"] * 3, "id")
    photos = study.Photos(study.PhotoSource(Path("/photos/imagewoof5"), "folder", "a folder"), split)
    plans = [study.BackbonePlan(name, [name], WeightsSource(name, None, "download")) for name in backbones]
    models = {name: _Model(from_cache) for name in backbones}
    accuracy = {name: 0.9 - 0.1 * i for i, name in enumerate(backbones)}
    trained = study.Trained(plans, models, accuracy, {n: n for n in backbones}, len(classes))
    sweeps = {}
    for i, name in enumerate(backbones):
        n = len(epsilons)
        sweep = AttackSweep(name)
        falling = list(np.linspace(0.6, 0.4, n) - 0.1 * i)
        sweep.curves = {"fgsm": _curve(epsilons, falling, falling, [0.99] * n),
                        "pgd": _curve(epsilons, [f - pgd_drop for f in falling], falling, [0.98] * n)}
        sweep.defense = [{"attack": "clean", "epsilon": 0.0, "attacked_accuracy": accuracy[name], "jpeg_accuracy": 0.8, "blur_accuracy": 0.7}]
        sweep.defense += [{"attack": a, "epsilon": e, "attacked_accuracy": 0.3, "jpeg_accuracy": 0.5 + e, "blur_accuracy": 0.35}
                          for a in ("fgsm", "pgd") for e in epsilons]
        sweeps[name] = sweep
    attacked = study.Attacked(sweeps, epsilons[-1], {"jpeg": 50, "blur": 3}, dict(accuracy), 10)
    return photos, trained, attacked


def test_headline_has_stable_keys_with_the_settings_in_the_detail():
    one = report.headline(*_results(["MobileNet"], [0.004, 0.016]), {"epsilons": [0.004, 0.016], "pgd_steps": 2})
    two = report.headline(*_results(["VGG16", "ResNet50"], [0.001, 0.002, 0.008], pgd_drop=0.2, from_cache=False),
                          {"epsilons": [0.001, 0.002, 0.008], "pgd_steps": 20})
    keys = [m.key for m in one]
    assert keys == [m.key for m in two] and len(set(keys)) == len(keys) and 4 <= len(keys) <= 10
    assert {"clean_accuracy", "fgsm_accuracy", "pgd_accuracy", "pgd_jpeg_accuracy", "pgd_blur_accuracy"} <= set(keys)
    for m in one + two:
        assert m.key.isidentifier() and not any(ch.isdigit() for ch in m.key)
        if m.key in reference.REFERENCE:  # the study's value beside ours where it gives one, nowhere else
            assert m.study == reference.REFERENCE[m.key].value and m.study_source
        else:
            assert m.study is None and m.reproduced is None
    by_key = {m.key: m for m in one}, {m.key: m for m in two}
    assert by_key[0]["pgd_accuracy"].detail == {"eps": 0.016, "steps": 2}
    assert by_key[1]["pgd_accuracy"].detail == {"eps": 0.008, "steps": 20}
    assert by_key[1]["pgd_jpeg_accuracy"].detail == {"quality": 50, "eps": 0.008, "steps": 20}
    # percentages, at the largest budget; with two backbones the mean of both
    assert by_key[0]["clean_accuracy"].unit == "%" and by_key[0]["clean_accuracy"].value == pytest.approx(90.0)
    assert by_key[0]["fgsm_accuracy"].value == pytest.approx(40.0)
    assert by_key[1]["clean_accuracy"].value == pytest.approx(85.0) and "mean" in by_key[1]["clean_accuracy"].label
    assert by_key[1]["pgd_accuracy"].value == pytest.approx(15.0)  # (0.4 - 0.2 + 0.3 - 0.2) / 2
    assert by_key[1]["pgd_jpeg_accuracy"].value == pytest.approx(50.8)
    assert by_key[0]["pgd_ssim"].value == pytest.approx(0.98) and by_key[0]["pgd_ssim"].unit == ""
    assert by_key[0]["models_from_cache"].value is True and by_key[1]["models_from_cache"].value is False


def test_extra_keeps_each_backbone():
    photos, trained, attacked = _results(["VGG16", "ResNet50"], [0.002, 0.008])
    per = report.per_backbone(trained, attacked)
    assert per["VGG16"]["clean_accuracy"] == pytest.approx(0.9) and per["ResNet50"]["pgd_accuracy"] == pytest.approx(0.3)


# --------------------------------------------------------------------------------------------------
# Section 6, from hand-made rows (no TensorFlow)


def _adaptive(through_blur):
    from helpers.studies.flickr_transfer_attacks.adaptive import AdaptiveSweep, defenses_of

    defenses = defenses_of({"jpeg": 50, "blur": 3}, eot_samples=2)
    sweep = AdaptiveSweep("MobileNet", 20, 10, defenses, undefended_clean=0.95)
    for eps, plain_blur, through in ((0.001, 0.8, through_blur[0]), (0.004, 0.3, through_blur[1])):
        base = {"epsilon": eps, "undefended_accuracy": 0.1, "plain_ssim": 0.998, "through_ssim": 0.997}
        sweep.rows.append({**base, "defense": "jpeg", "level": 50, "clean_accuracy": 0.9, "plain_accuracy": 0.1, "through_accuracy": 0.1})
        sweep.rows.append({**base, "defense": "blur", "level": 3, "clean_accuracy": 0.85, "plain_accuracy": plain_blur,
                           "through_accuracy": through})
    return study.Adaptive({"MobileNet": sweep}, {"jpeg": 50, "blur": 3}, [0.001, 0.004], 20, 10, 2)


def test_adaptive_prose_is_written_from_the_rows():
    text = report.adaptive_summary(_adaptive([0.5, 0.0]), {"MobileNet": "MobileNet"})
    assert "blur k=3: 85.0% on clean photos; at eps=0.004 plain PGD leaves 10.0% without the defense and 30.0% with it, " \
           "PGD through it 0.0%" in text
    assert "leaves 30.0 points less accuracy than the plain attack" in text  # (0.3 + 0.3) / 2
    assert "JPEG q=50" in text and "both attacks leave the same accuracy" in text
    assert "blur k=3 (at eps 0.001) still recovers at least 5 points" in text and "JPEG q=50 does not" in text
    assert "1/510" in text  # eps 0.001 is below half an 8-bit step
    nothing = report.adaptive_summary(_adaptive([0.1, 0.0]), {"MobileNet": "MobileNet"})
    assert "none of the defenses recovers 5 points over the undefended model at any budget" in nothing


def test_adaptive_figure_has_a_panel_per_defense():
    import matplotlib.pyplot as plt

    from helpers.studies.flickr_transfer_attacks import figures

    adaptive = _adaptive([0.5, 0.0])
    trained = study.Trained([], {}, {}, {"MobileNet": "MobileNet"}, 5)
    fig = figures.adaptive_curves(adaptive, trained, "MobileNet")
    top = fig.axes[:2]
    assert [ax.get_title() for ax in top] == ["JPEG q=50 (BPDA)", "blur k=3 (exact gradient)"]
    through = next(line for line in top[1].lines if line.get_label() == "PGD through the defense")
    assert list(through.get_ydata()) == [85.0, 50.0, 0.0]  # epsilon 0 is the clean photos after the defense
    bare = next(line for line in top[1].lines if line.get_label() == "plain PGD, no defense")
    assert list(bare.get_ydata()) == [95.0, 10.0, 10.0]  # and without it
    plt.close(fig)
