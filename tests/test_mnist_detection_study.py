"""Study 3 end to end on a small scale: on a mixed set of clean and FGSM digits the hybrid detector is
more accurate than the undefended model, and the adaptive attack stays in budget and fools the model.
Then the contract's pieces: the headline's keys, the parameter checks and the presets."""
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import yaml

from conftest import needs_mnist
from helpers import attacks
from helpers.params import ParameterError, check_parameters
from helpers.studies.mnist_uncertainty_detection import detector, parameters, report, study
from helpers.studies.mnist_uncertainty_detection.adaptive import adaptive_attack
from helpers.studies.mnist_uncertainty_detection.model import DropoutLeNet
from helpers.studies.mnist_uncertainty_detection.reference import REFERENCE
from helpers.training import fit

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_mnist_uncertainty_detection.ipynb"
PRESETS = NOTEBOOK.parent / "presets" / "mnist_uncertainty_detection"

PARAMS = {"seed": 0, "batch_size": 100, "fgsm_eps": 0.3, "mc_passes": 20, "crop_size": 24, "adaptive_eps": 0.2,
          "adaptive_steps": 5, "adaptive_step_size": 0.05, "adaptive_eot": 4, "adaptive_uncertainty_weight": 10.0,
          "adaptive_crop_weight": 1.0}


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
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10)
    run = study.run_attack("fgsm", model, classifier, x, y, PARAMS)
    assert len(run.mixed) == 2 * len(x) and run.mixed.is_adversarial.mean() == 0.5
    assert run.attack_success > 0.5, "FGSM should fool the small model on most digits"
    hybrid = run.evaluations["hybrid"]
    assert hybrid["tp"] + hybrid["fn"] == len(x) and hybrid["tn"] + hybrid["fp"] == len(x)
    assert hybrid["accuracy"] > run.undefended_accuracy + 0.1
    assert hybrid["labeled_clean"]["accuracy"] > run.undefended_accuracy
    rows, columns = report.detection_table({"fgsm": run})
    assert rows[0][1] == "ours" and rows[1][1] == "study" and len(rows[0]) == len(columns)


@needs_mnist
def test_adaptive_attack_stays_in_budget_and_fools_the_model(trained):
    model, x, y = trained
    x, y = x[:40], y[:40]
    x_adv = adaptive_attack(model, x, y, eps=0.2, steps=8, step_size=0.05, eot_samples=4, crop_size=24,
                                  uncertainty_weight=10.0, device="cpu")
    assert np.abs(x_adv - x).max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        fooled = (model(torch.from_numpy(x_adv)).argmax(1).numpy() != y).mean()
    assert fooled > 0.5
    assert all(p.requires_grad for p in model.parameters()), "the attack must give the weights their gradients back"


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
    adaptive = study.judge_adaptive(adaptive_run, runs["bim"], adaptive_run.mixed.x[n // 2:], params)
    trained = study.Trained(None, [], False, 0.985, 0.98, params["mc_passes"], params["test_size"])
    return report.headline(trained, runs, adaptive, params), report.details(trained, runs, adaptive, study.roc_aucs(runs))


SMALL = {"test_size": 300, "mc_passes": 10, "fgsm_eps": 0.3, "bim_eps": 0.3, "bim_steps": 3, "jsma_theta": 1.0,
         "jsma_gamma": 0.1, "adaptive_eps": 0.3, "adaptive_steps": 3, "adaptive_eot": 2}
LARGE = {"test_size": 10000, "mc_passes": 100, "fgsm_eps": 0.1, "bim_eps": 0.2, "bim_steps": 40, "jsma_theta": 0.5,
         "jsma_gamma": 0.05, "adaptive_eps": 0.1, "adaptive_steps": 100, "adaptive_eot": 16}


def test_headline_keys_are_stable_and_carry_the_study_values():
    small, _ = _headline(SMALL, 40, separation=0.2)
    large, extra = _headline(LARGE, 120, separation=0.05)
    keys = [m.key for m in small]
    assert keys == [m.key for m in large], "the headline keys must not depend on the parameters"
    assert 4 <= len(keys) <= 10 and len(set(keys)) == len(keys) and all(k.isidentifier() for k in keys)
    assert set(REFERENCE) <= set(keys), "every reference value needs its metric"
    for m in small + large:
        if m.key in REFERENCE:
            assert m.study == REFERENCE[m.key].value and m.study_source == REFERENCE[m.key].source
            assert m.reproduced is not None
        else:
            assert m.study is None
        assert m.unit == "%" and 0.0 <= m.value <= 100.0, f"{m.key} must be a percentage, got {m.value}"
    by_key = {m.key: m for m in small}, {m.key: m for m in large}
    # The settings are the metrics' detail, and differ between the two runs.
    assert by_key[0]["bim_detection_accuracy"].detail == {"images": 80, "eps": 0.3, "steps": 3}
    assert by_key[1]["bim_detection_accuracy"].detail == {"images": 240, "eps": 0.2, "steps": 40}
    assert by_key[1]["adaptive_detection_accuracy"].detail["steps"] == 100
    assert by_key[0]["clean_accuracy"].value == pytest.approx(98.5)
    # Well-separated scores are detected better than barely separated ones.
    assert by_key[0]["fgsm_detection_accuracy"].value > by_key[1]["fgsm_detection_accuracy"].value
    assert set(extra["set_sizes"]) == {"fgsm", "bim", "jsma", "adaptive"}


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
