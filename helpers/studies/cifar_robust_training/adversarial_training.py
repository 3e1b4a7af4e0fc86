"""Training-time attacks in plain PyTorch, the adversarial-training losses, and what they cost.

ART is the reference implementation for *evaluating* models (``evaluation``), but inside a training
loop its NumPy round trips and per-call setup would dominate. ``pgd`` here is the bare loop: k
forward/backward passes with respect to the input only (``torch.autograd.grad`` on the perturbation,
so no weight gradients are computed), a signed step, a projection onto the L-infinity ball and onto
[0, 1]. One PGD-k training step therefore costs k input-gradient passes plus the weight update, about
k + 1 natural steps; ``epoch_cost_ratio`` measures it.

Losses (each ``loss_fn(model, x, y) -> (loss, logits)`` for ``helpers.training.fit``):

- ``pgd_loss``: cross-entropy on PGD examples only (Madry et al. 2018; the study's defense (a));
- ``fgsm_loss``: cross-entropy on FGSM examples only;
- ``regularized_loss``: alpha * J(x) + (1 - alpha) * J(x + delta) (Goodfellow et al. 2015), delta from
  FGSM or PGD.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, step_size: float | None = None,
        random_start: bool = True, eot: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """L-infinity PGD on ``model`` (untargeted, maximizing cross-entropy); returns ``x + delta`` in [0, 1].

    ``steps=1, step_size=eps, random_start=False`` is FGSM. ``eot > 1`` averages the loss over that many
    forward passes per step (expectation over transformation), for models that are random (input noise).
    The model's train/eval mode is left as it is.
    """
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


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` from ``x`` (no random start)."""
    return pgd(model, x, y, eps=eps, steps=1, step_size=eps, random_start=False)


def make_perturbation(attack: str, *, eps: float, steps: int, step_size: float | None = None) -> Callable:
    """``perturb(model, x, y) -> x_adv`` for ``attack`` "pgd" (k = ``steps``) or "fgsm"."""
    if attack == "pgd":
        return lambda model, x, y: pgd(model, x, y, eps=eps, steps=steps, step_size=step_size)
    if attack == "fgsm":
        return lambda model, x, y: fgsm(model, x, y, eps=eps)
    raise ValueError(f"attack must be 'pgd' or 'fgsm', got {attack!r}")


def adversarial_loss(perturb: Callable):
    """Cross-entropy on the adversarial examples ``perturb`` makes of each batch (data augmentation by replacement)."""

    def loss_fn(model, x, y):
        logits = model(perturb(model, x, y))
        return F.cross_entropy(logits, y), logits

    return loss_fn


def pgd_loss(*, eps: float, steps: int, step_size: float | None = None):
    return adversarial_loss(make_perturbation("pgd", eps=eps, steps=steps, step_size=step_size))


def fgsm_loss(*, eps: float):
    return adversarial_loss(make_perturbation("fgsm", eps=eps, steps=1))


def regularized_objective(model, x, x_adv, y, alpha: float):
    """alpha * J(x) + (1 - alpha) * J(x_adv); returns (loss, clean logits)."""
    logits_both = model(torch.cat([x, x_adv]))
    clean, adv = logits_both[: len(x)], logits_both[len(x):]
    return alpha * F.cross_entropy(clean, y) + (1 - alpha) * F.cross_entropy(adv, y), clean


def regularized_loss(*, alpha: float, perturb: Callable):
    """The regularized adversarial objective, the adversarial part from ``perturb`` (accuracy on the clean half)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")

    def loss_fn(model, x, y):
        return regularized_objective(model, x, perturb(model, x, y), y, alpha)

    return loss_fn


def epoch_cost_ratio(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, *, batch_size: int, batches: int = 4,
                     rounds: int = 3, device="cpu", lr: float = 1e-3) -> dict:
    """Time of a ``loss_fn`` training step over a natural one, measured robustly to machine load.

    Both run in this process on copies of ``model`` over the same batches, interleaved (natural batch,
    adversarial batch, natural batch, ...) for ``rounds`` rounds after one warm-up batch each, so a load
    change hits both alike. Returns the ratio of the summed times and the per-batch seconds.
    """
    device = torch.device(device)
    nets = {name: copy.deepcopy(model).to(device).train() for name in ("natural", "adversarial")}
    opts = {name: torch.optim.Adam(net.parameters(), lr=lr) for name, net in nets.items()}
    fns = {"natural": lambda m, xb, yb: (F.cross_entropy(m(xb), yb), None), "adversarial": loss_fn}
    seconds = {"natural": 0.0, "adversarial": 0.0}
    chunks = [(x[i * batch_size:(i + 1) * batch_size].to(device), y[i * batch_size:(i + 1) * batch_size].to(device))
              for i in range(max(1, min(batches, len(x) // batch_size)))]

    def step(name, xb, yb):
        loss, _ = fns[name](nets[name], xb, yb)
        opts[name].zero_grad(set_to_none=True)
        loss.backward()
        opts[name].step()

    for name in seconds:  # warm-up
        step(name, *chunks[0])
    for _ in range(rounds):
        for xb, yb in chunks:
            for name in ("natural", "adversarial"):
                started = time.perf_counter()
                step(name, xb, yb)
                seconds[name] += time.perf_counter() - started
    count = rounds * len(chunks)
    return {"ratio": seconds["adversarial"] / seconds["natural"], "natural_batch_seconds": seconds["natural"] / count,
            "adversarial_batch_seconds": seconds["adversarial"] / count, "batches_timed": count}
