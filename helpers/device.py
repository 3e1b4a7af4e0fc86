"""Device choice and reproducibility.

``pick_device()`` returns the fastest available torch device (cuda, then Apple's mps, then cpu);
a notebook parameter such as ``device = "cpu"`` forces one. ``seed_everything()`` seeds Python,
NumPy, PyTorch and TensorFlow with one call, so a rerun with the same parameters repeats itself.
"""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

from .params import DEVICE_CHOICES


def pick_device(preference: str = "auto") -> torch.device:
    """Return a torch device: ``"auto"`` picks cuda, then mps, then cpu; a named one must be available."""
    preference = (preference or "auto").lower()
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {preference!r}")
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if preference == "auto":
        return torch.device(next(name for name in ("cuda", "mps", "cpu") if available[name]))
    if not available[preference]:
        raise RuntimeError(f"device {preference!r} was requested but is not available on this machine")
    return torch.device(preference)


def describe_device(device: torch.device) -> str:
    """A short human-readable description, e.g. ``cuda (NVIDIA H100)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def seed_everything(seed: int, *, tensorflow: bool | None = None, deterministic: bool = False) -> None:
    """Seed Python, NumPy, PyTorch (all devices) and TensorFlow.

    TensorFlow is seeded when it is already imported or ``tensorflow=True``; importing it only to
    seed it would add seconds to every PyTorch-only notebook. Keras studies import TensorFlow first.
    ``deterministic=True`` also asks PyTorch for deterministic kernels (slower on a GPU).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if tensorflow or (tensorflow is None and "tensorflow" in sys.modules):
        from .frameworks import import_tensorflow

        import_tensorflow().keras.utils.set_random_seed(seed)
