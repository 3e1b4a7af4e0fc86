"""The two BIM variants of Feinman et al. ("Detecting adversarial samples from artifacts", 2017), which the
study's detector follows:

- **BIM-A** stops each digit as soon as it is misclassified, so it ends just past the decision boundary,
  where the model is unsure and dropout passes disagree;
- **BIM-B** runs a fixed number of iterations for every digit and keeps pushing past the boundary, into
  regions where the model is confidently wrong.

BIM-B is ART's ``BasicIterativeMethod`` (``helpers.attacks``). ART has no per-image early stop, so BIM-A is
written here in PyTorch: the same signed-gradient step on the cross-entropy of the true class, the same
projection to the eps ball and to [0, 1], but a digit the model (dropout off) already misclassifies is not
moved again.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from helpers.progress import progress_bar

VARIANTS = ("A", "B")


def bim_a(model, x, y, *, eps: float, step_size: float, max_steps: int, batch_size: int = 500, device="cpu"):
    """BIM-A on ``x`` (N, 1, 28, 28) with true labels ``y``: returns (adversarial digits, steps each digit took).

    A digit takes a step only while the model (eval mode, dropout off) still classifies it correctly; one
    that is never misclassified takes all ``max_steps``.
    """
    device = torch.device(device)
    model.to(device).eval()
    x_all = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y_all = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    pieces, taken = [], []
    with progress_bar(total=len(x_all), desc="BIM-A", unit="img") as bar:
        for start in range(0, len(x_all), batch_size):
            x0 = x_all[start:start + batch_size].to(device)
            y0 = y_all[start:start + batch_size].to(device)
            adv = x0.clone()
            steps = torch.zeros(len(x0), dtype=torch.int64)
            for _ in range(max_steps):
                adv.requires_grad_(True)
                logits = model(adv)
                moving = logits.argmax(1) == y0                     # not yet misclassified
                if not moving.any():
                    break
                (grad,) = torch.autograd.grad(F.cross_entropy(logits, y0, reduction="sum"), adv)
                with torch.no_grad():
                    stepped = torch.min(torch.max(adv + step_size * grad.sign(), x0 - eps), x0 + eps).clamp(0.0, 1.0)
                    adv = torch.where(moving[:, None, None, None], stepped, adv.detach())
                steps += moving.cpu().long()
            pieces.append(adv.detach().cpu())
            taken.append(steps)
            bar.update(len(x0))
    if not pieces:
        return np.zeros((0, *x_all.shape[1:]), np.float32), np.zeros(0, np.int64)
    return torch.cat(pieces).numpy(), torch.cat(taken).numpy()
