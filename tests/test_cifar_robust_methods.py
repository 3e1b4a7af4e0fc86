"""The CIFAR-10 study's methods on the page: the readable functions are the ones that run, and they agree with
the code they replaced (adversarial training) and with ART's fast path (FGSM, PGD, DeepFool)."""
from __future__ import annotations

import copy
import inspect

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from conftest import needs_cifar_jpg
from helpers import gradient_attacks
from helpers.studies.cifar_robust_training import adversarial_training as at
from helpers.studies.cifar_robust_training import denoiser as dae
from helpers.studies.cifar_robust_training import evaluation, study
from helpers.studies.cifar_robust_training.model import CifarMobileNetV3


def _previous_pgd(model, x, y, *, eps, steps, step_size=None, random_start=True, eot=1, generator=None):
    """The study's own PGD loop before it moved to helpers.gradient_attacks, kept verbatim as the yardstick."""
    if eps <= 0 or steps <= 0:
        return x.detach().clone()
    step_size = step_size if step_size is not None else 2.5 * eps / steps
    x = x.detach()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device="cpu" if generator is not None else x.device)
        delta = (noise.to(x.device) * 2 - 1) * eps
        delta = (x + delta).clamp(0, 1) - x
    else:
        delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = sum(F.cross_entropy(model(x + delta), y) for _ in range(eot)) / eot
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = (delta + step_size * grad.sign()).clamp(-eps, eps)
            delta = (x + delta).clamp(0, 1) - x
    return (x + delta).detach()


def _previous_training_step(model, optimizer, x, y, *, eps, steps, step_size):
    """One step of ``fit`` with the previous ``pgd_loss``: the model in train mode, PGD left it so."""
    model.train()
    loss = F.cross_entropy(model(_previous_pgd(model, x, y, eps=eps, steps=steps, step_size=step_size)), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _network(seed=0):
    torch.manual_seed(seed)
    return CifarMobileNetV3(width=0.25, first_stride=2)


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_a_pgd_training_step_is_unchanged_by_the_move_to_gradient_attacks():
    """Same seed, same batch: the loss, the weights and the batch-norm statistics after two steps match the
    study's previous loop (batch-norm in training mode during the attack, as before)."""
    x, y = _batch()
    runs = []
    for step in (_previous_training_step, at.pgd_adversarial_training):
        model = _network()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        torch.manual_seed(123)
        losses = [step(model, optimizer, x, y, eps=8 / 255, steps=2, step_size=2.5 * (8 / 255) / 2) for _ in range(2)]
        runs.append((losses, model.state_dict()))
    (old_losses, old_state), (new_losses, new_state) = runs
    assert torch.allclose(torch.stack(old_losses), torch.stack(new_losses), atol=1e-5)
    for name, value in old_state.items():
        assert torch.allclose(value.float(), new_state[name].float(), atol=1e-5), name


def test_fit_runs_the_readable_training_step():
    """``pgd_loss`` (what ``fit`` calls on every batch) and ``pgd_adversarial_training`` make the same update."""
    x, y = _batch()
    eps, steps, step_size = 8 / 255, 2, 0.01
    model_a, model_b = _network(), _network()
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1)
    torch.manual_seed(7)
    loss_a = at.pgd_adversarial_training(model_a, opt_a, x, y, eps=eps, steps=steps, step_size=step_size)
    torch.manual_seed(7)
    model_b.train()
    loss_b, _ = at.pgd_loss(eps=eps, steps=steps, step_size=step_size)(model_b, x, y)
    opt_b.zero_grad(set_to_none=True)
    loss_b.backward()
    opt_b.step()
    assert torch.allclose(loss_a, loss_b.detach())
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.allclose(a.float(), b.float()), name


def test_the_attack_keeps_batch_norm_in_training_mode_during_adversarial_training():
    x, y = _batch()
    model = _network().eval()
    before = copy.deepcopy(model.state_dict())
    at.training_pgd(model, x, y, eps=8 / 255, steps=2)
    assert model.training  # train_mode=True: the attack sees the batch's statistics and updates the running ones
    moved = [k for k, v in model.state_dict().items() if k.endswith("running_mean") and not torch.equal(v, before[k])]
    assert moved


def test_regularized_and_fgsm_losses_match_the_previous_formulas():
    x, y = _batch(8)
    eps, alpha = 8 / 255, 0.3
    model = _network().train()
    torch.manual_seed(1)
    loss, clean_logits = at.regularized(alpha=alpha, perturb=at.make_perturbation("fgsm", eps=eps))(model, x, y)
    # FGSM as the previous loop made it: one step of size eps, no random start
    x_fgsm = _previous_pgd(_network().train(), x, y, eps=eps, steps=1, step_size=eps, random_start=False)
    new_fgsm = at.training_fgsm(_network().train(), x, y, eps=eps)
    assert torch.allclose(x_fgsm, new_fgsm, atol=1e-6)
    assert loss.ndim == 0 and clean_logits.shape == (8, 10)
    with pytest.raises(ValueError):
        at.regularized(alpha=1.5, perturb=at.make_perturbation("fgsm", eps=eps))


def test_no_budget_leaves_the_batch_as_it_is():
    x, y = _batch(4)
    model = _network()
    assert torch.equal(at.training_pgd(model, x, y, eps=0.0, steps=3), x)
    assert torch.equal(at.training_fgsm(model, x, y, eps=0.0), x)


