"""An attacker that knows the detector (Carlini and Wagner, "Adversarial examples are not easily
detected", 2017): BIM (``helpers.gradient_attacks``) on a margin loss over the dropout passes.

The detector lets an image through when its MC-dropout uncertainty is below L, or when it is in the band
[L, H] and at least C of the five crops agree with the provisional class. The attacker therefore wants, for a
wrong class t, *every* dropout pass (and, optionally, every crop) to put t ahead by a margin kappa: when all
passes agree, their spread (the uncertainty) is near 0, below any L a defender can afford. Per image it
ascends

    - mean over K fresh dropout masks of  max(0, max_{j != t} z_j - z_t + kappa)        (EOT over masks)
    - crop_weight * mean over the 5 crops of  max(0, max_{j != t} c_j - c_t + kappa)
    - uncertainty_weight * MC-dropout uncertainty of the K passes

with z the logits of one stochastic pass and c those of one crop (dropout off, as the detector runs them),
and t, at every step, the most likely wrong class under the mean of the K passes. An image whose passes all
hold the margin has a zero gradient and stops moving.

Two versions of the same attack:

- ``margin_attack``, the readable one: ``input_gradient`` with ``margin_loss`` and ``samples=K`` (K full
  forward passes of the LeNet in training mode, that is with dropout on), then ``gradient_attacks.bim``.
  Each pass picks its own t.
- ``adaptive_attack``, the fast one the study runs: ``DetectorView`` computes the convolutional features
  once and runs the dense head (where the dropout is) on K stacked copies, so K masks cost little more than
  one; the K passes share one t. It adds random restarts (per image the restart with the highest objective
  under fresh masks is kept) and reads the iterate after given step counts from the same run (the
  convergence curve).
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

import numpy as np
import torch
from torch import nn

from helpers import gradient_attacks
from helpers.gradient_attacks import Gradient, input_gradient
from helpers.progress import progress_bar
from .crops import five_crops
from .uncertainty import dropout_active, uncertainty_of


def runner_up(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image, the most likely wrong class under the mean softmax of the passes: logits (B, C) or (K, B, C) -> (B,)."""
    mean = logits.detach().softmax(-1).reshape(-1, *logits.shape[-2:]).mean(0)
    return mean.scatter(1, y[:, None], -1.0).argmax(1)


def hinge(logits: torch.Tensor, target: torch.Tensor, kappa: float) -> torch.Tensor:
    """max(0, best other logit - target logit + kappa) over the last axis; logits (..., B, C), target (B,)."""
    index = target.expand(logits.shape[:-1]).unsqueeze(-1)
    target_logit = logits.gather(-1, index).squeeze(-1)
    others = logits.scatter(-1, index, -torch.inf).max(-1).values
    return (others - target_logit + kappa).clamp_min(0.0)


def margin_loss(logits: torch.Tensor, y: torch.Tensor, *, kappa: float = 10.0) -> torch.Tensor:
    """Minus the hinge ``max(0, max_{j != t} z_j - z_t + kappa)`` of each image's most likely wrong class t,
    averaged over the passes (logits (K, B, C); a single pass is (B, C)) and summed over the images.

    Ascending it puts t ahead of every other class by ``kappa``; an image already there has a zero gradient.
    """
    hinges = hinge(logits, runner_up(logits, y), kappa)
    return -hinges.reshape(-1, len(y)).mean(0).sum()


def margin_attack(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, step_size: float,
                  masks: int, kappa: float = 10.0) -> torch.Tensor:
    """The adaptive attack, readable: BIM ascending the margin loss averaged over ``masks`` dropout passes.

    ``train_mode=True`` switches the LeNet's dropout on (it has no batch norm); each of the ``masks`` forward
    passes draws a fresh mask, so every step averages the gradient over as many masks (EOT).
    """
    gradient = input_gradient(model, loss=partial(margin_loss, kappa=kappa), train_mode=True, samples=masks)
    return gradient_attacks.bim(gradient, x, y, eps=eps, steps=steps, step_size=step_size)


class DetectorView(nn.Module):
    """The LeNet as the detector sees it, in one differentiable call: the logits of ``passes`` dropout passes
    (K, B, C), computed as the convolutional features once and the dense head on K stacked copies, and, when
    ``crop_size`` is given, the logits of the five crops with dropout off (5, B, C), else None."""

    def __init__(self, model: nn.Module, passes: int, crop_size: int | None = None):
        super().__init__()
        self.model, self.passes, self.crop_size = model, passes, crop_size

    def forward(self, x: torch.Tensor):
        features = self.model.features(x)
        stacked = features.unsqueeze(0).expand(self.passes, *features.shape).reshape(self.passes * len(x), -1)
        with dropout_active(self.model, True):
            passes = self.model.head(stacked).reshape(self.passes, len(x), -1)
        crops = None
        if self.crop_size:
            with dropout_active(self.model, False):
                crops = self.model(five_crops(x, self.crop_size).flatten(0, 1)).reshape(5, len(x), -1)
        return passes, crops


