"""Crop-and-resize voting: five overlapping crops (four corners and the centre), each resized back to
the full image size and reclassified; a crop *votes* for the provisional class when it predicts it.

An adversarial perturbation is tuned to the exact pixel grid; cropping and resizing shifts and rescales
it, which often undoes it, while a clean digit survives a small crop (Graese et al. 2016).

``crop_vote`` is the readable version (one crop at a time); the study runs ``crop_predictions``, the five crops
of a batch in one call, and ``count_votes``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.progress import progress_bar
from .uncertainty import dropout_active

CROP_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")


def five_crops(x: torch.Tensor, crop_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (5, B, C, H, W): the four corner crops and the centre crop of side ``crop_size``,
    each resized back to H x W with bilinear interpolation. Differentiable."""
    height, width = x.shape[-2:]
    if not 1 <= crop_size <= min(height, width):
        raise ValueError(f"crop_size must lie in [1, {min(height, width)}], got {crop_size}")
    top, left = (height - crop_size) // 2, (width - crop_size) // 2
    corners = [(0, 0), (0, width - crop_size), (height - crop_size, 0), (height - crop_size, width - crop_size), (top, left)]
    crops = torch.cat([x[..., r:r + crop_size, c:c + crop_size] for r, c in corners])
    resized = F.interpolate(crops, size=(height, width), mode="bilinear", align_corners=False)
    return resized.reshape(5, *x.shape)


def crop_vote(model: nn.Module, x: torch.Tensor, provisional: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Crop-and-resize voting, readable: per image (B,), how many of its five crops (four corners and the centre,
    side ``crop_size``, resized back) the model, dropout off, puts in the ``provisional`` class."""
    votes = torch.zeros(len(x), dtype=torch.int64)
    with torch.no_grad(), dropout_active(model, False):
        for crop in five_crops(x, crop_size):        # (B, C, H, W) each
            votes += (model(crop).argmax(1) == provisional).cpu()
    return votes


def count_votes(crop_predictions, provisional) -> np.ndarray:
    """Number of crops (rows of ``crop_predictions``, shape (5, B)) that predict the ``provisional`` class."""
    crop_predictions, provisional = np.asarray(crop_predictions), np.asarray(provisional)
    if crop_predictions.ndim != 2 or crop_predictions.shape[1] != provisional.shape[0]:
        raise ValueError(f"expected crop predictions (crops, {provisional.shape[0]}), got {crop_predictions.shape}")
    return (crop_predictions == provisional[None, :]).sum(0)


@torch.no_grad()
def crop_predictions(model: nn.Module, x, *, crop_size: int, batch_size: int = 500, device="cpu", desc: str = "crop voting") -> np.ndarray:
    """Class predicted by ``model`` (eval mode, dropout off) for each of the five crops: shape (5, N)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    device = torch.device(device)
    model.to(device).eval()
    out = []
    with progress_bar(total=len(x), desc=desc, unit="img") as bar:
        for start in range(0, len(x), batch_size):
            crops = five_crops(x[start:start + batch_size].to(device), crop_size)
            logits = model(crops.flatten(0, 1)).reshape(5, len(crops[0]), -1)
            out.append(logits.argmax(-1).cpu())
            bar.update(len(crops[0]))
    return torch.cat(out, dim=1).numpy() if out else np.zeros((5, 0), np.int64)


def crop_votes(model: nn.Module, x, provisional, *, crop_size: int, batch_size: int = 500, device="cpu") -> np.ndarray:
    """Per image, how many of the five crops agree with its provisional class (0..5)."""
    return count_votes(crop_predictions(model, x, crop_size=crop_size, batch_size=batch_size, device=device), provisional)
