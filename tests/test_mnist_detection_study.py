"""Study 3 end to end on a small scale: on a mixed set of clean and FGSM digits the hybrid detector is
more accurate than the undefended model; BIM-A stops each digit once it is misclassified; the adaptive attack
stays in budget, fools the model and lowers the detector's flag rate below a non-adaptive attack's.
Then the contract's pieces: the headline's keys, the parameter checks and the presets. (The findings and the
readable methods beside the fast ones: tests/test_mnist_detection_lessons.py.)"""
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import yaml

from conftest import needs_mnist
from helpers.params import ParameterError, check_parameters
from helpers.studies.mnist_uncertainty_detection import detector, parameters, report, robust, study
from helpers.studies.mnist_uncertainty_detection.adaptive import DetectorView, adaptive_attack, objective
from helpers.studies.mnist_uncertainty_detection.bim import bim_a, run_in_batches
from helpers.studies.mnist_uncertainty_detection.model import DropoutLeNet
from helpers.studies.mnist_uncertainty_detection.reference import REFERENCE
from helpers.training import fit

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_mnist_uncertainty_detection.ipynb"
PRESETS = NOTEBOOK.parent / "presets" / "mnist_uncertainty_detection"

PARAMS = {"seed": 0, "batch_size": 100, "fgsm_eps": 0.3, "bim_eps": 0.3, "bim_steps": 10, "bim_step_size": 0.03,
          "mc_passes": 20, "crop_size": 24, "repeats": 3}


@pytest.fixture(scope="module")
def trained():
    from helpers.data import load_mnist

    torch.manual_seed(0)
    data = load_mnist(3000, 500, seed=0)
    model = DropoutLeNet(width=8, hidden=64)
    fit(model, data.x_train, data.y_train, epochs=2, batch_size=64, lr=2e-3)
    model.eval()
    index = study.correctly_classified(model, data.x_test, data.y_test, count=200, seed=0)
    return model, data.x_test[index].numpy(), data.y_test[index].numpy()


@needs_mnist
def test_detector_beats_the_undefended_model_on_a_mixed_fgsm_set(trained):
    model, x, y = trained
    run = study.attack_and_detect("fgsm", model, x, y, PARAMS)
    assert len(run.mixed) == 2 * len(x) and run.mixed.is_adversarial.mean() == 0.5
    assert run.attack_success > 0.5, "FGSM should fool the small model on most digits"
    hybrid = run.evaluations["hybrid"]
    assert hybrid["tp"] + hybrid["fn"] == len(x) and hybrid["tn"] + hybrid["fp"] == len(x)
    assert hybrid["accuracy"] > run.undefended_accuracy + 0.1
    assert hybrid["labeled_clean"]["accuracy"] > run.undefended_accuracy
    rows, columns = report.detection_table({"fgsm": run})
    assert rows[0][1] == "ours" and rows[1][1] == "study" and len(rows[0]) == len(columns)


@needs_mnist
def test_repeats_give_an_interval_and_the_advantage_is_paired(trained):
    model, x, y = trained
    run = study.attack_and_detect("fgsm", model, x[:100], y[:100], PARAMS)
    assert len(run.repeats) == 3
    assert run.repeats[0]["hybrid"]["accuracy"] == run.evaluations["hybrid"]["accuracy"]
    spread = run.spread("hybrid")
    assert spread.low <= spread.estimate <= spread.high
    advantage = run.advantage("hybrid", "crops only")
    by_hand = np.mean([r["hybrid"]["accuracy"] - r["crops only"]["accuracy"] for r in run.repeats])
    assert advantage.estimate == pytest.approx(by_hand)
    # Per digit, the first repeat's correct decisions add up to its accuracy.
    assert run.per_digit["hybrid"].sum() / len(run.mixed) == pytest.approx(run.evaluations["hybrid"]["accuracy"])


def _bim_a(model, x, y, steps):
    return run_in_batches(bim_a, model, x, y, eps=0.3, steps=steps, step_size=0.02)


def _wrong(model, x, y):
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(1).numpy() != y


