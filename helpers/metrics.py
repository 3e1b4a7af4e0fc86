"""Metrics the studies report: accuracy, the harmonic mean of clean and adversarial accuracy,
detection confusion counts, SSIM, and 95% intervals (t-interval over seeds, Wilson for a proportion,
percentile bootstrap).

All functions take NumPy arrays or torch tensors and return plain Python numbers, so the results go
straight into tables and ``metrics.json``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, NamedTuple

import numpy as np


def _numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def predicted_labels(outputs) -> np.ndarray:
    """Class indices from logits / probabilities (N, C), or the labels themselves if already 1-D."""
    outputs = _numpy(outputs)
    return outputs.argmax(axis=1) if outputs.ndim == 2 else outputs.astype(np.int64)


def accuracy(predictions, labels) -> float:
    """Fraction of correct predictions; ``predictions`` may be labels or (N, C) scores."""
    predicted = predicted_labels(predictions)
    labels = _numpy(labels).astype(np.int64)
    if predicted.shape != labels.shape:
        raise ValueError(f"predictions {predicted.shape} and labels {labels.shape} differ in shape")
    if labels.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((predicted == labels).mean())


def harmonic_mean(clean_accuracy: float, adversarial_accuracy: float) -> float:
    """Harmonic mean 2ab/(a+b): high only when a defense keeps clean accuracy *and* resists attacks."""
    for name, value in (("clean_accuracy", clean_accuracy), ("adversarial_accuracy", adversarial_accuracy)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    total = clean_accuracy + adversarial_accuracy
    return 0.0 if total == 0 else 2.0 * clean_accuracy * adversarial_accuracy / total


@dataclass(frozen=True)
class DetectionCounts:
    """Confusion counts of an adversarial-example detector; "positive" means flagged adversarial."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.total if self.total else float("nan")

    @property
    def precision(self) -> float:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else float("nan")

    @property
    def recall(self) -> float:
        adversarial = self.tp + self.fn
        return self.tp / adversarial if adversarial else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "accuracy": self.accuracy, "precision": self.precision, "recall": self.recall}


def detection_counts(flagged_adversarial, is_adversarial) -> DetectionCounts:
    """Count TP/FP/TN/FN from boolean detector decisions and ground truth."""
    flagged = _numpy(flagged_adversarial).astype(bool)
    truth = _numpy(is_adversarial).astype(bool)
    if flagged.shape != truth.shape:
        raise ValueError(f"decisions {flagged.shape} and ground truth {truth.shape} differ in shape")
    return DetectionCounts(
        tp=int(np.sum(flagged & truth)),
        fp=int(np.sum(flagged & ~truth)),
        tn=int(np.sum(~flagged & ~truth)),
        fn=int(np.sum(~flagged & truth)),
    )


def ssim(reference, altered, *, data_range: float | None = None, channel_axis: int | None = None) -> np.ndarray:
    """Per-image SSIM (scikit-image) between two batches of images.

    Images are NCHW / NHWC / NHW arrays or tensors; the channel axis is guessed (size 1 or 3 next to
    the batch axis means NCHW, last axis of size 1 or 3 means NHWC) unless given. ``data_range``
    defaults to 1.0 for floats in [0, 1] and 255 for uint8.
    """
    from skimage.metrics import structural_similarity

    reference, altered = _numpy(reference), _numpy(altered)
    if reference.shape != altered.shape:
        raise ValueError(f"image batches differ in shape: {reference.shape} vs {altered.shape}")
    if reference.ndim == 3:  # single-channel batch N,H,W
        reference, altered, channel_axis = reference[..., None], altered[..., None], 3
    if reference.ndim != 4:
        raise ValueError(f"expected a batch of images (N,C,H,W or N,H,W,C), got shape {reference.shape}")
    if channel_axis is None:
        channel_axis = 1 if reference.shape[1] in (1, 3) and reference.shape[-1] not in (1, 3) else 3
    if data_range is None:
        data_range = 255.0 if reference.dtype == np.uint8 else 1.0
    reference = np.moveaxis(reference, channel_axis, -1).astype(np.float64)
    altered = np.moveaxis(altered, channel_axis, -1).astype(np.float64)
    # SSIM's default 7x7 window needs images at least 7 pixels wide.
    window = min(7, *reference.shape[1:3])
    window -= 1 - window % 2
    return np.array(
        [
            structural_similarity(a, b, data_range=data_range, channel_axis=-1, win_size=window)
            for a, b in zip(reference, altered)
        ]
    )


# ---------------------------------------------------------------------------------------------------
# Intervals


class Interval(NamedTuple):
    """An estimate with the bounds of its interval (NaN bounds when the interval is undefined)."""

    estimate: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)


def mean_interval(values, confidence: float = 0.95) -> Interval:
    """Mean of ``values`` (one number per seed, say) with its Student-t interval.

    With a single value the spread is unknown and the bounds are NaN.
    """
    from scipy import stats

    values = _numpy(values).astype(np.float64).ravel()
    if values.size == 0:
        raise ValueError("the interval of no values is undefined")
    mean = float(values.mean())
    if values.size == 1:
        return Interval(mean, float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return Interval(mean, mean - half, mean + half)


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> Interval:
    """A proportion ``successes / total`` with its Wilson score interval (stays inside [0, 1])."""
    from scipy import stats

    if total <= 0 or not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total and total > 0, got {successes} of {total}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return Interval(p, float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def bootstrap_interval(
    values, statistic: Callable[[np.ndarray], float] = np.mean, *, confidence: float = 0.95,
    resamples: int = 2000, seed: int = 0,
) -> Interval:
    """``statistic`` of ``values`` (one item per row) with a percentile bootstrap interval over the items."""
    values = _numpy(values)
    if len(values) == 0:
        raise ValueError("the interval of no values is undefined")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(resamples, len(values)))
    replicates = np.array([statistic(values[index]) for index in draws], dtype=np.float64)
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return Interval(float(statistic(values)), float(low), float(high))
