"""MC-dropout prediction and uncertainty: ``mc_dropout``, the readable version (one full forward pass of the
LeNet per stochastic pass), and the fast one the study runs, vectorized over the N passes.

In the fast version, for each image the convolutional features are computed once; the dense head (where the dropout layers
are) then runs on an (N * batch, features) tensor in one call, with dropout active, so N passes cost one
batched matrix product per layer and there is no Python loop over images or passes.

The study's uncertainty is the mean over the classes of the standard deviation (over the N passes) of
the softmax outputs; the provisional class is the argmax of the mean softmax output.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.progress import progress_bar


@contextlib.contextmanager
def dropout_active(model: nn.Module, active: bool = True):
    """Put ``model`` in eval mode with only its dropout layers switched to ``active``; restore afterwards."""
    was_training = model.training
    model.eval()
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    for module in dropouts:
        module.train(active)
    try:
        yield model
    finally:
        model.train(was_training)


def mc_dropout(model: nn.Module, x: torch.Tensor, passes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MC dropout, readable: ``passes`` forward passes with dropout on; per image the mean softmax output (B, C),
    whose argmax is the provisional class, and the uncertainty (B,): the mean over the classes of the standard
    deviation of the softmax outputs over the passes."""
    with torch.no_grad(), dropout_active(model, True):
        samples = torch.stack([model(x).softmax(-1) for _ in range(passes)])   # (passes, B, C)
    return samples.mean(0), samples.std(0, correction=0).mean(-1)


def head_samples(model: nn.Module, x: torch.Tensor, passes: int, *, dropout: bool = True) -> torch.Tensor:
    """Softmax outputs of ``passes`` stochastic passes, shape (passes, batch, classes); differentiable.

    ``model`` must have ``features`` (deterministic) and ``head`` (with the dropout layers).
    """
    features = model.features(x)
    stacked = features.unsqueeze(0).expand(passes, *features.shape).reshape(passes * len(x), -1)
    with dropout_active(model, dropout):
        logits = model.head(stacked)
    return logits.softmax(-1).reshape(passes, len(x), -1)


def uncertainty_of(samples: torch.Tensor) -> torch.Tensor:
    """Mean over classes of the (population) standard deviation over passes: (passes, B, C) -> (B,)."""
    return samples.std(dim=0, correction=0).mean(dim=-1)


@dataclass
class MCResult:
    """Per image: mean softmax output (N, C), provisional class (N,) and uncertainty (N,), as NumPy."""

    mean: np.ndarray
    uncertainty: np.ndarray

    @property
    def provisional(self) -> np.ndarray:
        return self.mean.argmax(1)


@torch.no_grad()
def features_of(model: nn.Module, x, *, batch_size: int = 500, device="cpu") -> torch.Tensor:
    """The deterministic convolutional features of ``x`` (N, 1, 28, 28), on the CPU: computed once, they serve
    any number of MC-dropout repetitions (only the dense head, where the dropout is, runs per pass)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    device = torch.device(device)
    model.to(device).eval()
    out = [model.features(x[start:start + batch_size].to(device)).cpu() for start in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 0)


@torch.no_grad()
def mc_from_features(
    model: nn.Module, features: torch.Tensor, *, passes: int, batch_size: int = 500, device="cpu", dropout: bool = True,
    seed: int | None = 0, desc: str | None = None,
) -> MCResult:
    """MC dropout over precomputed features (see ``features_of``): ``passes`` stochastic passes of the head."""
    device = torch.device(device)
    model.to(device)
    means, spreads = [], []
    with torch.random.fork_rng(devices=[]), progress_bar(total=len(features), desc=desc or f"MC dropout x{passes}", unit="img") as bar:
        if seed is not None:
            torch.manual_seed(seed)
        for start in range(0, len(features), batch_size):
            chunk = features[start:start + batch_size].to(device)
            stacked = chunk.unsqueeze(0).expand(passes, *chunk.shape).reshape(passes * len(chunk), -1)
            with dropout_active(model, dropout):
                samples = model.head(stacked).softmax(-1).reshape(passes, len(chunk), -1)
            means.append(samples.mean(0).cpu())
            spreads.append(uncertainty_of(samples).cpu())
            bar.update(len(chunk))
    if not means:
        return MCResult(np.zeros((0, 10), np.float32), np.zeros(0, np.float32))
    return MCResult(torch.cat(means).numpy(), torch.cat(spreads).numpy())


def mc_predict(
    model: nn.Module, x, *, passes: int, batch_size: int = 500, device="cpu", dropout: bool = True,
    seed: int | None = 0, desc: str | None = None,
) -> MCResult:
    """MC-dropout over ``x`` (N, 1, 28, 28): ``passes`` stochastic passes per image, batch by batch.

    ``dropout=False`` runs the same code with dropout off: every pass is the same and the uncertainty is 0.
    ``seed`` fixes the dropout masks (the global torch RNG is left as it was).
    """
    features = features_of(model, x, batch_size=batch_size, device=device)
    return mc_from_features(model, features, passes=passes, batch_size=batch_size, device=device, dropout=dropout,
                            seed=seed, desc=desc)
