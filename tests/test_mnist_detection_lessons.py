"""Study 3 as a lesson: the findings' verdicts on constructed numbers (holds, does not hold, not shown), the
methods on the page (each the function the study runs, or one held within a point of its fast version on a
trained LeNet), and the attacks expressed through ``helpers.gradient_attacks``."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import needs_mnist
from helpers import gradient_attacks
from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN
from helpers.studies.mnist_uncertainty_detection import adaptive, bim, report, robust, study, thresholds
from helpers.studies.mnist_uncertainty_detection.model import DropoutLeNet
from helpers.studies.mnist_uncertainty_detection.reference import FINDINGS
from helpers.studies.mnist_uncertainty_detection.uncertainty import mc_predict
from helpers.training import fit

# ---------------------------------------------------------------------------------------------------
# Findings on constructed numbers


def _evaluation(tp: int, fn: int, fp: int, tn: int, passed: int = 0) -> dict:
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn, "passed_and_wrong": passed,
            "accuracy": (tp + tn) / (tp + fn + fp + tn)}


def _run(n: int, **evaluations) -> SimpleNamespace:
    """An attack's run with ``n`` clean digits and as many adversarial ones; evaluations by detector."""
    return SimpleNamespace(evaluations=evaluations, mixed=np.zeros(2 * n), clean_count=n)


def _runs(n: int, *, hybrid_bim: int, crops_bim: int, fgsm_flagged: int, fgsm_clean_flagged: int,
          clean_rejected: int, bim_passed: int) -> dict:
    """Per attack: the hybrid catches ``hybrid_bim`` of n BIM-A digits (crops only ``crops_bim``), uncertainty
    alone flags ``fgsm_flagged`` FGSM and ``fgsm_clean_flagged`` clean digits, the hybrid rejects
    ``clean_rejected`` clean digits of every set; ``bim_passed`` BIM-A digits pass and fool."""
    hybrid = _evaluation(hybrid_bim, n - hybrid_bim, clean_rejected, n - clean_rejected, passed=bim_passed)
    plain = _evaluation(n - 10, 10, clean_rejected, n - clean_rejected)
    return {
        "fgsm": _run(n, hybrid=plain, **{"uncertainty only": _evaluation(fgsm_flagged, n - fgsm_flagged,
                                                                         fgsm_clean_flagged, n - fgsm_clean_flagged)}),
        "bim_a": _run(n, hybrid=hybrid, **{"crops only": _evaluation(crops_bim, n - crops_bim, clean_rejected,
                                                                     n - clean_rejected)}),
        "bim_b": _run(n, hybrid=plain),
        "jsma": _run(n, hybrid=plain),
    }


def _adaptive(n: int, passed: int) -> study.AdaptiveResult:
    deployed = _evaluation(n - passed, passed, 5, n - 5, passed=passed)
    return study.AdaptiveResult(_run(n, hybrid=deployed), {"bim_a": {"hybrid": deployed}}, np.zeros(0))


def _verdicts(n=5000, adaptive_passed=4500, **numbers) -> dict:
    settings = dict(hybrid_bim=4800, crops_bim=4000, fgsm_flagged=4000, fgsm_clean_flagged=300, clean_rejected=50,
                    bim_passed=100)
    outcomes = report.findings(_runs(n, **{**settings, **numbers}), _adaptive(n, adaptive_passed))
    assert [o.key for o in outcomes] == [f.key for f in FINDINGS]
    return {o.key: o for o in outcomes}


def test_findings_hold_when_the_numbers_clear_their_intervals():
    verdicts = _verdicts()
    assert {k: o.status for k, o in verdicts.items()} == {f.key: HOLDS for f in FINDINGS}
    assert all(not o.measured for o in verdicts.values())
    assert verdicts["falls_to_adaptive_attack"].ours and not verdicts["few_clean_rejected"].ours


