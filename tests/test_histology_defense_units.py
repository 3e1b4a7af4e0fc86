"""Unit tests for helpers.studies.histology_defense: pre-processors, the coarse-to-fine search, LightGBM as a
post-processor, tile-grouped splits, the harmonic-mean objective, loading a user's model file and the headline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.studies.histology_defense import postprocessors as post
from helpers.studies.histology_defense import preprocessors as pre
from helpers.studies.histology_defense.adversarial_set import AttackConfig, DefenseSet, attack_mix, build_defense_set, score
from helpers.studies.histology_defense.model import HistologyCNN, ModelFileError, load_model
from helpers.studies.histology_defense import report, study
from helpers.studies.histology_defense.parameters import PARAMETERS, MappingParam, check_combinations
from helpers.studies.histology_defense.reference import REFERENCE
from helpers.studies.histology_defense.decision_attack import DecisionResult
from helpers.studies.histology_defense.surrogate import Surrogate
from helpers.params import ParameterError


def _images(n=4, size=16, seed=0):
    return np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32)


@pytest.mark.parametrize("name,value", [("spatial_smoothing", 3), ("jpeg", 10), ("feature_squeezing", 2), ("total_variation", 0.5)])
def test_preprocessor_changes_inputs_and_keeps_float32_nchw(name, value):
    x = _images(2, 12)
    out, _ = pre.make_preprocessor(name, value, tvm_max_iter=3)(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert np.abs(out - x).mean() > 1e-3
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_total_variation_smooths_each_channel_separately():
    # A constant-per-channel image is already of minimal total variation: it must come back (nearly) unchanged,
    # which fails if the channel axis is mixed up with a spatial one.
    x = np.zeros((1, 3, 12, 12), np.float32)
    x[0, 0], x[0, 1], x[0, 2] = 0.2, 0.5, 0.9
    out, _ = pre.make_preprocessor("total_variation", 0.5, tvm_max_iter=5)(x)
    assert np.abs(out - x).max() < 0.05


def test_coarse_to_fine_finds_optimum_of_integer_function():
    calls = []

    def objective(v, stage):
        calls.append(stage)
        return {"score": -float((v - 37) ** 2)}

    result = pre.coarse_to_fine(objective, [1, 20, 40, 60, 80, 95], integer=True, fine_points=50)
    assert result.best["value"] == 37 and result.best["stage"] == "fine"
    assert all(20 <= r["value"] <= 60 for r in result.fine)
    assert calls.count("coarse") == 6


def test_coarse_to_fine_float_and_edge_of_grid():
    result = pre.coarse_to_fine(lambda v, s: {"score": -(v - 0.33) ** 2}, [0.0, 0.25, 0.5, 0.75, 1.0], integer=False, fine_points=11)
    assert abs(result.best["value"] - 0.33) <= (0.5 - 0.0) / 10 / 2 + 1e-9  # half a fine step between the neighbours
    edge = pre.coarse_to_fine(lambda v, s: {"score": -v}, [2, 4, 8], integer=True, fine_points=9)
    assert edge.best["value"] == 2 and {r["value"] for r in edge.fine} == {2, 3, 4}


def test_coarse_to_fine_ignores_nan_scores():
    result = pre.coarse_to_fine(lambda v, s: {"score": float("nan") if v == 5 else -abs(v - 5)}, [1, 5, 9], integer=True, fine_points=3)
    assert not np.isnan(result.best["score"])


def _defense_set(n_clean=40, n_adv=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n_clean + n_adv)
    family = np.array(["clean"] * n_clean + list(rng.choice(["fgsm", "pgd", "deepfool"], n_adv)))
    tile = np.concatenate([np.arange(n_clean), rng.integers(0, n_clean, n_adv)])
    return DefenseSet(np.zeros((len(y), 3, 4, 4), np.float32), y, family.astype(str), family.astype(str), tile)


def test_score_is_the_harmonic_mean_of_clean_and_adversarial_accuracy():
    data = _defense_set(4, 4)
    predicted = data.y.copy()
    adv = np.flatnonzero(data.is_adversarial)
    predicted[adv[:2]] = (data.y[adv[:2]] + 1) % 4  # half the adversarial images wrong
    result = score(predicted, data)
    assert result["clean"] == 1.0 and result["adversarial"] == 0.5
    assert result["harmonic"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert score(np.eye(4)[data.y], data)["harmonic"] == 1.0  # scores (N, C) work too
    undefended = np.where(data.is_adversarial, (data.y + 1) % 4, data.y)
    assert score(undefended, data)["harmonic"] == 0.0


def _separable_softmax(data, seed=0):
    """Softmax outputs whose argmax is always wrong, but shifted by one class: a remapping LightGBM can learn."""
    rng = np.random.default_rng(seed)
    wrong = (data.y + 1) % 4
    probs = rng.dirichlet(np.ones(4) * 0.5, len(data.y)).astype(np.float32) * 0.3
    probs[np.arange(len(wrong)), wrong] += 0.7
    return probs


def test_lightgbm_postprocessor_beats_chance_on_separable_softmax_outputs():
    data = _defense_set(200, 200)
    probs = _separable_softmax(data)
    train, test = post.tile_split(data, 0.3, seed=0)
    assert score(probs[test], data.take(test))["overall"] == 0.0
    lgbm = post.fit_lightgbm(probs, data, train, learning_rate=0.1, num_leaves=15, n_estimators=30)
    out = lgbm(probs[test])
    assert out.shape == (len(test), 4) and np.allclose(out.sum(1), 1, atol=1e-5)
    assert score(out, data.take(test))["overall"] > 0.9


def test_lightgbm_postprocessor_pads_missing_classes_and_needs_fitting():
    probs = np.eye(4, dtype=np.float32)[[0, 1, 0, 1] * 10]
    lgbm = post.LightGBMPostprocessor(min_child_samples=1, n_estimators=5)
    with pytest.raises(RuntimeError):
        lgbm(probs)
    out = lgbm.fit(probs, np.array([0, 3] * 20))(probs)
    assert out.shape == (40, 4) and out[:, 1:3].sum() == 0 and (out.argmax(1) == np.array([0, 3] * 20)).all()
    constant = post.LightGBMPostprocessor().fit(probs, np.full(40, 2))(probs)
    assert (constant.argmax(1) == 2).all()


def test_tile_split_keeps_every_tile_on_one_side():
    data = _defense_set(30, 90)
    rest, held = post.tile_split(data, 0.25, seed=3)
    assert len(rest) + len(held) == len(data)
    assert not set(data.tile[rest]) & set(data.tile[held])
    inner_fit, inner_val = post.tile_split(data, 0.5, seed=1, within=rest)
    assert set(inner_fit) | set(inner_val) == set(rest)


def test_art_postprocessors_and_grid_search_split_study_and_attack_holdout_run():
    data = _defense_set(80, 120)
    probs = _separable_softmax(data)
    for name in post.ART_POSTPROCESSORS:
        out = post.make_art_postprocessor(name)(probs)
        assert out.shape == probs.shape
    pool, test = post.tile_split(data, 0.3, seed=0)
    fit, val = post.tile_split(data, 0.2, seed=1, within=pool)
    grid = post.grid_search(probs, data, fit, val, learning_rates=[0.1], num_leaves=[4, 8], rounds=[5], min_child_samples=5)
    assert len(grid.records) == 2 and grid.best["harmonic"] > 0.5
    settings = {"learning_rate": 0.1, "num_leaves": 4, "n_estimators": 5, "min_child_samples": 5}
    records = post.split_ratio_study(probs, data, pool, test, ratios=[0.1, 0.4], seeds=[0, 1], settings=settings)
    summary = post.summarize_split_ratios(records)
    assert [r["ratio"] for r in summary] == [0.1, 0.4] and all(r["seeds"] == 2 for r in summary)
    rows = post.attack_holdout(probs, data, pool, test, settings=settings)
    assert {r["held_out_attack"] for r in rows} <= {"fgsm", "pgd", "deepfool"} and rows


def test_defense_set_keeps_only_misclassified_adversarials():
    from helpers.attacks import as_art_classifier

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4)).eval()  # easy to fool
    x = _images(12, 16, seed=1)
    classifier = as_art_classifier(model, input_shape=(3, 16, 16), nb_classes=4)
    y = classifier.predict(x).argmax(1)  # the model's own answers: every image is "correctly classified"
    configs = attack_mix(["fgsm", "pgd", "deepfool"], fgsm_epsilons=[0.3], pgd_epsilons=[0.3], pgd_steps=3,
                         deepfool_max_iter=5, deepfool_overshoot=0.02)
    assert [c.label for c in configs] == ["FGSM eps=0.3", "PGD eps=0.3", "DeepFool"]
    data, records = build_defense_set(classifier, x, y, configs, batch_size=8)
    assert data.composition()["clean"] == 12 and len(records) == 3
    adv = data.is_adversarial
    assert adv.sum() == sum(r["kept"] for r in records) > 0
    assert (classifier.predict(data.x[adv]).argmax(1) != data.y[adv]).all()
    assert set(data.tile[adv]) <= set(range(12))
    with pytest.raises(ValueError):
        attack_mix(["cw"], fgsm_epsilons=[], pgd_epsilons=[], pgd_steps=1, deepfool_max_iter=1, deepfool_overshoot=0.0)


def test_load_model_torchscript_state_dict_and_clear_errors(tmp_path):
    torch.manual_seed(0)
    model = HistologyCNN().eval()
    x = torch.rand(2, 3, 32, 32)
    expected = model(x)
    state_path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), state_path)
    assert torch.allclose(load_model(state_path, image_size=32)(x), expected, atol=1e-5)
    script_path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(model), script_path)
    assert torch.allclose(load_model(script_path, image_size=32)(x), expected, atol=1e-5)

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="corrupt.pt"):
        load_model(corrupt, image_size=32)
    with pytest.raises(ModelFileError, match="missing.pt"):
        load_model(tmp_path / "missing.pt", image_size=32)
    wrong = tmp_path / "wrong.pt"
    torch.save({"weight": torch.zeros(3)}, wrong)
    with pytest.raises(ModelFileError, match="wrong.pt.*not of HistologyCNN"):
        load_model(wrong, image_size=32)
    pickled = tmp_path / "pickled.pt"
    torch.save(model, pickled)  # a whole pickled module: refused by weights_only=True
    with pytest.raises(ModelFileError, match="pickled.pt"):
        load_model(pickled, image_size=32)
    ten_classes = tmp_path / "ten.pt"
    torch.jit.save(torch.jit.script(_TenClasses()), ten_classes)
    with pytest.raises(ModelFileError, match="ten.pt.*outputs shape"):
        load_model(ten_classes, image_size=32)


class _TenClasses(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3)).repeat(1, 4)[:, :10]


def test_parameter_checks():
    MappingParam(dict).check("mapping", {"TUM": "cancer"})
    with pytest.raises(ParameterError, match="tumour"):
        MappingParam(dict).check("mapping", {"TUM": "tumour"})
    with pytest.raises(ParameterError):
        PARAMETERS["jpeg_grid"].check("jpeg_grid", [0, 50])
    with pytest.raises(ParameterError, match="table_preprocessors"):
        check_combinations({"table_preprocessors": ["jpeg"], "preprocessors": ["spatial_smoothing"], "attacks": []})


def test_too_few_tiles_per_class_are_refused_at_the_first_cell_with_one_line():
    """max_per_class=2 once ran for minutes and failed in the post-processor stage; the parameter check refuses it."""
    from conftest import default_parameters
    from helpers.runner.catalog import list_studies, load_preset

    smoke = {**default_parameters("histology_defense"),
             **load_preset(next(s for s in list_studies() if s.id == "histology_defense"), "smoke")}
    check_combinations(smoke)  # the smoke preset itself passes
    with pytest.raises(ParameterError, match=r"max_per_class=2 .* use max_per_class >= 4") as info:
        check_combinations({**smoke, "max_per_class": 2})
    assert "\n" not in str(info.value)
    with pytest.raises(ParameterError, match=r"use max_per_class >= 7"):
        check_combinations({**smoke, "max_per_class": 6, "test_fraction": 0.3})
    check_combinations({**smoke, "max_per_class": None})  # every tile: no cap to check


def test_class_labels_postprocessor_keeps_each_rows_answer():
    probs = np.array([[0.1, 0.7, 0.1, 0.1], [0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]], np.float32)
    out = post.make_art_postprocessor("class_labels")(probs)
    assert (out == np.eye(4, dtype=np.float32)[[1, 0, 3]]).all()


def _stage_results(*, eps, steps, smoothing_window, searched=("spatial_smoothing", "jpeg"), holdout=True):
    """The stage results ``report.headline`` reads, built by hand (no model, attack or search runs)."""
    mix = _defense_set(40, 60)
    fixed = study.FixedModel(None, [], "trained", np.zeros((40, 3, 4, 4), np.float32), mix.y[:40], np.arange(40), 0.9, 50)
    adv = study.AdversarialMix(None, [], mix, [], np.eye(4, dtype=np.float32)[mix.y], {"overall": 0.4, "clean": 1.0, "adversarial": 0.0, "harmonic": 0.0})
    values = {"spatial_smoothing": smoothing_window, "jpeg": 30, "feature_squeezing": 4, "total_variation": 0.5}
    searches = {n: pre.SearchResult([], [], {"value": values[n], "harmonic": 0.6, "clean": 0.9, "adversarial": 0.45, "images": len(mix)})
                for n in searched}
    splits = {"pool": np.arange(70), "test": np.arange(70, 100), "fit": np.arange(56), "validation": np.arange(56, 70)}
    post_results = study.PostResults(splits, {}, "jpeg", {}, 12)
    counts = {"harmonic": 0.75}
    final = study.FinalEvaluation("jpeg", 30, None, None, np.zeros(len(mix)), {"harmonic": 0.85}, counts, 0.0)
    rows = [{"held_out_attack": "pgd", "test_images": 5, "seen": {"adversarial": 0.8, "harmonic": 0.8},
             "unseen": {"adversarial": 0.3, "harmonic": 0.4}}] if holdout else []
    share = lambda right: np.arange(20) < round(20 * right)  # noqa: E731 (20 tiles, the first ones right)
    correct = {"clean": {"undefended": share(1.0), "pre-processor": share(0.9), "defense": share(0.9)},
               "transfer": {"undefended": share(0.0), "pre-processor": share(0.5), "defense": share(0.7)},
               "bpda": {"undefended": share(0.0), "pre-processor": share(0.1), "defense": share(0.2)}}
    adaptive = study.AdaptiveResult(np.arange(20), None, np.zeros(20, dtype=np.int64), eps, steps, None, None, correct,
                                    "JPEG compression (quality=30)")
    y = np.zeros(4, dtype=np.int64)
    outputs = {"clean": np.eye(4)[[0, 0, 0, 1]], "transfer": np.eye(4)[[0, 0, 1, 1]], "bpda": np.eye(4)[[0, 1, 1, 1]],
               "end_to_end": np.eye(4)[[0, 0, 1, 1]]}
    row, correct = study.defense_row("jpeg", 30, "lightgbm", "LightGBM", outputs, y)
    surrogate = Surrogate(None, 100, 1.0, 0.95, 20, 0.9, 50)
    e2e = study.EndToEndResult(np.arange(4), eps, steps, [row], {("jpeg", "lightgbm"): correct}, {"jpeg": surrogate}, ("jpeg", "lightgbm"))
    decision = study.DecisionAttack(DecisionResult(2, eps, np.array([True, True]), np.array([0.01, np.inf]), np.array([False, True]), 2, 100,
                                                   {}, np.zeros((2, 3, 4, 4))), {}, "JPEG compression (quality=30) + LightGBM")
    params = {"adaptive_eps": eps, "adaptive_steps": steps}
    return fixed, adv, searches, post_results, final, rows, adaptive, e2e, decision, params


def test_headline_keys_are_stable_and_carry_the_studys_values():
    first = report.headline(*_stage_results(eps=0.03, steps=10, smoothing_window=5))
    second = report.headline(*_stage_results(eps=0.1, steps=40, smoothing_window=9, searched=("jpeg",), holdout=False))
    keys = [m.key for m in first]
    assert keys == [m.key for m in second] and len(set(keys)) == len(keys) and 4 <= len(keys) <= 10
    assert all(k.isidentifier() and not any(c.isdigit() for c in k) for k in keys)
    by_key = {m.key: m for m in first}
    for key, ref in REFERENCE.items():
        assert key in by_key, f"REFERENCE has {key!r}, which the headline does not report"
        assert by_key[key].study == ref.value and by_key[key].study_source == ref.source
    assert by_key["final_harmonic_all_images"].study == pytest.approx(84.46)
    assert by_key["final_harmonic_all_images"].value == pytest.approx(85.0) and by_key["final_harmonic_all_images"].reproduced
    assert by_key["adaptive_pgd_defense_accuracy"].value == pytest.approx(20.0)
    assert by_key["adaptive_pgd_defense_accuracy"].detail["eps"] == 0.03 and by_key["adaptive_pgd_defense_accuracy"].detail["steps"] == 10
    assert by_key["spatial_smoothing_harmonic"].detail["window_size"] == 5
    end_to_end = by_key["end_to_end_defense_accuracy"]  # 2 of 4 tiles survive the end-to-end attack, 1 all three
    assert end_to_end.value == pytest.approx(50.0) and end_to_end.detail["worst_case"] == pytest.approx(25.0)
    assert end_to_end.detail["surrogate_agreement_held_out"] == pytest.approx(95.0) and end_to_end.detail["hopskipjump_accuracy"] == 50.0
    # Parameter values live in the detail: at other settings the same keys carry the new values.
    later = {m.key: m for m in second}
    assert later["adaptive_pgd_defense_accuracy"].detail["eps"] == 0.1
    assert later["spatial_smoothing_harmonic"].value is None  # not searched at that setting: reported as missing, not dropped
    assert later["unseen_attack_adversarial_accuracy"].value is None


# ---------------------------------------------------------------------------------------------------
# The readable methods, the intervals and the findings


@pytest.mark.parametrize("window", range(1, 12))
def test_readable_median_filter_and_the_fast_one_equal_arts(window):
    """Exactly equal, ties included (quantised pixels, as in PNG tiles) and on a non-square image."""
    rng = np.random.default_rng(window)
    x = (rng.integers(0, 8, (3, 3, 23, 17)) / 7).astype(np.float32)
    art = pre.art_spatial_smoothing(window)(x)[0]
    assert np.array_equal(pre.median_filter(x, window), art)
    assert np.array_equal(pre.make_preprocessor("spatial_smoothing", window)(x)[0], art)


def test_median_selection_network_picks_the_middle_value():
    for n in (1, 4, 9, 16, 25, 36):
        ops, middle = pre.median_selection_network(n)
        for values in np.random.default_rng(n).permutation(np.tile(np.arange(n), (200, 1)).T).T:
            wires = list(values)
            for i, j in ops:
                wires[i], wires[j] = min(wires[i], wires[j]), max(wires[i], wires[j])
            assert wires[middle] == n // 2
    assert len(pre.median_selection_network(9)[0]) < 36  # far fewer comparisons than a full sort of 3x3


def test_readable_reverse_sigmoid_equals_arts():
    probs = np.random.default_rng(0).dirichlet(np.full(4, 0.3), 500).astype(np.float32)
    for beta, gamma in ((1.0, 0.1), (0.5, 1.0), (2.0, 0.3)):
        art = post.make_art_postprocessor("reverse_sigmoid", reverse_sigmoid_beta=beta, reverse_sigmoid_gamma=gamma)(probs)
        assert np.abs(post.reverse_sigmoid(probs, beta=beta, gamma=gamma) - art).max() < 1e-6


def test_paired_difference_counts_only_the_tiles_that_changed():
    before = np.array([True] * 80 + [False] * 20)
    same = study.paired_difference(before, before)
    assert same.estimate == 0 and same.low < 0 < same.high and same.high - same.low < 0.05  # never of width zero
    assert study.paired_difference(before[:4], before[:4]).high > 0.4  # four unchanged tiles prove little
    after = before.copy()
    after[:10] = False  # ten tiles broken by the longer attack
    change = study.paired_difference(before, after)
    assert change.estimate == pytest.approx(-0.10) and change.low < -0.10 < change.high < 0


def _convergence(lost: int, tiles: int = 500) -> "study.Convergence":
    before = np.arange(tiles) < tiles // 4
    after = before.copy()
    after[:lost] = False
    return study.Convergence(10, {"bpda": (before, after), "end_to_end": (before, before.copy())})


def test_convergence_verdicts_on_constructed_numbers():
    from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN

    # 25% of 500 tiles: a Wilson half-width of about 3.8 points
    assert report.judge_converged(_convergence(0)).status == HOLDS and _convergence(0).converged("bpda")
    assert report.judge_converged(_convergence(60)).status == DOES_NOT_HOLD and not _convergence(60).converged("bpda")
    assert report.judge_converged(_convergence(19)).status == NOT_SHOWN  # -3.8 points: its interval straddles the half-width


def _searches(smoothing: tuple[float, float], jpeg: tuple[float, float], clean_images: int = 400, adversarial_images: int = 1600):
    from helpers.metrics import harmonic_mean

    def record(value, clean, adversarial):
        return {"value": value, "clean": clean, "adversarial": adversarial, "harmonic": harmonic_mean(clean, adversarial),
                "images": clean_images + adversarial_images, "clean_images": clean_images, "adversarial_images": adversarial_images}

    return {"spatial_smoothing": pre.SearchResult([], [], record(3, *smoothing)), "jpeg": pre.SearchResult([], [], record(20, *jpeg))}


def test_smoothing_finding_holds_fails_or_is_not_shown_with_the_intervals():
    from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN

    assert report.judge_smoothing_best(_searches((0.95, 0.80), (0.90, 0.50))).status == HOLDS
    fails = report.judge_smoothing_best(_searches((0.90, 0.50), (0.95, 0.80)))
    assert fails.status == DOES_NOT_HOLD and "JPEG" in fails.measured
    assert report.judge_smoothing_best(_searches((0.95, 0.80), (0.95, 0.79))).status == NOT_SHOWN
    assert report.judge_smoothing_best(_searches((0.95, 0.80), (0.90, 0.50), 10, 20)).status == NOT_SHOWN  # too few images


def _lightgbm_post(pre_accuracy: tuple[float, float], post_accuracy: tuple[float, float], images: tuple[int, int] = (120, 480)):
    from helpers.metrics import harmonic_mean

    row = {"postprocessor": "lightgbm", "pre_clean": pre_accuracy[0], "pre_adversarial": pre_accuracy[1],
           "pre_harmonic": harmonic_mean(*pre_accuracy), "post_clean": post_accuracy[0], "post_adversarial": post_accuracy[1],
           "post_harmonic": harmonic_mean(*post_accuracy), "clean_images": images[0], "adversarial_images": images[1]}
    study_ = study.PostStudy("spatial_smoothing", 3, None, None, None, [row])
    return study.PostResults({}, {"spatial_smoothing": study_}, "spatial_smoothing", {}, 30)


def test_harmonic_difference_is_paired_and_bootstrapped_over_tiles():
    rng = np.random.default_rng(0)
    tile = np.repeat(np.arange(300), 4)
    adversarial = np.tile([False, True, True, True], 300)
    better = rng.random(1200) < np.where(adversarial, 0.7, 0.95)
    worse = better & (rng.random(1200) < 0.85)  # the same images, some answers lost
    difference = study.harmonic_difference(better, worse, adversarial, tile)
    assert 0 < difference.low < difference.estimate < difference.high
    same = study.harmonic_difference(better, better, adversarial, tile)
    assert same.estimate == same.low == same.high == 0


def test_lightgbm_finding_on_constructed_numbers():
    from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN

    assert report.judge_lightgbm_raises(_lightgbm_post((0.95, 0.50), (0.93, 0.85))).status == HOLDS
    assert report.judge_lightgbm_raises(_lightgbm_post((0.95, 0.85), (0.80, 0.40))).status == DOES_NOT_HOLD
    assert report.judge_lightgbm_raises(_lightgbm_post((0.95, 0.50), (0.93, 0.55))).status == NOT_SHOWN


def test_hopskipjump_finding_and_median_queries():
    from helpers.findings import DOES_NOT_HOLD, HOLDS

    def decision(robust_tiles: int, missed: int, tiles: int = 100):
        clean = np.ones(tiles, dtype=bool)
        distances = np.where(np.arange(tiles) < robust_tiles, np.inf, 0.01)
        result = DecisionResult(tiles, 0.03, clean, distances, distances > 0.03, tiles, 1000 * tiles, {}, None,
                                np.arange(tiles, dtype=float) * 10)
        survived = np.zeros(tiles, dtype=bool)
        survived[robust_tiles:robust_tiles + missed] = True  # broken by HopSkipJump, missed by every gradient attack
        return study.DecisionAttack(result, {}, "defense", survived)

    from helpers.findings import NOT_SHOWN

    assert report.judge_hopskipjump(decision(10, 0)).status == HOLDS  # it breaks nothing the gradient attacks missed
    assert report.judge_hopskipjump(decision(80, 0)).status == HOLDS  # a weak HopSkipJump still agrees
    assert report.judge_hopskipjump(decision(10, 30)).status == DOES_NOT_HOLD  # 30 tiles the gradients missed
    assert report.judge_hopskipjump(decision(10, 5)).status == NOT_SHOWN
    assert decision(10, 0).result.median_queries == pytest.approx(495.0)


def test_adaptive_tiles_are_the_correct_tiles_lightgbm_never_saw():
    mix = _defense_set(30, 40)
    fixed = study.FixedModel(None, [], "trained", np.zeros((50, 3, 4, 4), np.float32), np.arange(50) % 4,
                             np.arange(0, 60, 2), 0.9, 60)  # the mix uses 30 of the 50 correct tiles
    adv = study.AdversarialMix(None, [], mix, [], None, {})
    pool = np.flatnonzero(mix.tile < 20)  # mix tiles 0-19 fit / validate LightGBM
    post_results = study.PostResults({"pool": pool, "test": np.flatnonzero(mix.tile >= 20)}, {}, "jpeg", {}, 10)
    tiles = study.adaptive_tiles(fixed, adv, post_results, {"adaptive_size": None, "seed": 0})
    assert set(tiles) == set(range(50)) - set(fixed.mix_index[:20])
    assert len(study.adaptive_tiles(fixed, adv, post_results, {"adaptive_size": 12, "seed": 0})) == 12


def test_findings_pair_the_two_defenses_on_the_same_images_when_they_can():
    """With both fine stages on the whole mix the comparison is paired (bootstrap over tiles): a 3-point gain on 2,000
    images holds although the two Wilson-based intervals overlap."""
    from helpers.findings import HOLDS, NOT_SHOWN

    rng = np.random.default_rng(1)
    tiles = 400
    mix = DefenseSet(np.zeros((5 * tiles, 1), np.float32), np.zeros(5 * tiles, dtype=np.int64),
                     np.array((["clean"] + ["pgd"] * 4) * tiles), np.array((["clean"] + ["pgd"] * 4) * tiles),
                     np.repeat(np.arange(tiles), 5))
    right_b = rng.random(len(mix)) < np.where(mix.is_adversarial, 0.55, 0.9)
    right_a = right_b | (rng.random(len(mix)) < 0.06)  # a few more answers right, on the same images
    probs = lambda right: np.where(right[:, None], np.eye(4)[0], np.eye(4)[1]).astype(np.float32)  # noqa: E731

    def record(value, right):
        return {"value": value, **score(probs(right), mix), "images": len(mix), "probs": probs(right),
                "clean_images": int((~mix.is_adversarial).sum()), "adversarial_images": int(mix.is_adversarial.sum())}

    searches = {"spatial_smoothing": pre.SearchResult([], [], record(3, right_a)), "jpeg": pre.SearchResult([], [], record(20, right_b))}
    assert report.judge_smoothing_best(searches).status == NOT_SHOWN  # unpaired: the intervals overlap
    paired = report.judge_smoothing_best(searches, mix)
    assert paired.status == HOLDS and "bootstrap over source tiles" in paired.evidence


def test_lightgbm_gain_finding_is_paired_on_the_worst_case():
    from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN

    def result(alone_right: int, lgbm_right: int, tiles: int = 500):
        alone = {"worst": np.arange(tiles) < alone_right}
        lgbm = {"worst": np.arange(tiles) < lgbm_right}
        row = {"preprocessor": "jpeg", "postprocessor": "lightgbm", "defense": "JPEG compression (quality=10)"}
        return study.EndToEndResult(np.arange(tiles), 0.03, 20, [row], {("jpeg", "none"): alone, ("jpeg", "lightgbm"): lgbm},
                                    {}, ("jpeg", "lightgbm"))

    assert report.judge_gain_survives(result(280, 230)).status == HOLDS  # LightGBM loses 50 tiles in the worst case
    assert report.judge_gain_survives(result(230, 280)).status == DOES_NOT_HOLD
    assert report.judge_gain_survives(result(230, 232)).status == NOT_SHOWN
