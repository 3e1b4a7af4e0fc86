"""Workarounds for ART 1.20.1 behaviour that the studies would otherwise each patch on their own.

- Several NumPy pre-processors (feature squeezing, JPEG compression, spatial smoothing, ...) return
  float64 for float32 input under NumPy 2's promotion rules (a division by a NumPy float64 scalar),
  and PyTorch models then reject the batch. ``keep_dtype`` subclasses a pre-processor so its output
  keeps the input's dtype; its gradient estimate (identity, i.e. BPDA) is inherited unchanged.
"""
from __future__ import annotations

import numpy as np


def keep_dtype(preprocessor_class):
    """A subclass of an ART pre-processor whose output has the input's dtype (float32 stays float32)."""

    class KeepDtype(preprocessor_class):
        def __call__(self, x, y=None):
            processed, y = super().__call__(x, y)
            return np.asarray(processed).astype(np.asarray(x).dtype, copy=False), y

    KeepDtype.__name__ = KeepDtype.__qualname__ = preprocessor_class.__name__
    return KeepDtype
