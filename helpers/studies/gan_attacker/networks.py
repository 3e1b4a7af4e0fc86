"""The two networks of the study.

``Classifier`` (C1, C2, ...): two 5x5 convolutions (32 and 64 channels, "same" padding), each followed by
batch norm, ReLU and 2x2 max-pooling, then one fully connected layer to the 10 classes. It returns logits;
the softmax of the study is folded into the cross-entropy (``torch.nn.functional.cross_entropy``).

``Attacker`` (A): an encoder of four 5x5 stride-2 convolutions, 28x28x1 -> 14x14x64 -> 7x7x128 -> 4x4x256 ->
2x2x512 (LeakyReLU 0.2, batch norm from the second one on), and a decoder of four 5x5 stride-2 transposed
convolutions back to 4x4x256 -> 7x7x128 -> 14x14x64 -> 28x28x1 (batch norm and ReLU, tanh at the end).
``width`` scales every channel count (1.0: the study's; 0.25: 16, 32, 64, 128). ``attacker_output`` turns the
tanh output into a perturbation bounded by the intensity ``t`` (multiplied by t, or clamped to [-t, t]) and the
attacked image ``clip(x + A(x), 0, 1)``, so every pixel moves by at most t (an L-infinity budget of t).

``architecture="skip"`` (a deviation from the study) adds U-Net skip connections: each transposed convolution
also sees the encoder's features at its own resolution (concatenated), so the perturbation can follow the
strokes of each digit instead of passing everything through the 2x2 bottleneck. The notebook can train the
study's architecture beside it (``extras``); ``docs/reproducing/gan_attacker.md`` lists what the two measured.
"""
from __future__ import annotations

import torch
from torch import nn

OUTPUT_MODES = ("scaled", "clamp")
ARCHITECTURES = ("study", "skip")


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

    def __init__(self, intensity: float, output_mode: str = "scaled", architecture: str = "study", width: float = 1.0):
        super().__init__()
        if not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity must be in [0, 1], got {intensity!r}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {', '.join(OUTPUT_MODES)}, got {output_mode!r}")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
        if not 0.0 < width <= 4.0:
            raise ValueError(f"width must be in (0, 4], got {width!r}")
        self.intensity = float(intensity)
        self.output_mode = output_mode
        self.architecture = architecture
        self.width = float(width)
        c1, c2, c3, c4 = channels(width)
        self.encoder = nn.Sequential(
            *_down(1, c1, batch_norm=False),    # 14x14x64 at width 1
            *_down(c1, c2, batch_norm=True),    # 7x7x128
            *_down(c2, c3, batch_norm=True),    # 4x4x256
            *_down(c3, c4, batch_norm=True),    # 2x2x512
        )
        skip = 2 if architecture == "skip" else 1  # a skip connection doubles the decoder layer's input channels
        self.decoder = nn.Sequential(
            nn.Sequential(*_up(c4, c3, output_padding=1)),          # 4x4x256
            nn.Sequential(*_up(c3 * skip, c2, output_padding=0)),   # 7x7x128
            nn.Sequential(*_up(c2 * skip, c1, output_padding=1)),   # 14x14x64
            nn.Sequential(nn.ConvTranspose2d(c1 * skip, 1, 5, stride=2, padding=2, output_padding=1), nn.Tanh()),  # 28x28x1
        )

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's output at each resolution: 14x14, 7x7, 4x4, 2x2."""
        features = []
        for layer in self.encoder:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                features.append(x)
        return features

    def last_activation(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's tanh output h(x), every pixel in [-1, 1], before the intensity bounds it."""
        features = self._encode(x)
        h = self.decoder[0](features[-1])
        for layer, skipped in zip(self.decoder[1:], reversed(features[:-1])):
            h = layer(torch.cat([h, skipped], 1) if self.architecture == "skip" else h)
        return h

    def perturbation(self, x: torch.Tensor) -> torch.Tensor:
        """The perturbation A(x), every pixel in [-t, t]."""
        return attacker_output(x, self.last_activation(x), self.intensity, self.output_mode)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The attacked image clip(x + A(x), 0, 1)."""
        return attacker_output(x, self.last_activation(x), self.intensity, self.output_mode)[1]


def channels(width: float) -> tuple[int, int, int, int]:
    """The encoder's channels at ``width`` (1.0: the study's 64, 128, 256, 512), at least one each."""
    return tuple(max(1, round(c * width)) for c in (64, 128, 256, 512))


def attacker_output(x: torch.Tensor, h: torch.Tensor, t: float, mode: str = "scaled") -> tuple[torch.Tensor, torch.Tensor]:
    """The attacker's bounded perturbation and the attacked image, from its last activation ``h = tanh(...)``.

    ``scaled`` (the default): delta = t * h, so all of tanh's range is used and the gradient never stops;
    ``clamp``: delta = h clipped to [-t, t] (values of |h| above t are cut off and get no gradient).
    The attacked image x' = clip(x + delta, 0, 1) stays an image; every pixel moves by at most t.
    """
    delta = t * h if mode == "scaled" else h.clamp(-t, t)
    return delta, (x + delta).clamp(0.0, 1.0)


def frozen(module: nn.Module, flag: bool = True) -> nn.Module:
    """Freeze (eval mode, no gradients) or unfreeze (train mode, gradients) ``module``; returns it.

    Eval mode matters as much as ``requires_grad``: a batch-norm layer in train mode updates its running
    statistics on every forward pass, which would change a network that is meant to be frozen.
    """
    module.train(not flag)
    for parameter in module.parameters():
        parameter.requires_grad_(not flag)
    return module
