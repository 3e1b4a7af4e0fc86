"""First-order L-infinity attacks in plain PyTorch: the one home of FGSM, BIM and PGD in this collection.

Every attack here needs only a function ``gradient(x, y)`` that returns the gradient of a loss with respect
to the input. ``input_gradient(model)`` makes one from a PyTorch model (with the model's mode, the loss and
an optional expectation over random passes as explicit arguments); ``helpers.torch_pgd`` makes one from an
ART estimator, so that ART's pre-processing (and BPDA through it) applies, and then runs the same ``pgd``.

With l the loss, x the clean input, y its label and eps the budget (the notebooks show the formulas):

- FGSM (Goodfellow et al. 2015): x' = clip(x + eps * sign(grad_x l)).
- PGD (Madry et al. 2018): from a random point of the eps-ball, repeat a signed step of size alpha and a
  projection back onto the ball and the pixel range.
- BIM (Kurakin et al. 2017): PGD without the random start.

Randomness is explicit: the random start draws from the ``generator`` it is given (on the CPU, so that a
seed gives the same start on every device) and from nothing else.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

Gradient = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def input_gradient(model: torch.nn.Module, *, loss: Callable = F.cross_entropy, train_mode: bool = False,
                   samples: int = 1) -> Gradient:
    """``gradient(x, y)``: the gradient of ``loss(model(x), y)`` with respect to ``x`` only.

    ``train_mode`` sets the model's mode for every call (False: eval, the usual attack on a trained model;
    True: adversarial training that keeps batch-norm in training mode). ``samples > 1`` averages the loss over
    that many forward passes: the expectation over transformation (EOT) for a model that is random.
    """
    def gradient(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model.train(train_mode)
        x = x.detach().requires_grad_(True)
        if samples == 1:  # the common case without the sum's extra graph nodes (2-3% of a PGD step, measured)
            value = loss(model(x), y)
        else:
            value = sum(loss(model(x), y) for _ in range(samples)) / samples
        (grad,) = torch.autograd.grad(value, x)
        return grad

    return gradient


def fgsm(gradient: Gradient, x: torch.Tensor, y: torch.Tensor, *, eps: float,
         clip: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``eps`` along the sign of the loss gradient."""
    return (x + eps * gradient(x, y).sign()).clamp(*clip).detach()


def pgd(gradient: Gradient, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, step_size: float,
        random_start: bool = True, generator: torch.Generator | None = None,
        clip: tuple[float, float] = (0.0, 1.0), targeted: bool = False) -> torch.Tensor:
    """L-infinity projected gradient descent: signed steps up the loss, projected onto the eps-ball and ``clip``.

    ``targeted=True`` steps *down* the loss of the target labels ``y`` instead.
    """
    x = x.detach()
    direction = -1.0 if targeted else 1.0
    x_adv = x
    if random_start:  # a uniform point of the ball, drawn on the CPU from the given generator
        noise = torch.rand(x.shape, generator=generator).to(x.device)
        x_adv = (x + (2 * noise - 1) * eps).clamp(*clip)
    for _ in range(steps):
        x_adv = x_adv + direction * step_size * torch.nan_to_num(gradient(x_adv, y)).sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(*clip)  # projection onto the ball and the pixel range
    return x_adv.detach()


def bim(gradient: Gradient, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, step_size: float,
        clip: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Basic iterative method: PGD that starts from the clean input."""
    return pgd(gradient, x, y, eps=eps, steps=steps, step_size=step_size, random_start=False, clip=clip)


def default_step_size(eps: float, steps: int) -> float:
    """Madry et al.'s rule: steps of 2.5 eps / steps, so that the walk can cross the ball and come back."""
    return 2.5 * eps / max(steps, 1)


def in_batches(attack: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, *,
               batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Run ``attack(x_batch, y_batch)`` over ``x`` in batches on ``device``; the result is on the CPU."""
    device = device if device is not None else x.device
    pieces = [attack(x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)).cpu()
              for i in range(0, len(x), batch_size)]
    return torch.cat(pieces) if pieces else x.clone()
