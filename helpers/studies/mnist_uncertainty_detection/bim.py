"""The study's three gradient attacks, all through ``helpers.gradient_attacks``: FGSM, and BIM in the two
variants of Feinman et al. ("Detecting adversarial samples from artifacts", 2017), which the study's
detector follows:

- **BIM-A** stops each digit as soon as it is misclassified, so it ends just past the decision boundary,
  where the model is unsure and dropout passes disagree. It is ``gradient_attacks.bim`` with a loss whose
  gradient is zero for a digit the model already misclassifies: the signed step of that digit is then zero
  and it stays where it is.
- **BIM-B** runs a fixed number of iterations for every digit (``gradient_attacks.bim`` with the plain
  cross-entropy) and keeps pushing past the boundary, into regions where the model is confidently wrong.

Every attack here sees the model in eval mode (dropout off), as the undefended classifier runs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from helpers import gradient_attacks
from helpers.gradient_attacks import input_gradient


def cross_entropy_while_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The cross-entropy summed over the images the model still classifies correctly.

    An image already misclassified contributes zero, so its input gradient is exactly zero: the signed step
    ``sign(0) = 0`` leaves it where it is, which is BIM-A's early stop. (Images do not interact in an eval-mode
    LeNet, so each image's gradient is that of its own term.)
    """
    still_right = (logits.argmax(1) == y).detach().float()
    return (F.cross_entropy(logits, y, reduction="none") * still_right).sum()


def bim_a(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, step_size: float) -> torch.Tensor:
    """BIM-A: BIM whose step is zero for every digit the model (eval mode) already misclassifies.

    Each digit takes signed steps up the cross-entropy of its true class until the first step that fools the
    model, then stops; a digit never fooled takes all ``steps``.
    """
    gradient = input_gradient(model, loss=cross_entropy_while_correct, train_mode=False)
    return gradient_attacks.bim(gradient, x, y, eps=eps, steps=steps, step_size=step_size)


def bim_b(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, step_size: float) -> torch.Tensor:
    """BIM-B: ``steps`` signed steps up the cross-entropy for every digit (``gradient_attacks.bim``)."""
    return gradient_attacks.bim(input_gradient(model), x, y, eps=eps, steps=steps, step_size=step_size)


def fgsm(model, x: torch.Tensor, y: torch.Tensor, *, eps: float) -> torch.Tensor:
    """FGSM: one signed step of size ``eps`` up the cross-entropy (``gradient_attacks.fgsm``)."""
    return gradient_attacks.fgsm(input_gradient(model), x, y, eps=eps)


def run_in_batches(attack: Callable[..., torch.Tensor], model, x, y, *, batch_size: int = 500, device="cpu",
                   **settings) -> np.ndarray:
    """``attack(model, x_batch, y_batch, **settings)`` over NumPy digits ``x`` in batches on ``device``; NumPy out.

    The model is left in eval mode.
    """
    device = torch.device(device)
    model.to(device).eval()
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    try:
        adversarial = gradient_attacks.in_batches(lambda xb, yb: attack(model, xb, yb, **settings), x, y,
                                                  batch_size=batch_size, device=device)
    finally:
        model.eval()
    return adversarial.numpy()
