"""Study 4's training: the attacker's loss, alternating updates that leave the frozen network unchanged, runs over
attacker seeds, and attacker training that lowers the target classifier's accuracy."""
import copy

import pytest
import torch

from conftest import needs_mnist
from helpers.studies.gan_attacker.networks import Attacker, Classifier
from helpers.studies.gan_attacker.training import (
    AttackerRun, Recipe, SeededRuns, alternating_round, attacker_loss, attacker_step, classifier_step, evaluate_networks,
    train_attacker,
)
from helpers.training import fit


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _pair():
    torch.manual_seed(0)
    return Classifier(channels=(4, 8)), Attacker(0.1, width=0.125)


def test_attacker_loss_is_minus_the_mean_cross_entropy_of_the_targets():
    torch.manual_seed(0)
    first, second = Classifier(channels=(4, 8)).eval(), Classifier(channels=(4, 8)).eval()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    ce = [torch.nn.functional.cross_entropy(c(x), y) for c in (first, second)]
    assert attacker_loss([first], x, y).item() == pytest.approx(-ce[0].item())
    assert attacker_loss([first, second], x, y).item() == pytest.approx(-(ce[0] + ce[1]).item() / 2)


def test_non_saturating_loss_is_log_of_the_wrong_classes_and_pushes_hardest_where_c1_is_right():
    logits = torch.tensor([[8.0, 0.0, 0.0], [0.0, 8.0, 0.0]], requires_grad=True)  # digit 0 right, digit 1 fooled
    y = torch.tensor([0, 0])

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return logits

    loss = attacker_loss([Fixed()], torch.zeros(2, 1, 28, 28), y, "non_saturating")
    p_true = torch.softmax(logits, 1)[:, 0]
    assert loss.item() == pytest.approx(-torch.log(1 - p_true).mean().item(), rel=1e-5)
    (grad,) = torch.autograd.grad(loss, logits)
    (ce_grad,) = torch.autograd.grad(attacker_loss([Fixed()], torch.zeros(2, 1, 28, 28), y, "cross_entropy"), logits)
    # The study's loss barely moves the confidently right digit; the non-saturating one moves it most.
    assert abs(ce_grad[0, 0]) < 0.01 * abs(ce_grad[1, 0])
    assert abs(grad[0, 0]) > 10 * abs(grad[1, 0])
    with pytest.raises(ValueError, match="objective"):
        attacker_loss([Fixed()], torch.zeros(2, 1, 28, 28), y, "hinge")


def test_alternating_round_updates_a_then_c1_on_attacked_digits_then_c2_on_clean_ones():
    torch.manual_seed(0)
    c1, c2, attacker = Classifier(channels=(4, 8)), Classifier(channels=(4, 8)), Attacker(0.2, width=0.125)
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    seen = {"c1": [], "c2": []}
    hooks = [net.features[0].register_forward_pre_hook(lambda module, args, name=name: seen[name].append(args[0].detach().clone()))
             for name, net in (("c1", c1), ("c2", c2))]
    before = {name: _state(net) for name, net in (("a", attacker), ("c1", c1), ("c2", c2))}
    optimizers = [torch.optim.SGD(net.parameters(), lr=0.1) for net in (attacker, c1, c2)]
    loss = alternating_round(attacker, c1, c2, optimizers, x, y)
    for hook in hooks:
        hook.remove()
    assert loss > 0
    assert all(not _same(before[name], _state(net)) for name, net in (("a", attacker), ("c1", c1), ("c2", c2)))
    # C1 saw A's attacked digits twice (A's turn, then its own with the updated A); C2 only the clean batch.
    assert len(seen["c1"]) == 2 and not torch.allclose(seen["c1"][1], x) and (seen["c1"][1] - x).abs().max() <= 0.2 + 1e-6
    with torch.no_grad():
        assert torch.allclose(seen["c1"][1], attacker.eval()(x))
    assert len(seen["c2"]) == 1 and torch.equal(seen["c2"][0], x)


