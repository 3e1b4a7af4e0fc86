"""The universal perturbation: one delta for every digit, the lower ceiling for an input-dependent attacker.

It is trained on the attacker's training digits with the attacker's objective (C's cross-entropy on
``clip(x + delta, 0, 1)``), but its output does not depend on the digit: an attacker A that ignored its input
would be exactly this. Anything A does better comes from tailoring its perturbation to each digit. The delta
is trained once per classifier and intensity (its batch order follows the run's seed), not per attacker seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from helpers.training import batches, evaluate
from .networks import frozen


def universal_perturbation(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, *, intensity: float, epochs: int,
                           batch_size: int = 128, seed: int = 0, device="cpu") -> tuple[torch.Tensor, float]:
    """One delta of at most ``intensity`` per pixel that raises ``model``'s cross-entropy on every digit.

    Signed gradient steps on the shared delta, batch after batch, each followed by a projection onto [-t, t];
    the step shrinks geometrically from t/4 to t/40 over all steps. Returns the delta with the lowest training
    accuracy at the end of an epoch, and that accuracy."""
    delta, best, best_accuracy = torch.zeros(1, 1, 28, 28, device=device), None, 2.0
    steps, step = epochs * -(-len(x_train) // batch_size), 0
    for epoch in range(1, epochs + 1):
        for x, y in batches(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed + epoch):
            delta.requires_grad_(True)
            loss = nn.functional.cross_entropy(model((x.to(device) + delta).clamp(0.0, 1.0)), y.to(device))
            (grad,) = torch.autograd.grad(loss, delta)
            size = intensity * 0.25 * 0.1 ** (step / max(steps - 1, 1))
            delta = (delta + size * grad.sign()).clamp(-intensity, intensity).detach()
            step += 1
        accuracy = evaluate(model, (x_train + delta.cpu()).clamp(0.0, 1.0), y_train, device=device)[1]
        if accuracy < best_accuracy:
            best, best_accuracy = delta.clone(), accuracy
    return best.cpu(), best_accuracy


@dataclass
class Universal:
    """One perturbation for every digit, trained against one classifier."""

    intensity: float
    delta: torch.Tensor         # (1, 1, 28, 28), every pixel in [-t, t]
    accuracy: float             # the classifier's accuracy on the attack digits plus delta
    train_accuracy: float       # on the training digits it was fitted on
    transfer: dict[str, float]  # other classifiers on the attack digits plus delta
    digits: int = 0             # attack digits the accuracies are measured on

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.delta.to(x.device)).clamp(0.0, 1.0)


def fit_universal(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
                  intensity: float, epochs: int, batch_size: int = 128, others=None, seed: int = 0, device="cpu") -> Universal:
    """``universal_perturbation`` against the frozen ``model``, measured on the attack digits ``x`` against it and
    against ``others`` (name -> classifier: transfer)."""
    frozen(model)
    model.to(device)
    delta, train_accuracy = universal_perturbation(model, x_train, y_train, intensity=intensity, epochs=epochs,
                                                   batch_size=batch_size, seed=seed, device=device)
    attacked = (x + delta).clamp(0.0, 1.0)
    accuracy = lambda network: evaluate(network, attacked, y, device=device)[1]  # noqa: E731
    return Universal(intensity, delta, accuracy(model), train_accuracy,
                     {name: accuracy(other) for name, other in (others or {}).items()}, len(x))
