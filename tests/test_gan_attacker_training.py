"""Study 4's training: alternating updates leave the frozen network unchanged, and attacker training
lowers the target classifier's accuracy."""
import copy

import pytest
import torch

from conftest import needs_mnist
from helpers.studies.gan_attacker.networks import Attacker, Classifier
from helpers.studies.gan_attacker.training import attacker_step, classifier_step, evaluate_networks, train_attacker
from helpers.training import fit


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _pair():
    torch.manual_seed(0)
    return Classifier(channels=(4, 8)), Attacker(0.1)


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
    run = train_attacker([c1], {"c1": c1}, data.x_train[:480], data.y_train[:480], data.x_test, data.y_test,
                         intensity=0.3, epochs=1, batch_size=16, learning_rate=3e-3, seed=0)
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