def objective(outputs, y: torch.Tensor, *, kappa: float, uncertainty_weight: float = 0.0,
              crop_weight: float = 0.0) -> torch.Tensor:
    """Per image (B,), what the fast attack ascends on ``DetectorView`` outputs: minus the pass hinge (one
    target t shared by the passes), the crop hinge and the uncertainty, weighted (see the module docstring)."""
    passes, crops = outputs
    target = runner_up(passes, y)
    value = hinge(passes, target, kappa).mean(0)
    if uncertainty_weight:
        value = value + uncertainty_weight * uncertainty_of(passes.softmax(-1))
    if crop_weight and crops is not None:
        value = value + crop_weight * hinge(crops, target, kappa).mean(0)
    return -value


def recording(gradient: Gradient, marks: Sequence[int]) -> tuple[Gradient, dict[int, torch.Tensor]]:
    """``gradient`` that also keeps, for each step count m in ``marks``, the iterate after m steps: the call
    that computes step m + 1 receives it. Returns (the wrapped gradient, {m: iterate}) filled as BIM runs."""
    seen: dict[int, torch.Tensor] = {}
    calls = [0]

    def recorded(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if calls[0] in marks:
            seen[calls[0]] = x.detach().clone()
        calls[0] += 1
        return gradient(x, y)

    return recorded, seen


def adaptive_attack(
    model, x, y, *, eps: float, steps: int, step_size: float, eot_samples: int, crop_size: int,
    kappa: float = 5.0, uncertainty_weight: float = 0.0, crop_weight: float = 0.0, restarts: int = 1,
    checkpoints: Sequence[int] = (), batch_size: int = 500, device="cpu", seed: int = 0,
) -> dict[int, np.ndarray]:
    """The fast adaptive attack on clean digits ``x`` (N, 1, 28, 28) with true labels ``y``.

    Returns {step count: adversarial digits (float32 NumPy)} for every count in ``checkpoints`` below ``steps``
    and for ``steps`` itself: the iterate after that many steps, per image from the restart with the highest
    objective (restart 0 starts at the clean digit, the others at random points of the eps ball). The dropout
    masks come from the torch random state seeded with ``seed`` (the global state is left as it was), the
    random starts from a generator seeded with it.
    """
    device = torch.device(device)
    model.to(device).eval()
    view = DetectorView(model, eot_samples, crop_size if crop_weight else None)
    options = dict(kappa=kappa, uncertainty_weight=uncertainty_weight, crop_weight=crop_weight)
    gradient = input_gradient(view, loss=lambda outputs, labels: objective(outputs, labels, **options).sum())
    marks = sorted({int(c) for c in checkpoints if 0 < int(c) < steps})
    x_all = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y_all = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    out: dict[int, list[torch.Tensor]] = {m: [] for m in [*marks, steps]}
    generator = torch.Generator().manual_seed(seed)
    try:
        with torch.random.fork_rng(devices=[]), progress_bar(total=len(x_all) * restarts, desc="adaptive attack", unit="img") as bar:
            torch.manual_seed(seed)
            for start in range(0, len(x_all), batch_size):
                x0, y0 = x_all[start:start + batch_size].to(device), y_all[start:start + batch_size].to(device)
                best: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
                for restart in range(restarts):
                    recorded, seen = recording(gradient, marks)
                    seen[steps] = gradient_attacks.bim(recorded, x0, y0, eps=eps, steps=steps, step_size=step_size) \
                        if restart == 0 else gradient_attacks.pgd(recorded, x0, y0, eps=eps, steps=steps,
                                                                  step_size=step_size, generator=generator)
                    for m, candidate in seen.items():
                        best[m] = _better(view, candidate, y0, best.get(m), options, restarts)
                    bar.update(len(x0))
                for m in out:
                    out[m].append(best[m][0].cpu())
    finally:
        model.eval()
    empty = np.zeros((0, *x_all.shape[1:]), np.float32)
    return {m: (torch.cat(pieces).numpy() if pieces else empty) for m, pieces in out.items()}


def _better(view, candidate, y, incumbent, options, restarts):
    """Per image, ``candidate`` or ``incumbent`` (iterate, objective), whichever has the higher objective."""
    if restarts == 1:
        return candidate, None
    with torch.no_grad():
        value = objective(view(candidate), y, **options)
    if incumbent is None:
        return candidate, value
    chosen, chosen_value = incumbent
    better = value > chosen_value
    return torch.where(better[:, None, None, None], candidate, chosen), torch.maximum(value, chosen_value)
