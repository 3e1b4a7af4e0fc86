"""Adversarial training: the training-time attacks, the losses and one training step, and what a step costs.

The attacks are ``helpers.gradient_attacks``' FGSM and PGD (the collection's one home of both), driven by
``input_gradient(model, train_mode=True)``: the model stays in training mode while the attack runs, so
batch-norm normalizes each attack pass with the batch's own statistics, as the training batch sees them
(and updates its running statistics, as training does). Gradients are taken with respect to the input only
(``torch.autograd.grad``), so one PGD-k training step costs k input-gradient passes plus the weight update,
about k + 1 natural steps; ``epoch_cost_ratio`` measures it.

Losses (each ``loss_fn(model, x, y) -> (loss, logits)`` for ``helpers.training.fit``):

- ``pgd_loss``: cross-entropy on PGD examples only (Madry et al. 2018; the study's defense (a)); one step of
  ``fit`` with it is ``pgd_adversarial_training``;
- ``fgsm_loss``: cross-entropy on FGSM examples only;
- ``regularized``: ``regularized_loss``, alpha * J(x) + (1 - alpha) * J(x + delta) (Goodfellow et al. 2015),
  delta from FGSM or PGD.
"""
from __future__ import annotations

import copy
import functools
import time
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from helpers.gradient_attacks import default_step_size, fgsm, input_gradient, pgd

#: ``perturb(model, x, y) -> x_adv``: how a loss gets the adversarial copies of a training batch.
Perturbation = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def training_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int,
                 step_size: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """The inner maximization on a training batch: PGD-k from a random start, batch-norm in training mode."""
    if eps <= 0 or steps <= 0:  # no budget: the batch itself
        return x.detach().clone()
    step_size = step_size if step_size is not None else default_step_size(eps, steps)
    return pgd(input_gradient(model, train_mode=True), x, y, eps=eps, steps=steps, step_size=step_size,
               generator=generator)


def training_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float) -> torch.Tensor:
    """FGSM on a training batch (one signed step of size ``eps``), batch-norm in training mode."""
    if eps <= 0:
        return x.detach().clone()
    return fgsm(input_gradient(model, train_mode=True), x, y, eps=eps)


def make_perturbation(attack: str, *, eps: float, steps: int = 1, step_size: float | None = None) -> Perturbation:
    """``perturb(model, x, y) -> x_adv`` for ``attack`` "pgd" (k = ``steps``) or "fgsm"."""
    if attack == "pgd":
        return functools.partial(training_pgd, eps=eps, steps=steps, step_size=step_size)
    if attack == "fgsm":
        return functools.partial(training_fgsm, eps=eps)
    raise ValueError(f"attack must be 'pgd' or 'fgsm', got {attack!r}")


def adversarial_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, perturb: Perturbation):
    """Cross-entropy at the adversarial copies ``perturb`` makes of the batch (the batch is replaced, not augmented)."""
    logits = model(perturb(model, x, y))
    return F.cross_entropy(logits, y), logits


def pgd_adversarial_training(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
                             eps: float, steps: int, step_size: float) -> torch.Tensor:
    """One step of min over theta of E[ max over ||delta||_inf <= eps of CE(f_theta(x + delta), y) ] (Madry et al.).

    The inner maximum is approximated by PGD-k on the batch; the outer minimum takes one optimizer step on the
    cross-entropy at those adversarial examples. ``helpers.training.fit`` with ``pgd_loss`` runs exactly this
    step on every batch (plus the learning-rate schedule and the crops and flips). Returns the batch's loss.
    """
    model.train()
    x_adv = training_pgd(model, x, y, eps=eps, steps=steps, step_size=step_size)  # inner max: PGD-k
    loss = F.cross_entropy(model(x_adv), y)  # the objective at the adversarial examples
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # outer min: gradient with respect to the weights
    optimizer.step()
    return loss.detach()


def pgd_loss(*, eps: float, steps: int, step_size: float | None = None):
    """``loss_fn`` of PGD adversarial training: cross-entropy on PGD-k examples of each batch."""
    return functools.partial(adversarial_loss, perturb=make_perturbation("pgd", eps=eps, steps=steps, step_size=step_size))


def fgsm_loss(*, eps: float):
    """``loss_fn`` of FGSM adversarial training: cross-entropy on FGSM examples of each batch."""
    return functools.partial(adversarial_loss, perturb=make_perturbation("fgsm", eps=eps))


def regularized_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, alpha: float, perturb: Perturbation):
    """alpha * J(x) + (1 - alpha) * J(x + delta), delta from ``perturb`` (Goodfellow et al. 2015).

    The clean and adversarial halves go through the model as one batch; returns the loss and the clean logits.
    """
    x_adv = perturb(model, x, y)
    logits = model(torch.cat([x, x_adv]))
    clean, adversarial = logits[: len(x)], logits[len(x):]
    loss = alpha * F.cross_entropy(clean, y) + (1 - alpha) * F.cross_entropy(adversarial, y)
    return loss, clean


def regularized(*, alpha: float, perturb: Perturbation):
    """``loss_fn`` of the regularized objective (``regularized_loss`` with its ``alpha`` and ``perturb``)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return functools.partial(regularized_loss, alpha=alpha, perturb=perturb)


def epoch_cost_ratio(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, *, batch_size: int, batches: int = 4,
                     rounds: int = 3, device="cpu", lr: float = 1e-3) -> dict:
    """Time of a ``loss_fn`` training step over a natural one, measured robustly to machine load.

    Both run in this process on copies of ``model`` over the same batches, interleaved (natural batch,
    adversarial batch, natural batch, ...) for ``rounds`` rounds after one warm-up batch each, so a load
    change hits both alike. On a CPU the time is the process's CPU time (all its threads), which other
    processes on the machine do not inflate; on a GPU it is wall time with the device synchronised.
    Returns the ratio of the summed times and the per-batch seconds.
    """
    device = torch.device(device)
    nets = {name: copy.deepcopy(model).to(device).train() for name in ("natural", "adversarial")}
    opts = {name: torch.optim.Adam(net.parameters(), lr=lr) for name, net in nets.items()}
    fns = {"natural": lambda m, xb, yb: (F.cross_entropy(m(xb), yb), None), "adversarial": loss_fn}
    seconds = {"natural": 0.0, "adversarial": 0.0}
    chunks = [(x[i * batch_size:(i + 1) * batch_size].to(device), y[i * batch_size:(i + 1) * batch_size].to(device))
              for i in range(max(1, min(batches, len(x) // batch_size)))]

    clock = time.process_time if device.type == "cpu" else time.perf_counter

    def step(name, xb, yb):
        loss, _ = fns[name](nets[name], xb, yb)
        opts[name].zero_grad(set_to_none=True)
        loss.backward()
        opts[name].step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for name in seconds:  # warm-up
        step(name, *chunks[0])
    for _ in range(rounds):
        for xb, yb in chunks:
            for name in ("natural", "adversarial"):
                started = clock()
                step(name, xb, yb)
                seconds[name] += clock() - started
    count = rounds * len(chunks)
    return {"ratio": seconds["adversarial"] / seconds["natural"], "natural_batch_seconds": seconds["natural"] / count,
            "adversarial_batch_seconds": seconds["adversarial"] / count, "batches_timed": count}
