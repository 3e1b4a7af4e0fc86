"""Study 3 end to end on a small scale: on a mixed set of clean and FGSM digits the hybrid detector is
more accurate than the undefended model, and the adaptive attack stays in budget and fools the model."""
import numpy as np
import pytest
import torch

from conftest import needs_mnist
from helpers import attacks
from helpers.studies.mnist_uncertainty_detection import study
from helpers.studies.mnist_uncertainty_detection.model import DropoutLeNet
from helpers.training import fit

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
    rows, columns = study.detection_table({"fgsm": run})
    assert rows[0][1] == "ours" and rows[1][1] == "study" and len(rows[0]) == len(columns)


@needs_mnist
def test_adaptive_attack_stays_in_budget_and_fools_the_model(trained):
    model, x, y = trained
    x, y = x[:40], y[:40]
    x_adv = study.adaptive_attack(model, x, y, eps=0.2, steps=8, step_size=0.05, eot_samples=4, crop_size=24,
                                  uncertainty_weight=10.0, device="cpu")
    assert np.abs(x_adv - x).max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        fooled = (model(torch.from_numpy(x_adv)).argmax(1).numpy() != y).mean()
    assert fooled > 0.5
    assert all(p.requires_grad for p in model.parameters()), "the attack must give the weights their gradients back"
