"""Is JPEG as a defense confounded by the tiles' own JPEG history?

Histology tile sets differ by class in how they were compressed before anyone attacked them (for
NCT-CRC-HE-100K, class-dependent JPEG artifacts are documented). If so, re-compressing at the defense's
quality removes different amounts of information from different classes, and part of what JPEG does to
the harmonic mean is about the classes, not about the attacks. The check: the CNN's clean accuracy per
tissue class (with its group) on all held-out tiles, without and with JPEG at the chosen quality.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class JpegCheck:
    """Clean accuracy per tissue class without and with JPEG at ``quality`` (None: no JPEG quality to check)."""

    quality: int | None
    source: str  # where the quality came from
    rows: list[dict]  # tissue, group, tiles, without, with, change, flipped
    overall_without: float = float("nan")
    overall_with: float = float("nan")

    @property
    def changes(self) -> np.ndarray:
        return np.array([r["change"] for r in self.rows if r["tiles"]], dtype=float)

    @property
    def spread(self) -> float:
        """Largest minus smallest per-class change of clean accuracy (NaN with fewer than two groups)."""
        changes = self.changes
        return float(changes.max() - changes.min()) if len(changes) >= 2 else float("nan")

    @property
    def noise(self) -> float:
        """Two standard errors of the difference between two classes' changes (paired: from the tiles whose answer
        flipped, at least one per class); a spread below this is not evidence of a class-dependent effect."""
        variances = sorted((max(r["flipped"], 1) / r["tiles"] ** 2 for r in self.rows if r["tiles"]), reverse=True)
        return min(float(2 * np.sqrt(sum(variances[:2]))), 1.0) if len(variances) >= 2 else float("nan")

    @property
    def most_hurt(self) -> dict | None:
        rows = [r for r in self.rows if r["tiles"]]
        return min(rows, key=lambda r: r["change"]) if rows else None


def jpeg_check(model, x: np.ndarray, y: np.ndarray, tissues, groups, quality: int | None, *, source: str, device="cpu") -> JpegCheck:
    """Clean accuracy of ``model`` per tissue class on ``x`` without and with ART's JPEG compression at ``quality``.

    ``y`` are group indices into ``groups`` (what the model predicts), ``tissues`` the tissue class folder of each tile.
    """
    from .preprocessors import make_preprocessor, preprocessed_probabilities

    if quality is None:
        return JpegCheck(None, source, [])
    y, tissues = np.asarray(y), np.asarray(tissues, dtype=str)
    without = preprocessed_probabilities(model, None, x, device=device, desc="clean tiles").argmax(1)
    with_jpeg = preprocessed_probabilities(model, make_preprocessor("jpeg", int(quality)), x, device=device,
                                           desc=f"clean tiles, JPEG quality {quality}").argmax(1)
    rows = []
    for tissue in sorted(set(tissues.tolist())):
        mask = tissues == tissue
        before, after = float((without[mask] == y[mask]).mean()), float((with_jpeg[mask] == y[mask]).mean())
        rows.append({"tissue": tissue, "group": groups[int(y[mask][0])], "tiles": int(mask.sum()), "without": before, "with": after,
                     "change": after - before, "flipped": int((without[mask] != with_jpeg[mask]).sum())})
    return JpegCheck(int(quality), source, rows, float((without == y).mean()) if len(y) else float("nan"),
                     float((with_jpeg == y).mean()) if len(y) else float("nan"))