def test_findings_that_the_numbers_contradict_say_what_was_measured():
    verdicts = _verdicts(hybrid_bim=3500, fgsm_flagged=1000, clean_rejected=600, adaptive_passed=500)
    assert {k: o.status for k, o in verdicts.items()} == {f.key: DOES_NOT_HOLD for f in FINDINGS}
    assert all(o.measured for o in verdicts.values())
    assert "12.0%" in verdicts["few_clean_rejected"].measured


def test_differences_inside_their_intervals_are_not_shown():
    # 40 digits: 36 against 34 caught, 3 of 40 clean rejected (5% bound inside the interval), 21 of 40 passing.
    verdicts = _verdicts(n=40, hybrid_bim=36, crops_bim=34, fgsm_flagged=21, fgsm_clean_flagged=2, clean_rejected=2,
                         bim_passed=1, adaptive_passed=21)
    assert {k: o.status for k, o in verdicts.items()} == {f.key: NOT_SHOWN for f in FINDINGS}


# ---------------------------------------------------------------------------------------------------
# The methods on the page


def test_every_method_on_the_page_is_the_function_the_study_runs():
    assert study.METHODS["fgsm"] is gradient_attacks.fgsm and study.METHODS["bim_b"] is gradient_attacks.bim
    assert study.METHODS["pgd"] is gradient_attacks.pgd and study.METHODS["bim_a"] is bim.bim_a
    assert study.METHODS["margin_attack"] is adaptive.margin_attack
    assert {"fgsm", "bim_a", "bim_b", "mc_dropout", "crop_vote", "margin_attack"} <= set(study.METHODS)


def test_the_threshold_search_finds_the_maximum_of_the_readable_information_gain():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(0.0, 1.0, 200), rng.normal(1.5, 1.0, 200)]
    truth = np.r_[np.zeros(200, bool), np.ones(200, bool)]
    t, gain = thresholds.best_information_gain_threshold(scores, truth)
    assert gain == pytest.approx(thresholds.information_gain(scores, truth, t))
    ordered = np.sort(scores)
    candidates = (ordered[1:] + ordered[:-1]) / 2
    assert gain == pytest.approx(max(thresholds.information_gain(scores, truth, c) for c in candidates))
    assert study.METHODS["information_gain"] is thresholds.information_gain and study.METHODS["hybrid_rule"] is thresholds.decide


def test_bim_a_loss_has_no_gradient_for_a_misclassified_image():
    logits = torch.tensor([[3.0, 1.0], [0.0, 2.0]], requires_grad=True)   # image 0 right (class 0), image 1 wrong
    (grad,) = torch.autograd.grad(bim.cross_entropy_while_correct(logits, torch.tensor([0, 0])), logits)
    assert grad[0].abs().sum() > 0 and torch.equal(grad[1], torch.zeros(2))


def test_margin_loss_stops_once_every_pass_holds_the_margin():
    y = torch.tensor([0, 0])
    # Two passes, two images: image 0 has class 1 ahead by 20 in both passes, image 1 is still class 0.
    logits = torch.tensor([[[0.0, 20.0, 0.0], [5.0, 0.0, 1.0]], [[0.0, 20.0, 0.0], [5.0, 0.0, 1.0]]], requires_grad=True)
    assert adaptive.runner_up(logits, y).tolist() == [1, 2]
    loss = adaptive.margin_loss(logits, y, kappa=10.0)
    assert loss.item() == pytest.approx(-(5.0 - 1.0 + 10.0))     # image 0 holds the margin: only image 1 counts
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.equal(grad[:, 0], torch.zeros(2, 3)) and grad[:, 1].abs().sum() > 0


def test_the_recorded_iterates_are_those_of_shorter_runs():
    torch.manual_seed(0)
    model = DropoutLeNet(width=4, hidden=16).eval()
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    gradient = gradient_attacks.input_gradient(model)
    recorded, seen = adaptive.recording(gradient, [2, 5])
    final = gradient_attacks.bim(recorded, x, y, eps=0.2, steps=8, step_size=0.03)
    assert sorted(seen) == [2, 5]
    for steps in (2, 5):
        torch.testing.assert_close(seen[steps], gradient_attacks.bim(gradient, x, y, eps=0.2, steps=steps, step_size=0.03))
    torch.testing.assert_close(final, gradient_attacks.bim(gradient, x, y, eps=0.2, steps=8, step_size=0.03))


