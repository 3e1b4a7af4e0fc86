"""Study 4's ceilings, training schedule and timing: the universal perturbation and PGD (helpers.gradient_attacks)
lower a trained C1's accuracy within their budget, the robust C1 is trained on PGD examples, and the training loop
evaluates and measures throughput as it says."""
import pytest
import torch

from conftest import needs_mnist
from helpers.gradient_attacks import default_step_size, input_gradient, pgd
from helpers.studies.gan_attacker.ceilings import (CONVERGED_POINTS, PGDCeiling, accuracy_of, pgd_ceiling, points_moved, pgd_images,
                                                   train_robust_classifier)
from helpers.studies.gan_attacker.comparison import time_attacks
from helpers.studies.gan_attacker.networks import Attacker, Classifier
from helpers.studies.gan_attacker.training import Recipe, attacker_optimizer, evaluation_points, train_attacker
from helpers.studies.gan_attacker.universal import Universal, fit_universal, universal_perturbation
from helpers.training import fit


@pytest.fixture(scope="module")
def trained():
    """A small C1 trained on 1,000 MNIST digits (about 95% on the 200 test digits)."""
    from helpers.data import load_mnist

    data = load_mnist(1000, 200, seed=0)
    torch.manual_seed(0)
    c1 = Classifier(channels=(8, 16))
    fit(c1, data.x_train, data.y_train, epochs=3, batch_size=50, lr=3e-3)
    return data, c1.eval()


@needs_mnist
def test_universal_perturbation_lowers_accuracy_and_respects_the_bound(trained):
    data, c1 = trained
    t = 0.2
    clean = accuracy_of(c1, data.x_test, data.y_test)
    before = {k: v.clone() for k, v in c1.state_dict().items()}
    universal = fit_universal(c1, data.x_train, data.y_train, data.x_test, data.y_test, intensity=t, epochs=2,
                              others={"copy": c1})
    assert isinstance(universal, Universal) and universal.delta.shape == (1, 1, 28, 28)
    assert universal.delta.abs().max() <= t + 1e-6
    assert universal.delta.abs().max() > 0.9 * t  # it uses its budget: the bound is not vacuous
    attacked = universal.apply(data.x_test)
    assert (attacked - data.x_test).abs().max() <= t + 1e-6 and attacked.min() >= 0 and attacked.max() <= 1
    assert universal.accuracy < clean - 0.1
    assert universal.transfer["copy"] == pytest.approx(universal.accuracy) and universal.digits == len(data.x_test)
    assert all(torch.equal(before[k], v) for k, v in c1.state_dict().items())  # C1 is only attacked, never trained
    # The readable core returns the delta the wrapper measured, and its training accuracy.
    delta, train_accuracy = universal_perturbation(c1, data.x_train, data.y_train, intensity=t, epochs=2)
    assert torch.equal(delta, universal.delta) and train_accuracy == pytest.approx(universal.train_accuracy)


@needs_mnist
def test_pgd_respects_the_bound_and_beats_the_universal_perturbation(trained):
    data, c1 = trained
    t = 0.2
    x, y = data.x_test[:100], data.y_test[:100]
    x_adv = pgd_images(c1, x, y, eps=t, steps=10, batch_size=50)
    assert (x_adv - x).abs().max() <= t + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    # The same digits as helpers.gradient_attacks.pgd with the same random start, batch by batch.
    first = pgd(input_gradient(c1), x[:50], y[:50], eps=t, steps=10, step_size=default_step_size(t, 10),
                generator=torch.Generator().manual_seed(0))
    assert torch.allclose(first, x_adv[:50])
    ceiling = pgd_ceiling(c1, x, y, eps=t, steps=10, others={"copy": c1})
    assert isinstance(ceiling, PGDCeiling) and ceiling.steps == 10
    assert ceiling.best == min(accuracy for _, accuracy in ceiling.ladder)
    assert ceiling.converged == (abs(ceiling.ladder[-2][1] - ceiling.ladder[-1][1]) < 0.01)
    universal = fit_universal(c1, data.x_train, data.y_train, x, y, intensity=t, epochs=1)
    assert ceiling.best < universal.accuracy  # per-image optimisation beats one pattern for all digits


