"""LeNet with dropout, as in the study: two convolution blocks, a dense head with dropout 0.5.

Dropout sits only in the dense head, after the (deterministic) convolutions. MC-dropout therefore
computes the convolutional features once per image and runs only the head N times, which is what
makes N passes cheap (see ``uncertainty.mc_probabilities``).
"""
from __future__ import annotations

import torch
from torch import nn

from helpers.training import fit_or_load


class DropoutLeNet(nn.Module):
    """LeNet-5 style: conv5-``width``, pool, conv5-2*``width``, pool, dropout, dense-``hidden``, dropout, dense-10."""

    def __init__(self, classes: int = 10, width: int = 16, hidden: int = 128, dropout: float = 0.5):
        super().__init__()
        self.dropout = dropout
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * width * 4 * 4, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_lenet(data, *, epochs: int, batch_size: int, learning_rate: float, seed: int, device, dropout: float = 0.5, width: int = 16, hidden: int = 128):
    """Train the LeNet on ``data`` or load it from the cache; returns (model in eval mode, history, from_cache)."""
    torch.manual_seed(seed)
    model = DropoutLeNet(width=width, hidden=hidden, dropout=dropout)

    history, from_cache = fit_or_load(
        "mnist-detection-lenet", model, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        seed=seed, device=device, desc="training LeNet",
        extra_parts={"dropout": dropout, "width": width, "hidden": hidden},
    )
    return model.to(device).eval(), history, from_cache