def test_pgd_training_loss_takes_its_start_from_the_generator_and_gives_the_mode_back():
    torch.manual_seed(0)
    model = DropoutLeNet(width=4, hidden=16).train()
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    options = dict(eps=0.3, steps=2, step_size=0.1)
    torch.manual_seed(1)
    a, _ = robust.pgd_training_loss(model, x, y, generator=torch.Generator().manual_seed(5), **options)
    assert model.training, "training continues with dropout on"
    torch.manual_seed(1)
    b, _ = robust.pgd_training_loss(model, x, y, generator=torch.Generator().manual_seed(5), **options)
    torch.manual_seed(1)
    c, _ = robust.pgd_training_loss(model, x, y, generator=torch.Generator().manual_seed(6), **options)
    assert a.item() == b.item() and a.item() != c.item()


# ---------------------------------------------------------------------------------------------------
# Readable and fast, on a trained LeNet


@pytest.fixture(scope="module")
def trained():
    from helpers.data import load_mnist

    torch.manual_seed(0)
    data = load_mnist(3000, 500, seed=0)
    model = DropoutLeNet(width=8, hidden=64)
    fit(model, data.x_train, data.y_train, epochs=2, batch_size=64, lr=2e-3)
    model.eval()
    return SimpleNamespace(model=model), data


@needs_mnist
def test_readable_mc_dropout_and_crop_vote_agree_with_the_fast_path(trained):
    holder, data = trained
    params = {"check_size": 500, "mc_passes": 200, "seed": 0, "crop_size": 24}
    scores = study.run_crop_vote(holder, study.run_mc_dropout(holder, data, params, "cpu"), params, "cpu")
    agreement = study.compare_fast_path(holder, scores, params, "cpu")
    assert agreement.n == 500 and agreement.votes_equal == 1.0
    assert abs(agreement.readable_accuracy - agreement.fast_accuracy) <= 0.01
    assert agreement.provisional_agreement >= 0.98
    assert agreement.readable_uncertainty == pytest.approx(agreement.fast_uncertainty, rel=0.05)
    assert not holder.model.training
    rows, columns = report.fast_path_table(agreement)
    assert all(len(r) == len(columns) for r in rows) and "agree on every digit" in report.fast_path_summary(agreement)


@needs_mnist
def test_readable_margin_attack_agrees_with_the_fast_one(trained):
    holder, data = trained
    model = holder.model
    index = study.correctly_classified(model, data.x_test, data.y_test, count=100, seed=0)
    x, y = data.x_test[index].numpy(), data.y_test[index].numpy()
    budget = dict(eps=0.3, steps=30, step_size=0.02, kappa=10.0)
    torch.manual_seed(3)
    readable = bim.run_in_batches(adaptive.margin_attack, model, x, y, masks=8, **budget)
    fast = adaptive.adaptive_attack(model, x, y, eot_samples=8, crop_size=24, seed=3, **budget)[30]
    assert not model.training
    for x_adv in (readable, fast):
        assert np.abs(x_adv - x).max() <= 0.3 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1

    def fooled(x_adv):
        with torch.no_grad():
            return (model(torch.from_numpy(x_adv)).argmax(1).numpy() != y).mean()

    def uncertain(x_adv):
        return mc_predict(model, x_adv, passes=50, seed=9).uncertainty.mean()

    assert fooled(readable) > 0.9 and abs(fooled(readable) - fooled(fast)) <= 0.01 + 1e-9   # within a point
    # Both leave the passes agreeing about as much: less uncertain than the BIM-A copies of the same digits, which
    # stop just past the decision boundary.
    x_bim = bim.run_in_batches(bim.bim_a, model, x, y, eps=0.3, steps=10, step_size=0.03)
    assert uncertain(readable) == pytest.approx(uncertain(fast), rel=0.1)
    assert max(uncertain(readable), uncertain(fast)) < 0.9 * uncertain(x_bim)
