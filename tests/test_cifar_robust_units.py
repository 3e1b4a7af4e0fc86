"""Unit tests of the CIFAR-10 robust-training study's building blocks (helpers.studies.cifar_robust_training)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers.studies.cifar_robust_training import adversarial_training as at
from helpers.studies.cifar_robust_training import denoiser as dae
from helpers.studies.cifar_robust_training import pcl
from helpers.studies.cifar_robust_training.model import CifarMobileNetV3


def test_mobilenet_takes_32x32_and_gives_logits_and_features():
    torch.manual_seed(0)
    model = CifarMobileNetV3(width=0.25).eval()
    feats = model.features(torch.rand(2, 3, 32, 32))
    assert feats["logits"].shape == (2, 10)
    assert feats["pooled"].shape == (2, model.pooled_dim) and feats["hidden"].shape == (2, model.hidden_dim)
    assert model.features_net[0][0].stride == (1, 1)
    # the stride-1 stem keeps a 2x2 map at the end instead of 1x1
    assert model.features_net(torch.rand(1, 3, 32, 32)).shape[-1] == 2


def _toy(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 4, 4, generator=g)
    y = (x[:, 0].mean((1, 2)) > x[:, 1].mean((1, 2))).long()
    return x, y


def _linear(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 2))


def test_pgd_stays_in_the_ball_and_raises_the_loss():
    x, y = _toy()
    model = _linear()
    eps = 0.05
    x_adv = at.training_pgd(model, x, y, eps=eps, steps=5)
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y) + 0.01
    x_fgsm = at.training_fgsm(model, x, y, eps=eps)
    interior = ((x > eps) & (x < 1 - eps))
    assert torch.allclose((x_fgsm - x).abs()[interior], torch.full_like(x[interior], eps), atol=1e-6)


def test_regularized_loss_equals_its_formula():
    x, y = _toy(32)
    model = _linear()
    perturb = at.make_perturbation("fgsm", eps=0.1, steps=1)
    loss, logits = at.regularized(alpha=0.3, perturb=perturb)(model, x, y)
    x_adv = perturb(model, x, y)
    expected = 0.3 * F.cross_entropy(model(x), y) + 0.7 * F.cross_entropy(model(x_adv), y)
    assert torch.allclose(loss, expected, atol=1e-6)
    assert torch.allclose(logits, model(x), atol=1e-6)


def _train(model, loss_fn, x, y, steps=150):
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss, _ = loss_fn(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_adversarial_training_raises_robust_accuracy_on_a_toy_problem():
    # Two classes separated along the first pixel by a margin 0.2; the other pixels are noise a natural
    # model also leans on. PGD training must learn to rely on the robust feature.
    g = torch.Generator().manual_seed(1)
    n = 400
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 3, 4, 4, generator=g) * 0.2 + 0.4
    x[:, 0, 0, 0] = 0.3 + 0.4 * y.float()
    x[:, 1:] += (y.float() * 2 - 1)[:, None, None, None] * 0.03  # weak, non-robust features spread over many pixels
    eps = 0.08
    natural = _train(_linear(), lambda m, a, b: (F.cross_entropy(m(a), b), m(a)), x, y)
    robust = _train(_linear(), at.pgd_loss(eps=eps, steps=5), x, y)
    acc = lambda m: (m(at.training_pgd(m, x, y, eps=eps, steps=10)).argmax(1) == y).float().mean().item()
    assert acc(robust) > acc(natural) + 0.2


def test_epoch_cost_ratio_reports_a_ratio_above_one():
    # PGD-10 does ten input-gradient passes per step: even under heavy load it costs more than one natural step.
    x, y = _toy(64)
    x = torch.nn.functional.interpolate(x, size=16)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 16 * 16, 2))
    result = at.epoch_cost_ratio(model, x, y, at.pgd_loss(eps=0.05, steps=10), batch_size=32, batches=2, rounds=2)
    assert result["ratio"] > 2.0 and result["batches_timed"] == 4


def test_pcl_pulls_features_to_their_centroid_and_moves_centroids():
    torch.manual_seed(0)
    feats = torch.randn(60, 2) * 2
    labels = torch.arange(60) % 3
    feats = feats.requires_grad_(True)
    centroids = nn.Parameter(torch.randn(3, 2))
    start = centroids.detach().clone()
    own_before = (feats.detach() - start[labels]).norm(dim=1).mean()
    opt = torch.optim.SGD([feats, centroids], lr=1.0)
    losses = []
    for _ in range(100):
        loss = pcl.prototype_conformity_loss(feats, labels, centroids, cap=10.0)
        opt.zero_grad()
        loss.backward()
        assert feats.grad.abs().sum() > 0 and centroids.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0
    assert not torch.allclose(start, centroids.detach())
    own = (feats.detach() - centroids.detach()[labels]).norm(dim=1).mean()
    assert own < 0.25 * own_before
    # the push term kept classes apart
    assert torch.cdist(centroids.detach(), centroids.detach()).fill_diagonal_(10).min() > 1.0


def test_pcl_loss_on_the_network_has_gradients_in_both_branches():
    torch.manual_seed(0)
    model = pcl.PCLNet(CifarMobileNetV3(width=0.25), dim=8)
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % 10
    model.init_centroids(x, y)
    loss, logits = pcl.pcl_loss(weight=1.0)(model.train(), x, y)
    loss.backward()
    assert logits.shape == (8, 10)
    for name in pcl.BRANCHES:
        assert model.branches[name].weight.grad.abs().sum() > 0
        assert model.centroids[name].grad.abs().sum() > 0


def test_denoiser_stack_shapes_and_noise_option():
    torch.manual_seed(0)
    ae = dae.DenoisingAutoencoder(channels=8).eval()
    x = torch.rand(4, 3, 32, 32)
    assert ae(x).shape == x.shape and ae(x).min() >= 0 and ae(x).max() <= 1
    calls = []
    ae.register_forward_hook(lambda *a: calls.append(1))
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    quiet = dae.DefendedClassifier(classifier, ae, layers=3, noise=0.0)
    assert quiet(x).shape == (4, 10) and len(calls) == 3
    assert torch.equal(quiet(x), quiet(x))  # no noise: deterministic
    noisy = dae.DefendedClassifier(classifier, None, layers=0, noise=0.1)
    assert not torch.equal(noisy.purify(x), noisy.purify(x))
    with pytest.raises(ValueError):
        dae.DefendedClassifier(classifier, None, layers=2)


def test_eot_attack_lowers_accuracy_of_a_noisy_chain():
    x, y = _toy(200)
    x = torch.nn.functional.interpolate(x, size=32)
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))
    classifier = _train(classifier, lambda m, a, b: (F.cross_entropy(m(a), b), m(a)), x, y, steps=100)
    chain = dae.DefendedClassifier(classifier, None, layers=0, noise=0.05)
    clean = dae.chain_accuracy(chain, x, y)
    x_adv = dae.adaptive_pgd(chain, x, y, eps=0.03, steps=5, eot=4)
    assert (x_adv - x).abs().max() <= 0.03 + 1e-6
    assert dae.chain_accuracy(chain, x_adv, y) < clean - 0.2


def test_most_robust_sentence_calls_a_tie_inside_the_interval():
    from helpers.studies.cifar_robust_training.report import most_robust_sentence

    def evals(pgd_at, fgsm_at, regularized):
        return {k: {"pgd": v, "images": 1000} for k, v in (("pgd_at", pgd_at), ("fgsm_at", fgsm_at), ("regularized", regularized))}

    tie = most_robust_sentence(evals(0.302, 0.306, 0.057))
    assert "tied within the 95% interval" in tie and "FGSM examples (30.6%)" in tie and "PGD examples (30.2%)" in tie
    clear = most_robust_sentence(evals(0.40, 0.30, 0.05))
    assert "tied" not in clear and "PGD examples is the most PGD-robust (40.0%" in clear
