"""An attacker that knows the detector (Carlini and Wagner, "Adversarial examples are not easily
detected", 2017), written in PyTorch because it attacks the whole detector, not just the classifier:
ART's attacks differentiate one classifier's loss and know neither dropout masks nor crops.

The detector lets an image through when its MC-dropout uncertainty is below L, or when it is in the band
[L, H] and at least C of the five crops agree with the provisional class. The attacker therefore wants, for a
wrong class t, *every* dropout pass and *every* crop to put t ahead by a margin: when all passes agree the
uncertainty (their standard deviation) is near 0, below any L a defender can afford, and when all crops agree
the votes are 5. Per image it minimizes (L-infinity PGD, signed gradient, projected to the eps ball)

    mean over K fresh dropout masks of  max(0, max_{j != t} z_j - z_t + kappa)        (EOT over masks)
  + crop_weight * mean over the 5 crops of  max(0, max_{j != t} c_j - c_t + kappa)
  + uncertainty_weight * MC-dropout uncertainty of the K passes

with z the logits of one stochastic pass and c those of one crop (dropout off, as the detector runs them).
The target t is, at every step, the most likely wrong class under the current MC-dropout mean, so the
attacker settles on whichever wrong class is easiest. Each restart begins at a random point of the eps ball
(the first at the clean digit); per image the iterate with the lowest loss over all steps and restarts is
kept. ``checkpoints`` returns that best-so-far iterate after given step counts, which is exactly what a run
with fewer steps returns (the step size is constant), so one run traces the convergence curve over steps.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from helpers.progress import progress_bar
from .crops import five_crops
from .uncertainty import dropout_active, uncertainty_of


def _margin(logits: torch.Tensor, target: torch.Tensor, kappa: float) -> torch.Tensor:
    """max(0, best other logit - target logit + kappa) over the last axis; ``target`` broadcasts."""
    target_logit = logits.gather(-1, target.expand(*logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    others = logits.scatter(-1, target.expand(*logits.shape[:-1]).unsqueeze(-1), -torch.inf)
    return (others.max(-1).values - target_logit + kappa).clamp_min(0.0)


def adaptive_loss(model, x: torch.Tensor, y: torch.Tensor, *, eot_samples: int, crop_size: int, kappa: float,
                  uncertainty_weight: float = 0.0, crop_weight: float = 1.0, target: torch.Tensor | None = None):
    """Per-image loss the attacker minimizes (B,), and the target class it aims at (B,).

    ``target`` None picks the most likely wrong class under the MC-dropout mean of this step's passes.
    """
    features = model.features(x)
    stacked = features.unsqueeze(0).expand(eot_samples, *features.shape).reshape(eot_samples * len(x), -1)
    with dropout_active(model, True):
        logits = model.head(stacked).reshape(eot_samples, len(x), -1)          # (K, B, C)
    probabilities = logits.softmax(-1)
    if target is None:
        mean = probabilities.mean(0).detach().clone()
        mean[torch.arange(len(y)), y] = -1.0
        target = mean.argmax(1)
    loss = _margin(logits, target, kappa).mean(0)
    if uncertainty_weight:
        loss = loss + uncertainty_weight * uncertainty_of(probabilities)
    if crop_weight:
        with dropout_active(model, False):
            crops = five_crops(x, crop_size)
            crop_logits = model(crops.flatten(0, 1)).reshape(5, len(x), -1)
        loss = loss + crop_weight * _margin(crop_logits, target, kappa).mean(0)
    return loss, target


def adaptive_attack(
    model, x, y, *, eps: float, steps: int, step_size: float, eot_samples: int, crop_size: int,
    kappa: float = 5.0, uncertainty_weight: float = 0.0, crop_weight: float = 1.0, restarts: int = 1,
    checkpoints: Sequence[int] = (), batch_size: int = 500, device="cpu", seed: int = 0,
) -> dict[int, np.ndarray]:
    """Run the adaptive attack on clean digits ``x`` (N, 1, 28, 28) with true labels ``y``.

    Returns {step count: adversarial digits (float32 NumPy)} for every step count in ``checkpoints`` up to
    ``steps``, and for ``steps`` itself: the best iterate per image (lowest loss) seen up to that step, over
    all restarts.
    """
    device = torch.device(device)
    model.to(device).eval()
    marks = sorted({int(c) for c in checkpoints if 0 < int(c) < steps} | {steps})
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    x_all = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y_all = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    out: dict[int, list[torch.Tensor]] = {m: [] for m in marks}
    options = dict(eot_samples=eot_samples, crop_size=crop_size, kappa=kappa, uncertainty_weight=uncertainty_weight,
                   crop_weight=crop_weight)
    try:
        total = len(x_all) * steps * restarts
        with torch.random.fork_rng(devices=[]), progress_bar(total=total, desc="adaptive attack", unit="img-step") as bar:
            torch.manual_seed(seed)
            for start in range(0, len(x_all), batch_size):
                x0 = x_all[start:start + batch_size].to(device)
                y0 = y_all[start:start + batch_size].to(device)
                snapshots = {m: [] for m in marks}
                for restart in range(restarts):
                    adv = x0.clone() if restart == 0 else (x0 + torch.empty_like(x0).uniform_(-eps, eps)).clamp(0.0, 1.0)
                    best, best_loss = x0.clone(), torch.full((len(x0),), torch.inf, device=device)
                    for step in range(1, steps + 1):
                        adv.requires_grad_(True)
                        loss, _ = adaptive_loss(model, adv, y0, **options)
                        (grad,) = torch.autograd.grad(loss.sum(), adv)
                        with torch.no_grad():
                            better = loss.detach() < best_loss
                            best[better], best_loss[better] = adv.detach()[better], loss.detach()[better]
                            adv = adv.detach() - step_size * grad.sign()
                            adv = torch.min(torch.max(adv, x0 - eps), x0 + eps).clamp(0.0, 1.0)
                            if step in snapshots:
                                snapshots[step].append(_final(model, adv, y0, best, best_loss, options))
                        bar.update(len(x0))
                for m in marks:
                    # Per image, the best of the restarts, each stopped after m steps.
                    (chosen, chosen_loss), *others = snapshots[m]
                    for candidate, candidate_loss in others:
                        better = candidate_loss < chosen_loss
                        chosen = torch.where(better[:, None, None, None], candidate, chosen)
                        chosen_loss = torch.minimum(candidate_loss, chosen_loss)
                    out[m].append(chosen.cpu())
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
    empty = np.zeros((0, *x_all.shape[1:]), np.float32)
    return {m: (torch.cat(pieces).numpy() if pieces else empty) for m, pieces in out.items()}


def _final(model, adv, y, best, best_loss, options):
    """The best iterate so far including ``adv`` (the iterate after the last update), and its loss."""
    with torch.no_grad():
        loss, _ = adaptive_loss(model, adv, y, **options)
    better = loss < best_loss
    return torch.where(better[:, None, None, None], adv, best).clone(), torch.minimum(loss, best_loss)
