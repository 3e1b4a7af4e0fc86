"""Feature squeezing (Xu et al. 2018) and the straight-through gradient that attacks through it (BPDA,
Athalye et al. 2018), in plain PyTorch.

``feature_squeezing`` and ``bpda`` are the readable methods the notebook shows; ``Squeezed`` puts the two in
front of a model, so that ``helpers.gradient_attacks`` can attack the defended model as a whole. ART's own
``FeatureSqueezing`` pre-processor computes the same squeeze and passes gradients straight through as well;
``helpers.studies.quickstart.study.compare_defense`` measures how closely the two agree.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def feature_squeezing(x: torch.Tensor, bit_depth: int) -> torch.Tensor:
    """Reduce every pixel in [0, 1] to ``bit_depth`` bits: round it to the nearest of 2**bit_depth levels.

    At one bit a pixel becomes 0 or 1 (threshold 0.5); at eight bits the 256 levels of an ordinary image stay.
    """
    levels = 2 ** bit_depth - 1
    return torch.round(x * levels) / levels


def bpda(x: torch.Tensor, squeeze: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The straight-through estimator: the value of ``squeeze(x)``, the gradient of the identity.

    Rounding has a zero gradient almost everywhere, so an attack that differentiates through it learns
    nothing. Here the difference ``squeeze(x) - x`` is detached: the forward pass sees the squeezed input,
    the backward pass treats the squeezer as if it returned ``x`` unchanged.
    """
    return x + (squeeze(x) - x).detach()


class Squeezed(nn.Module):
    """``model`` with feature squeezing in front; ``straight_through`` makes its gradient BPDA's."""

    def __init__(self, model: nn.Module, bit_depth: int, *, straight_through: bool = True):
        super().__init__()
        self.model, self.bit_depth, self.straight_through = model, bit_depth, straight_through

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        return feature_squeezing(x, self.bit_depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(bpda(x, self.squeeze) if self.straight_through else self.squeeze(x))
