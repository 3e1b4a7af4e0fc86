"""An attacker that knows the detector (Carlini and Wagner, "Adversarial examples are not easily
detected", 2017), written in PyTorch because it attacks the whole detector, not just the classifier.

Targeted L-infinity PGD towards the runner-up class of the clean digit, minimizing

    CE(mean of K dropout passes, target)                 expectation over dropout masks (EOT)
  + crop_weight * mean over the five crops CE(crop, target)   so the crops vote for the target too
  + uncertainty_weight * MC-dropout uncertainty          so the uncertainty stays low

Each step draws fresh dropout masks, so the gradient averages over masks; the detector then evaluates
the result with masks the attacker never saw.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from helpers.progress import progress_bar
from .crops import five_crops
from .uncertainty import dropout_active, head_samples, uncertainty_of


def adaptive_loss(model, x: torch.Tensor, target: torch.Tensor, *, eot_samples: int, crop_size: int,
                  uncertainty_weight: float, crop_weight: float) -> torch.Tensor:
    """Per-image loss the attacker minimizes (shape (B,))."""
    samples = head_samples(model, x, eot_samples, dropout=True)            # (K, B, C)
    mean = samples.mean(0).clamp_min(1e-12)
    loss = F.nll_loss(mean.log(), target, reduction="none")
    if uncertainty_weight:
        loss = loss + uncertainty_weight * uncertainty_of(samples)
    if crop_weight:
        with dropout_active(model, False):
            crops = five_crops(x, crop_size)
            logits = model(crops.flatten(0, 1)).reshape(5, len(x), -1)
        crop_loss = F.cross_entropy(logits.flatten(0, 1), target.repeat(5), reduction="none").reshape(5, len(x)).mean(0)
        loss = loss + crop_weight * crop_loss
    return loss


def runner_up_targets(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The most likely wrong class of each clean digit (dropout off)."""
    with torch.no_grad(), dropout_active(model, False):
        logits = model(x)
    logits[torch.arange(len(y)), y] = -torch.inf
    return logits.argmax(1)


def adaptive_attack(
    model, x, y, *, eps: float, steps: int, step_size: float, eot_samples: int, crop_size: int,
    uncertainty_weight: float, crop_weight: float = 1.0, batch_size: int = 250, device="cpu", seed: int = 0,
) -> np.ndarray:
    """Run the adaptive attack on clean digits ``x`` (N, 1, 28, 28) with true labels ``y``; float32 NumPy out."""
    device = torch.device(device)
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    x_all = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y_all = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    out = []
    try:
        with torch.random.fork_rng(devices=[]), progress_bar(total=len(x_all) * steps, desc="adaptive attack", unit="img-step") as bar:
            torch.manual_seed(seed)
            for start in range(0, len(x_all), batch_size):
                x0 = x_all[start:start + batch_size].to(device)
                target = runner_up_targets(model, x0, y_all[start:start + batch_size].to(device))
                adv = x0.clone()
                for _ in range(steps):
                    adv.requires_grad_(True)
                    loss = adaptive_loss(model, adv, target, eot_samples=eot_samples, crop_size=crop_size,
                                         uncertainty_weight=uncertainty_weight, crop_weight=crop_weight).sum()
                    (grad,) = torch.autograd.grad(loss, adv)
                    with torch.no_grad():
                        adv = adv - step_size * grad.sign()
                        adv = torch.min(torch.max(adv, x0 - eps), x0 + eps).clamp(0.0, 1.0)
                    bar.update(len(x0))
                out.append(adv.detach().cpu())
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
    return torch.cat(out).numpy() if out else np.zeros((0, *x_all.shape[1:]), np.float32)