def test_eot_pgd_is_the_previous_adaptive_attack():
    """The adaptive attack through a noisy chain draws the same noise in the same order as the previous loop."""
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    ae = dae.DenoisingAutoencoder(channels=4).eval()
    chain = dae.DefendedClassifier(classifier, ae, layers=2, noise=0.1).eval()
    x, y = _batch(8)
    torch.manual_seed(5)
    old = _previous_pgd(chain, x, y, eps=8 / 255, steps=3, eot=3)
    torch.manual_seed(5)
    new = dae.eot_pgd(chain, x, y, eps=8 / 255, steps=3, samples=3)
    assert (new - x).abs().max() <= 8 / 255 + 1e-6
    assert torch.allclose(old, new, atol=1e-5)


def test_eot_averages_the_loss_over_noise_draws():
    """``input_gradient(samples=k)`` averages k noisy passes: with k large its gradient varies less between calls."""
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    chain = dae.DefendedClassifier(classifier, None, layers=0, noise=0.3).eval()
    x, y = _batch(4)
    spread = {}
    for k in (1, 16):
        gradient = gradient_attacks.input_gradient(chain, samples=k)
        draws = torch.stack([gradient(x, y) for _ in range(6)])
        spread[k] = float(draws.std(0).mean())
    assert spread[16] < 0.5 * spread[1]


def test_the_denoiser_objective_and_chain_are_the_functions_on_the_page():
    torch.manual_seed(0)
    ae = dae.DenoisingAutoencoder(channels=4)
    x, _ = _batch(4)
    torch.manual_seed(3)
    loss = dae.denoising_loss(ae, x, sigma=0.1)
    torch.manual_seed(3)
    expected = F.mse_loss(ae((x + 0.1 * torch.randn_like(x)).clamp(0, 1)), x)
    assert torch.allclose(loss, expected)
    chain = dae.DefendedClassifier(nn.Identity(), ae, layers=2, noise=0.0)
    assert torch.allclose(chain.purify(x), ae(ae(x)))


def test_every_method_on_the_page_is_a_short_readable_function():
    for name, function in study.METHODS.items():
        source = inspect.getsource(function)
        assert inspect.isfunction(function), name
        assert inspect.getdoc(function), f"{name} has no docstring"
        assert len(source.splitlines()) <= 40, f"{name} is {len(source.splitlines())} lines"
    assert study.METHODS["fgsm"] is gradient_attacks.fgsm and study.METHODS["pgd"] is gradient_attacks.pgd


def _trained_cifar_model():
    """A small CNN trained a few epochs on offline CIFAR-10 images: the trained model the agreement is held on."""
    from helpers.data import load_cifar10
    from helpers.training import fit

    data = load_cifar10(2000, 100, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
    fit(model, data.x_train, data.y_train, epochs=4, batch_size=64, lr=2e-3, seed=0, desc="test model")
    return model.eval(), data


@needs_cifar_jpg
def test_readable_attacks_agree_with_art_on_a_trained_model():
    pytest.importorskip("art")
    model, data = _trained_cifar_model()
    x, y = data.x_test[:64], data.y_test[:64]
    natural = float((model(x).argmax(1) == y).float().mean())
    assert natural > 0.2  # a trained model, not chance
    out = evaluation.compare_with_art(model, x, y, eps=8 / 255, steps=5, deepfool_images=16, deepfool_steps=10,
                                      batch_size=32, seed=0)
    for name in ("FGSM", "PGD-5"):
        row = out[name]
        assert abs(row["art"] - row["readable"]) <= 0.01, (name, row)
        assert row["max_pixel_difference"] < 1e-4, (name, row)
        assert row["art"] < natural
    deep = out["DeepFool"]
    assert abs(deep["art"] - deep["readable"]) <= 1 / 16 and deep["agree"] >= 15 / 16
    assert deep["readable_median_linf"] == pytest.approx(deep["art_median_linf"], rel=0.25)
    # DeepFool moves each image off the class the model predicted (not necessarily off the true label)
    before = model(x[:16]).argmax(1)
    after = model(evaluation.deepfool(model, x[:16], steps=10)).argmax(1)
    assert float((after != before).float().mean()) >= 15 / 16


def test_the_agreement_runs_on_a_small_batch_and_reads_as_a_table(monkeypatch):
    seen = {}

    def fake_compare(model, x, y, **options):
        seen.update(images=len(x), deepfool=options["deepfool_images"], steps=options["steps"])
        return {"FGSM": {"images": len(x), "art": 0.1, "readable": 0.1, "agree": 1.0, "max_pixel_difference": 0.0},
                "DeepFool": {"images": 20, "art": 0.0, "readable": 0.05, "agree": 0.95, "max_pixel_difference": 0.01,
                             "art_median_linf": 0.02, "readable_median_linf": 0.021}}

    class Data:
        x_test, y_test = torch.zeros(1000, 3, 32, 32), torch.zeros(1000, dtype=torch.long)

    monkeypatch.setattr(study, "compare_with_art", fake_compare)
    params = {"curve_size": 200, "deepfool_size": 100, "epsilon": 8 / 255, "eval_pgd_steps": 20, "deepfool_steps": 20,
              "batch_size": 256, "seed": 0}
    comparison = study.compare_readable(None, Data, params, "cpu")
    assert seen == {"images": study.AGREEMENT_IMAGES, "deepfool": study.AGREEMENT_DEEPFOOL_IMAGES, "steps": 20}
    from helpers.studies.cifar_robust_training import report

    rows, header = report.agreement_table(comparison)
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    text = report.agreement_summary(comparison)
    assert "5.0 points apart (DeepFool)" in text and "0.0200 through ART" in text