@needs_mnist
def test_bim_a_stops_each_digit_once_it_is_misclassified(trained):
    model, x, y = trained
    x, y = x[:60], y[:60]
    by_steps = {k: _bim_a(model, x, y, k) for k in range(7)}   # 0 steps: the clean digits
    long = _bim_a(model, x, y, 20)
    wrong = {k: _wrong(model, adv, y) for k, adv in by_steps.items()}
    assert not wrong[0].any() and wrong[6].any() and _wrong(model, long, y).mean() > 0.9
    # The step that first fools a digit is its last: every later run (6 or 20 steps) returns it unchanged.
    first = np.array([next((k for k in range(1, 7) if wrong[k][i]), 0) for i in range(len(y))])
    for i in np.nonzero(first)[0]:
        k = first[i]
        np.testing.assert_array_equal(by_steps[6][i], by_steps[k][i])
        np.testing.assert_array_equal(long[i], by_steps[k][i])
        assert not wrong[k - 1][i], "one step earlier the digit was still right"
    # Digits still right after 6 steps kept moving.
    moving = first == 0
    assert moving.any() and all(np.abs(long[i] - by_steps[6][i]).max() > 0 for i in np.nonzero(moving)[0])
    assert np.abs(long - x).max() <= 0.3 + 1e-6 and long.min() >= 0 and long.max() <= 1
    assert not model.training


@needs_mnist
def test_adaptive_attack_stays_in_budget_and_fools_the_model(trained):
    model, x, y = trained
    x, y = x[:40], y[:40]
    out = adaptive_attack(model, x, y, eps=0.2, steps=8, step_size=0.05, eot_samples=4, crop_size=24, kappa=5.0,
                          crop_weight=1.0, checkpoints=(2, 4), device="cpu")
    assert sorted(out) == [2, 4, 8]
    x_adv = out[8]
    assert np.abs(x_adv - x).max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        fooled = (model(torch.from_numpy(x_adv)).argmax(1).numpy() != y).mean()
    assert fooled > 0.5
    assert all(p.requires_grad for p in model.parameters()), "the attack must give the weights their gradients back"


@needs_mnist
def test_adaptive_loss_lowers_the_detectors_flag_rate(trained):
    """Thresholds tuned on BIM-A catch most BIM-A digits; at the same budget the adaptive digits (margin on
    every dropout pass) are flagged far less often, are as certain as clean digits, and are misclassified."""
    model, x, y = trained
    params = {**PARAMS, "repeats": 1}
    x_bim = run_in_batches(bim_a, model, x, y, eps=0.3, steps=10, step_size=0.03)
    reference = study.evaluate_mixed("bim_a", model, x, x_bim, y, params)
    settings = reference.evaluations["hybrid"]["settings"][0]
    x_ad, y_ad = x[:80], y[:80]
    adv = adaptive_attack(model, x_ad, y_ad, eps=0.3, steps=30, step_size=0.02, eot_samples=8, crop_size=24, kappa=10.0,
                          seed=1)[30]

    def flag_rate(images):
        scores = detector.score(model, detector.make_mixed(images, images, y_ad), passes=20, crop_size=24, seed=5)
        return detector.fixed_rule("hybrid", settings, scores)[:len(images)].mean(), scores

    bim_rate, _ = flag_rate(x_bim[:80])
    adaptive_rate, scores = flag_rate(adv)
    assert bim_rate > 0.6
    assert adaptive_rate < bim_rate - 0.3
    assert (scores.provisional[:80] != y_ad).mean() > 0.8
    # The objective itself (minus the margin hinge over 8 dropout passes): higher on the adaptive digits than on
    # the clean ones they came from.
    view = DetectorView(model, 8)
    with torch.no_grad():
        clean = objective(view(torch.from_numpy(x_ad)), torch.from_numpy(y_ad), kappa=10.0)
        attacked = objective(view(torch.from_numpy(adv)), torch.from_numpy(y_ad), kappa=10.0)
    assert attacked.mean() > clean.mean()


def test_convergence_marks_include_the_default_and_smaller_step_counts():
    assert study.step_marks(50) == [5, 10, 25, 50]
    assert study.step_marks(3) == [1, 2, 3]
    c = study.Convergence(10, 50, 8, {8: {5: 0.2, 50: 0.9}, 16: {50: 0.92, 100: 0.93}}, {1: 0.5, 8: 0.9, 16: 0.92})
    assert c.default_rate == 0.9 and c.doubled_rate == 0.93 and c.doubling_gain == pytest.approx(0.03)


# ---------------------------------------------------------------------------------------------------
# The headline, on hand-made scores (no model): the same keys whatever the settings


