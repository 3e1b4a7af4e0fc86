"""The generator's real advantage: speed. One forward pass of A against PGD's many gradient steps.

Both attacks run on the same attack digits at the same budget, one after the other in the same process, so
their ratio is measured on one machine under one load. The times per 10,000 digits are scaled from the
digits actually attacked (linear in the number of digits: both attacks process fixed-size batches).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from .ceilings import accuracy_of, pgd_images
from .networks import Attacker
from .training import attack_images

PER = 10_000
"""The number of digits the times are stated for (the MNIST test set)."""


def attacker_on(attacker: Attacker, networks: Mapping[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *, device="cpu") -> dict[str, float]:
    """Each network's accuracy on A's attacked versions of ``x``."""
    attacked = attack_images(attacker, x, device=device)
    return {name: accuracy_of(model, attacked, y, device) for name, model in networks.items()}


@dataclass
class SpeedComparison:
    intensity: float
    digits: int
    pgd_steps: int
    attacker_seconds: float
    pgd_seconds: float
    attacker_accuracy: float
    pgd_accuracy: float

    @property
    def ratio(self) -> float:
        """How many times faster the trained attacker is than PGD on the same digits."""
        return self.pgd_seconds / self.attacker_seconds

    def per(self, seconds: float, digits: int = PER) -> float:
        return seconds * digits / self.digits


def time_attacks(attacker: Attacker, target: nn.Module, x: torch.Tensor, y: torch.Tensor, *, intensity: float, steps: int,
                 batch_size: int = 500, device="cpu") -> SpeedComparison:
    """Time A's forward pass and PGD-``steps`` (same batch size) on ``x`` against ``target``."""
    attack_images(attacker, x[:batch_size], batch_size=batch_size, device=device)  # warm-up: first-call allocations
    started = time.perf_counter()
    attacked = attack_images(attacker, x, batch_size=batch_size, device=device)
    attacker_seconds = time.perf_counter() - started
    started = time.perf_counter()
    adversarial = pgd_images(target, x, y, eps=intensity, steps=steps, batch_size=batch_size, device=device,
                             desc=f"timing PGD-{steps}, eps={intensity:g}")
    pgd_seconds = time.perf_counter() - started
    return SpeedComparison(intensity, len(x), steps, attacker_seconds, pgd_seconds,
                           accuracy_of(target, attacked, y, device), accuracy_of(target, adversarial, y, device))
