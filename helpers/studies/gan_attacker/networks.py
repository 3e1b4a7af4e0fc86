"""The two networks of the study.

``Classifier`` (C1, C2, ...): two 5x5 convolutions (32 and 64 channels, "same" padding), each followed by
batch norm, ReLU and 2x2 max-pooling, then one fully connected layer to the 10 classes. It returns logits;
the softmax of the study is folded into the cross-entropy (``torch.nn.functional.cross_entropy``).

``Attacker`` (A): an encoder of four 5x5 stride-2 convolutions, 28x28x1 -> 14x14x64 -> 7x7x128 -> 4x4x256 ->
2x2x512 (LeakyReLU 0.2, batch norm from the second one on), and a decoder of four 5x5 stride-2 transposed
convolutions back to 4x4x256 -> 7x7x128 -> 14x14x64 -> 28x28x1 (batch norm and ReLU, tanh at the end).
Its output is a perturbation bounded by the intensity ``t``: the tanh output clamped to [-t, t]
(``output_mode="clamp"``) or the tanh output multiplied by t (``output_mode="scaled"``). The attacked image
is ``clip(x + A(x), 0, 1)``, so every pixel moves by at most t (an L-infinity budget of t).
"""
from __future__ import annotations

import torch
from torch import nn

OUTPUT_MODES = ("scaled", "clamp")


class Classifier(nn.Module):
    """C: conv5x5(32)-BN-ReLU-pool, conv5x5(64)-BN-ReLU-pool, dense(10). Input (N, 1, 28, 28) in [0, 1]."""

    def __init__(self, channels: tuple[int, int] = (32, 64), classes: int = 10):
        super().__init__()
        first, second = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, first, 5, padding=2), nn.BatchNorm2d(first), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(first, second, 5, padding=2), nn.BatchNorm2d(second), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(second * 7 * 7, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def _down(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 5, stride=2, padding=2)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.LeakyReLU(0.2)]


def _up(cin: int, cout: int, output_padding: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=output_padding),
            nn.BatchNorm2d(cout), nn.ReLU()]


class Attacker(nn.Module):
    """A: maps an image to a perturbation with every pixel in [-t, t] (see the module docstring)."""

    def __init__(self, intensity: float, output_mode: str = "scaled"):
        super().__init__()
        if not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity must be in [0, 1], got {intensity!r}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {', '.join(OUTPUT_MODES)}, got {output_mode!r}")
        self.intensity = float(intensity)
        self.output_mode = output_mode
        self.encoder = nn.Sequential(
            *_down(1, 64, batch_norm=False),    # 14x14x64
            *_down(64, 128, batch_norm=True),   # 7x7x128
            *_down(128, 256, batch_norm=True),  # 4x4x256
            *_down(256, 512, batch_norm=True),  # 2x2x512
        )
        self.decoder = nn.Sequential(
            *_up(512, 256, output_padding=1),   # 4x4x256
            *_up(256, 128, output_padding=0),   # 7x7x128
            *_up(128, 64, output_padding=1),    # 14x14x64
            nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1),  # 28x28x1
            nn.Tanh(),
        )

    def perturbation(self, x: torch.Tensor) -> torch.Tensor:
        """The perturbation A(x), every pixel in [-t, t]."""
        raw = self.decoder(self.encoder(x))
        if self.output_mode == "clamp":
            return raw.clamp(-self.intensity, self.intensity)
        return self.intensity * raw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The attacked image clip(x + A(x), 0, 1)."""
        return (x + self.perturbation(x)).clamp(0.0, 1.0)


def frozen(module: nn.Module, flag: bool = True) -> nn.Module:
    """Freeze (eval mode, no gradients) or unfreeze (train mode, gradients) ``module``; returns it.

    Eval mode matters as much as ``requires_grad``: a batch-norm layer in train mode updates its running
    statistics on every forward pass, which would change a network that is meant to be frozen.
    """
    module.train(not flag)
    for parameter in module.parameters():
        parameter.requires_grad_(not flag)
    return module