def _fake_run(name: str, n: int, separation: float, seed: int) -> study.AttackRun:
    """A scored mixed set of ``n`` clean digits and their adversarial copies: adversarial uncertainty is higher
    by ``separation``, adversarial crops agree less, and half the adversarials are misclassified."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    mixed = detector.make_mixed(np.zeros((n, 1, 28, 28), np.float32), np.ones((n, 1, 28, 28), np.float32), y)
    adv = mixed.is_adversarial
    uncertainty = rng.uniform(0, 0.1, 2 * n) + separation * adv
    votes = np.where(adv, rng.integers(0, 4, 2 * n), rng.integers(3, 6, 2 * n))
    wrong = adv & (rng.random(2 * n) < 0.5)
    provisional = np.where(wrong, (mixed.y + 1) % 10, mixed.y)
    return study.evaluate(name, mixed, detector.Scores(uncertainty, provisional, votes, provisional))


def _headline(params: dict, n: int, separation: float):
    runs = {name: _fake_run(name, n, separation, seed) for seed, name in enumerate(study.ATTACK_NAMES)}
    adaptive_run = _fake_run("adaptive", n // 2, separation / 4, seed=7)
    adaptive = study.judge_adaptive(adaptive_run, runs, adaptive_run.mixed.x[n // 2:], params)
    adaptive.convergence = study.Convergence(5, params["adaptive_steps"], params["adaptive_eot"],
                                             {params["adaptive_eot"]: {params["adaptive_steps"]: 0.9},
                                              2 * params["adaptive_eot"]: {2 * params["adaptive_steps"]: 0.91}},
                                             {params["adaptive_eot"]: 0.9})
    evaluation = robust.RobustEvaluation("adversarially trained", 100, 97, 60, 0.3, 40, 1)
    natural = robust.RobustEvaluation("natural", 100, 99, 0, 0.3, 40, 1)
    reference = study.RobustReference([], False, evaluation, natural, 1, 3)
    trained = study.Trained(None, [], False, 0.985, 0.98, params["mc_passes"], params["test_size"])
    return (report.headline(trained, runs, adaptive, reference, params),
            report.details(trained, runs, adaptive, reference, study.roc_aucs(runs)))


SMALL = {"test_size": 300, "mc_passes": 10, "fgsm_eps": 0.3, "bim_eps": 0.3, "bim_steps": 3, "bim_step_size": 0.03,
         "jsma_theta": 1.0, "jsma_gamma": 0.1, "adaptive_eps": 0.3, "adaptive_steps": 3, "adaptive_eot": 2}
LARGE = {"test_size": 10000, "mc_passes": 100, "fgsm_eps": 0.1, "bim_eps": 0.2, "bim_steps": 40, "bim_step_size": 0.01,
         "jsma_theta": 0.5, "jsma_gamma": 0.05, "adaptive_eps": 0.1, "adaptive_steps": 100, "adaptive_eot": 16}


def test_headline_keys_are_stable_and_carry_the_study_values():
    small, _ = _headline(SMALL, 40, separation=0.2)
    large, extra = _headline(LARGE, 120, separation=0.05)
    keys = [m.key for m in small]
    assert keys == [m.key for m in large], "the headline keys must not depend on the parameters"
    assert 4 <= len(keys) <= 12 and len(set(keys)) == len(keys) and all(k.isidentifier() for k in keys)
    assert {"bim_a_detection_accuracy", "bim_b_detection_accuracy", "adaptive_pass_and_fool",
            "adaptive_retuned_pass_and_fool", "robust_pgd_accuracy"} <= set(keys)
    assert set(REFERENCE) <= set(keys), "every reference value needs its metric"
    for m in small + large:
        if m.key in REFERENCE:
            assert m.study == REFERENCE[m.key].value and m.study_source == REFERENCE[m.key].source
            assert m.reproduced is not None
        else:
            assert m.study is None
        assert m.unit == "%" and 0.0 <= m.value <= 100.0, f"{m.key} must be a percentage, got {m.value}"
    by_key = {m.key: m for m in small}, {m.key: m for m in large}
    # The settings are the metrics' detail, and differ between the two runs; so do the intervals over the repeats.
    small_bim, large_bim = by_key[0]["bim_b_detection_accuracy"].detail, by_key[1]["bim_b_detection_accuracy"].detail
    assert {k: small_bim[k] for k in ("images", "eps", "steps")} == {"images": 80, "eps": 0.3, "steps": 3}
    assert {k: large_bim[k] for k in ("images", "eps", "steps")} == {"images": 240, "eps": 0.2, "steps": 40}
    assert small_bim["repeats"] == 1
    assert by_key[1]["adaptive_pass_and_fool"].detail["steps"] == 100
    assert by_key[1]["adaptive_pass_and_fool"].detail["doubled_effort_change"] == pytest.approx(1.0)
    assert by_key[0]["robust_pgd_accuracy"].value == pytest.approx(60.0)
    assert by_key[0]["clean_accuracy"].value == pytest.approx(98.5)
    assert by_key[0]["bim_a_detection_accuracy"].study_source.startswith("Table 2, row BIM")
    # Well-separated scores are detected better than barely separated ones.
    assert by_key[0]["fgsm_detection_accuracy"].value > by_key[1]["fgsm_detection_accuracy"].value
    assert set(extra["set_sizes"]) == {"fgsm", "bim_a", "bim_b", "jsma", "adaptive"}
    assert set(extra["adaptive"]["fixed_thresholds"]) == set(study.ATTACK_NAMES)


def test_report_tables_and_prose_render_from_the_numbers():
    runs = {name: _fake_run(name, 60, 0.2, seed) for seed, name in enumerate(study.ATTACK_NAMES)}
    adaptive_run = _fake_run("adaptive", 30, 0.0, seed=7)
    params = {**SMALL, "adaptive_steps": 10, "adaptive_eot": 4}
    adaptive = study.judge_adaptive(adaptive_run, runs, adaptive_run.mixed.x[30:], params)
    adaptive.convergence = study.Convergence(5, 10, 4, {4: {1: 0.1, 10: 0.9}, 8: {10: 0.95, 20: 0.96}}, {1: 0.5, 4: 0.9, 8: 0.95})
    for rows, columns in (report.detection_table(runs), report.baseline_table(runs), report.advantage_table(runs),
                          report.bim_variants_table(runs), report.adaptive_table(runs, adaptive),
                          report.convergence_steps_table(adaptive), report.convergence_eot_table(adaptive),
                          report.undefended_table(runs), report.labeled_clean_table(runs)):
        assert rows and all(len(r) == len(columns) for r in rows)
    assert "+6.0 points" in report.convergence_summary(adaptive) and "not converged" in report.convergence_summary(adaptive)
    assert "BIM-A" in report.bim_variants_summary(runs)
    outcomes = report.findings(runs, adaptive)
    assert [o.key for o in outcomes] == [f.key for f in report.FINDINGS]
    assert all(o.evidence for o in outcomes)


# ---------------------------------------------------------------------------------------------------
# Parameters: every preset passes the checks; a mixed set larger than twice the test digits does not


def _preset(name: str) -> dict:
    cell = next(c for c in nbformat.read(NOTEBOOK, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)
    namespace.pop("__builtins__")
    if name != "default":
        namespace.update(yaml.safe_load((PRESETS / f"{name}.yaml").read_text()) or {}, preset=name)
    return namespace


@pytest.mark.parametrize("preset", ["default", "smoke", "full"])
def test_every_preset_passes_the_parameter_checks(preset):
    params = check_parameters(_preset(preset), parameters.PARAMETERS)
    parameters.check_combinations(params)


def test_a_mixed_set_needing_more_clean_digits_than_the_test_set_is_rejected():
    params = check_parameters(_preset("smoke"), parameters.PARAMETERS)
    parameters.check_combinations({**params, "mixed_size": 2 * params["test_size"]})
    with pytest.raises(ParameterError, match="mixed_size"):
        parameters.check_combinations({**params, "mixed_size": 2 * params["test_size"] + 2})
    with pytest.raises(ParameterError, match="adaptive_size"):
        parameters.check_combinations({**params, "adaptive_size": 2 * params["test_size"] + 2})
    with pytest.raises(ParameterError, match="convergence_size"):
        parameters.check_combinations({**params, "convergence_size": params["adaptive_size"] // 2 + 1})
    with pytest.raises(ParameterError, match="robust_eval_size"):
        parameters.check_combinations({**params, "robust_eval_size": params["test_size"] + 1})