def test_seeded_runs_report_the_mean_the_spread_and_the_interval():
    runs = [AttackerRun("consecutive", 0.16, history=[{"epoch": 1, "c1_attacked_accuracy": v}], seed=s)
            for s, v in ((0, 0.2), (1, 0.4), (2, 0.3))]
    seeded = SeededRuns("consecutive", 0.16, runs)
    assert seeded.seeds == [0, 1, 2] and seeded.first is runs[0]
    assert seeded.mean("c1_attacked_accuracy") == pytest.approx(0.3)
    assert tuple(seeded.spread("c1_attacked_accuracy")) == pytest.approx((0.3, 0.2, 0.4))
    estimate, low, high = seeded.interval("c1_attacked_accuracy")  # Student t, 2 degrees of freedom: 4.30 * 0.1 / sqrt(3)
    assert estimate == pytest.approx(0.3) and high - estimate == pytest.approx(4.303 * 0.1 / 3 ** 0.5, rel=1e-3) and low < 0.2


def test_attacker_phase_leaves_the_classifier_unchanged_and_updates_the_attacker():
    classifier, attacker = _pair()
    classifier.train()  # left in train mode on purpose: the step must freeze batch-norm statistics too
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    before_c, before_a = _state(classifier), _state(attacker)
    attacker_step(attacker, [classifier], torch.optim.Adam(attacker.parameters()), x, y)
    assert _same(before_c, _state(classifier))
    assert not _same(before_a, _state(attacker))
    assert all(p.grad is None for p in classifier.parameters())


def test_classifier_phase_leaves_the_attacker_unchanged_and_updates_the_classifier():
    classifier, attacker = _pair()
    attacker.train()
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    before_c, before_a = _state(classifier), _state(attacker)
    classifier_step(classifier, attacker, torch.optim.Adam(classifier.parameters()), x, y)
    assert _same(before_a, _state(attacker))
    assert not _same(before_c, _state(classifier))
    assert all(p.grad is None for p in attacker.parameters())


def test_classifier_phase_trains_on_attacked_images():
    classifier, attacker = _pair()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    seen = []
    handle = classifier.features[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    classifier_step(classifier, attacker, torch.optim.SGD(classifier.parameters(), lr=0.0), x, y)
    handle.remove()
    with torch.no_grad():
        assert torch.allclose(seen[0], attacker.eval()(x))
    assert not torch.allclose(seen[0], x)


@needs_mnist
def test_attacker_training_lowers_the_target_accuracy():
    from helpers.data import load_mnist

    data = load_mnist(1000, 200, seed=0)
    torch.manual_seed(0)
    c1 = Classifier(channels=(8, 16))
    fit(c1, data.x_train, data.y_train, epochs=2, batch_size=50, lr=3e-3)
    untouched = copy.deepcopy(c1)
    recipe = Recipe(epochs=1, batch_size=16, learning_rate=3e-3)
    run = train_attacker([c1], {"c1": c1}, data.x_train[:480], data.y_train[:480], data.x_test, data.y_test,
                         intensity=0.3, recipe=recipe, seed=0)
    start, end = run.history[0], run.history[-1]
    assert start["c1_clean_accuracy"] > 0.8
    # Against the untrained attacker (same bound, random structure), training must cost C1 a lot more.
    assert end["c1_attacked_accuracy"] < start["c1_attacked_accuracy"] - 0.15
    assert end["c1_attacked_loss"] > start["c1_attacked_loss"]
    assert end["c1_clean_accuracy"] == pytest.approx(start["c1_clean_accuracy"])  # C1 was frozen throughout
    assert _same(_state(untouched), _state(c1))
    assert (run.attacker(data.x_test) - data.x_test).abs().max() <= 0.3 + 1e-6


def test_evaluate_networks_reports_clean_and_attacked_numbers():
    classifier, attacker = _pair()
    record = evaluate_networks(attacker, {"c1": classifier}, torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,)))
    assert set(record) == {"c1_clean_loss", "c1_clean_accuracy", "c1_attacked_loss", "c1_attacked_accuracy"}


def test_evaluate_networks_takes_the_clean_numbers_of_frozen_classifiers_from_an_earlier_record():
    classifier, attacker = _pair()
    x, y = torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,))
    measured = evaluate_networks(attacker, {"c1": classifier}, x, y)
    earlier = {"c1_clean_loss": 9.0, "c1_clean_accuracy": 0.123}
    reused = evaluate_networks(attacker, {"c1": classifier}, x, y, clean=earlier)
    assert (reused["c1_clean_loss"], reused["c1_clean_accuracy"]) == (9.0, 0.123)
    assert reused["c1_attacked_accuracy"] == measured["c1_attacked_accuracy"]  # the attacked numbers are still measured
