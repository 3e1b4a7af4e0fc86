"""A differentiable stand-in for LightGBM, so a gradient attacker can go through the whole defense.

LightGBM is a tree ensemble on the CNN's four softmax outputs: piecewise constant, no gradient. The
attacker who knows the defense can query it as often as it likes, so it trains a small network
(``SurrogateNet``) to reproduce LightGBM's class probabilities from the same softmax vectors, and
differentiates that instead (the gradient comes from the surrogate, the score from the real LightGBM).

The surrogate learns from softmax vectors labelled by LightGBM itself: those of the pool of the mix
(what LightGBM was fitted and validated on), the same vectors jittered towards random points of the
simplex, and random points of the simplex (where an attack may go). Its agreement with LightGBM (the
share of inputs where both pick the same class) is measured on inputs it never saw: the held-out
tiles' softmax vectors and fresh random points of the simplex.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.data.histology import GROUPS
from .model import WithSoftmax

EPS = 1e-6


class SurrogateNet(nn.Module):
    """Softmax vector (N, C) -> logits (N, C) of LightGBM's class probabilities.

    The input is given as probabilities and their logarithms: LightGBM's trees split on thresholds such
    as 0.999 or 0.001, which the log scale spreads apart.
    """

    def __init__(self, classes: int = len(GROUPS), hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * classes, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes),
        )

    def forward(self, probs):
        return self.net(torch.cat([probs, torch.log(probs.clamp_min(EPS))], dim=1))


class ThroughSurrogate(nn.Module):
    """CNN -> softmax -> surrogate: logits of (an estimate of) the defense's output, differentiable end to end."""

    def __init__(self, model: nn.Module, surrogate: SurrogateNet):
        super().__init__()
        self.softmax_model = WithSoftmax(model)
        self.surrogate = surrogate

    def forward(self, x):
        return self.surrogate(self.softmax_model(x))


def simplex_points(n: int, rng: np.random.Generator, classes: int = len(GROUPS)) -> np.ndarray:
    """``n`` random points of the probability simplex, half near its corners and edges (Dirichlet 0.1), half spread (Dirichlet 1)."""
    sparse = rng.dirichlet(np.full(classes, 0.1), n // 2)
    spread = rng.dirichlet(np.ones(classes), n - n // 2)
    return np.clip(np.concatenate([sparse, spread]), EPS, 1.0).astype(np.float32)


def training_inputs(probs: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The softmax vectors LightGBM learned from, jittered copies of them, and ``samples`` random simplex points."""
    probs = np.asarray(probs, dtype=np.float32)
    parts = [probs]
    if len(probs):
        base = probs[rng.integers(0, len(probs), samples // 2)]
        t = rng.uniform(0.0, 0.5, (len(base), 1)).astype(np.float32)
        parts.append((1 - t) * base + t * simplex_points(len(base), rng, probs.shape[1]))
    parts.append(simplex_points(samples - sum(len(p) for p in parts[1:]), rng, probs.shape[1] if len(probs) else len(GROUPS)))
    return np.concatenate(parts).astype(np.float32)


def fit_surrogate(lightgbm, probs: np.ndarray, *, samples: int = 5000, hidden: int = 64, steps: int = 1500,
                  batch_size: int = 256, learning_rate: float = 3e-3, seed: int = 0) -> SurrogateNet:
    """Train a ``SurrogateNet`` to match ``lightgbm``'s probabilities (soft cross-entropy) on ``training_inputs``."""
    rng = np.random.default_rng(seed)
    inputs = training_inputs(probs, samples, rng)
    targets = np.asarray(lightgbm(inputs), dtype=np.float32)
    torch.manual_seed(seed)
    net = SurrogateNet(classes=inputs.shape[1], hidden=hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    x_all, t_all = torch.from_numpy(inputs), torch.from_numpy(targets)
    generator = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        batch = torch.randint(0, len(x_all), (min(batch_size, len(x_all)),), generator=generator)
        loss = -(t_all[batch] * torch.log_softmax(net(x_all[batch]), dim=1)).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net


def surrogate_probabilities(net: SurrogateNet, probs: np.ndarray) -> np.ndarray:
    device = next(net.parameters()).device
    with torch.no_grad():
        return torch.softmax(net(torch.as_tensor(np.asarray(probs, dtype=np.float32), device=device)), dim=1).cpu().numpy()


def agreement(net: SurrogateNet, lightgbm, probs: np.ndarray) -> float:
    """Share of softmax vectors where the surrogate and LightGBM pick the same class (NaN for none)."""
    probs = np.asarray(probs, dtype=np.float32)
    if not len(probs):
        return float("nan")
    return float((surrogate_probabilities(net, probs).argmax(1) == np.asarray(lightgbm(probs)).argmax(1)).mean())


@dataclass
class Surrogate:
    """A trained surrogate of one LightGBM post-processor and its agreement with it on inputs it never saw.

    ``agreement_held_out``: on the held-out tiles' softmax vectors (clean and adversarial, never seen by
    LightGBM or the surrogate); ``agreement_random``: on fresh random points of the simplex;
    ``agreement_attack``: at the end-to-end attack's own examples (filled in after the attack's last round).
    """

    net: SurrogateNet
    train_inputs: int
    agreement_train: float
    agreement_held_out: float
    held_out_inputs: int
    agreement_random: float
    random_inputs: int
    agreement_attack: float = float("nan")
    attack_inputs: int = 0
    rounds: int = 1  # rounds of the end-to-end attacker this surrogate is the last of


def build_surrogate(lightgbm, train_probs: np.ndarray, held_out_probs: np.ndarray, *, samples: int, hidden: int,
                    steps: int, seed: int = 0) -> Surrogate:
    """Fit a surrogate of ``lightgbm`` and measure its agreement on its training inputs, the held-out ones and random ones."""
    net = fit_surrogate(lightgbm, train_probs, samples=samples, hidden=hidden, steps=steps, seed=seed)
    random_probs = simplex_points(max(samples // 4, 100), np.random.default_rng(seed + 10_000))
    return Surrogate(
        net, len(train_probs) + samples, agreement(net, lightgbm, train_probs),
        agreement(net, lightgbm, held_out_probs), len(held_out_probs),
        agreement(net, lightgbm, random_probs), len(random_probs),
    )