@needs_mnist
def test_robust_classifier_is_cached_and_more_robust_than_clean_training(trained):
    data, c1 = trained
    small = data.subset(300, 100, seed=0)
    robust, history, cached = train_robust_classifier(small, index=1, intensity=0.2, epochs=2, pgd_steps=3, batch_size=50,
                                                      learning_rate=3e-3, seed=0, device="cpu")
    assert not cached and len(history) == 2 and not robust.training
    again, _, cached_again = train_robust_classifier(small, index=1, intensity=0.2, epochs=2, pgd_steps=3, batch_size=50,
                                                     learning_rate=3e-3, seed=0, device="cpu")
    assert cached_again and all(torch.equal(a, b) for a, b in zip(robust.state_dict().values(), again.state_dict().values()))


def test_evaluation_points_are_evenly_spaced_and_end_the_epoch():
    assert evaluation_points(100, 4) == {25, 50, 75, 100}
    assert evaluation_points(3, 10) == {1, 2, 3}
    assert evaluation_points(7, 1) == {7}


def test_onecycle_schedule_warms_up_and_anneals():
    attacker = Attacker(0.1)
    optimizer, scheduler = attacker_optimizer(attacker, 0.01, 100, "onecycle")
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(rates) == pytest.approx(0.01) and rates[0] < 0.001 and rates[-1] < 1e-4
    assert rates.index(max(rates)) == pytest.approx(20, abs=1)
    assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    assert attacker_optimizer(attacker, 0.01, 100, "onecycle", beta1=0.9)[0].param_groups[0]["betas"][0] == 0.9
    assert attacker_optimizer(attacker, 0.01, 100, "constant")[1] is None
    with pytest.raises(ValueError, match="schedule"):
        attacker_optimizer(attacker, 0.01, 100, "cosine")


def test_training_loop_evaluates_several_times_per_epoch_and_counts_digits():
    torch.manual_seed(0)
    target = Classifier(channels=(4, 8)).eval()
    x, y = torch.rand(96, 1, 28, 28), torch.randint(0, 10, (96,))
    recipe = Recipe(epochs=2, batch_size=16, evaluations_per_epoch=3, schedule="onecycle", learning_rate=0.01, width=0.125)
    run = train_attacker([target], {"c1": target}, x, y, x[:16], y[:16], intensity=0.1, recipe=recipe, seed=3)
    assert run.curve("epoch") == [0, 0.3333, 0.6667, 1.0, 1.3333, 1.6667, 2.0]
    assert run.digits == 192 and run.train_seconds > 0 and run.digits_per_second == pytest.approx(192 / run.train_seconds)
    assert run.seed == 3 and run.cpu_seconds > 0 and run.attacker.width == 0.125


def test_time_attacks_measures_both_and_their_ratio():
    torch.manual_seed(0)
    target = Classifier(channels=(4, 8)).eval()
    attacker = Attacker(0.1).eval()
    x, y = torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,))
    speed = time_attacks(attacker, target, x, y, intensity=0.1, steps=3, batch_size=10)
    assert speed.digits == 20 and speed.attacker_seconds > 0 and speed.pgd_seconds > 0
    assert speed.ratio == pytest.approx(speed.pgd_seconds / speed.attacker_seconds)
    assert speed.per(speed.pgd_seconds, 40) == pytest.approx(2 * speed.pgd_seconds)


@needs_mnist
def test_pgd_ceiling_doubles_its_steps_until_a_doubling_no_longer_moves_it(trained):
    data, c1 = trained
    x, y = data.x_test[:100], data.y_test[:100]
    # Two steps are far from converged at this budget against this C1: the ladder goes to 4S and still moves.
    short = pgd_ceiling(c1, x, y, eps=0.1, steps=2)
    assert [steps for steps, _ in short.ladder] == [2, 4, 8]
    assert points_moved(short.ladder[0][1], short.ladder[1][1]) >= CONVERGED_POINTS
    assert short.accuracy_at(8) == short.ladder[-1][1] and short.accuracy_at(16) is None
    assert not short.converged and short.best < short.accuracy
    # With no budget nothing moves: one doubling, converged, and the ladder stops there.
    still = pgd_ceiling(c1, x, y, eps=0.0, steps=5)
    assert [steps for steps, _ in still.ladder] == [5, 10] and still.converged and still.moved_points == 0


def test_pgd_ceiling_properties_read_the_ladder():
    top = PGDCeiling(0.1, [(25, 0.60), (50, 0.55), (100, 0.548)], transfer={}, seconds=1.0, digits=500)
    assert (top.steps, top.accuracy, top.longest_steps, top.best) == (25, 0.60, 100, 0.548)
    assert top.moved_points == 0.2 and top.converged
    assert not PGDCeiling(0.1, [(25, 0.60), (50, 0.55)], transfer={}, seconds=1.0, digits=500).converged
