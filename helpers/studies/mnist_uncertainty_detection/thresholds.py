"""Choosing the detector's thresholds: first the uncertainty threshold of maximum information gain,
then a search for the high and low thresholds H >= L and the vote count C around it.

The hybrid rule (``decide``): uncertainty above H -> adversarial; below L -> clean; in between, clean
when at least C of the five crops agree with the provisional class, else adversarial.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def entropy(p) -> np.ndarray:
    """Binary entropy in bits of probability ``p`` (array-friendly; 0 at p = 0 or 1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.nan_to_num(h, nan=0.0)


def information_gain(scores, is_adversarial, threshold: float) -> float:
    """Information gain (bits) about "adversarial" from knowing whether ``score > threshold``."""
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(is_adversarial, dtype=bool)
    above = scores > threshold
    gain = entropy(truth.mean())
    for part in (above, ~above):
        if part.any():
            gain -= part.mean() * entropy(truth[part].mean())
    return float(gain)


def best_information_gain_threshold(scores, is_adversarial) -> tuple[float, float]:
    """The threshold t maximizing the information gain of ``score > t``, and that gain (bits).

    Candidates are the midpoints between consecutive distinct scores; computed for all of them at once
    with cumulative sums over the sorted scores.
    """
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(is_adversarial, dtype=bool)
    if scores.size < 2:
        raise ValueError("need at least two scores to choose a threshold")
    order = np.argsort(scores, kind="stable")
    s, t = scores[order], truth[order]
    n = len(s)
    # Split after position i (0-based): below = s[:i+1], at the last index of each run of equal values.
    cut = np.nonzero(np.diff(s) > 0)[0]
    if cut.size == 0:
        return float(s[0]), 0.0
    n_below = cut + 1
    adv_below = np.cumsum(t)[cut]
    adv_above = t.sum() - adv_below
    n_above = n - n_below
    conditional = (n_below / n) * entropy(adv_below / n_below) + (n_above / n) * entropy(adv_above / n_above)
    gains = entropy(t.mean()) - conditional
    best = int(np.argmax(gains))
    return float((s[cut[best]] + s[cut[best] + 1]) / 2), float(gains[best])


def decide(uncertainty, votes, *, low: float, high: float, votes_needed: int) -> np.ndarray:
    """The hybrid rule: True = flagged adversarial."""
    u, v = np.asarray(uncertainty), np.asarray(votes)
    middle = (u >= low) & (u <= high)
    return (u > high) | (middle & (v < votes_needed))


@dataclass(frozen=True)
class Thresholds:
    """Chosen detector settings and the calibration accuracy they reached."""

    low: float
    high: float
    votes_needed: int
    ig_threshold: float
    information_gain: float
    calibration_accuracy: float

    def as_dict(self) -> dict:
        return asdict(self)


def search_thresholds(uncertainty, votes, is_adversarial, *, grid: int = 40, vote_options=(1, 2, 3, 4, 5)) -> Thresholds:
    """Information-gain threshold first, then a grid search for L <= t <= H and C maximizing accuracy.

    L runs over ``grid`` quantiles of the uncertainties at or below the information-gain threshold t
    (plus t itself), H over ``grid`` quantiles of those at or above it (plus one above the maximum:
    "never adversarial by uncertainty alone"). With L = H = t the rule is the uncertainty-only detector.
    """
    u = np.asarray(uncertainty, dtype=np.float64)
    v = np.asarray(votes)
    truth = np.asarray(is_adversarial, dtype=bool)
    t, gain = best_information_gain_threshold(u, truth)
    below, above = u[u <= t], u[u >= t]
    qs = np.linspace(0, 1, grid)
    lows = np.unique(np.r_[np.quantile(below, qs) if below.size else [], t, u.min() - 1e-9])
    highs = np.unique(np.r_[np.quantile(above, qs) if above.size else [], t, u.max() + 1e-9])
    best = (-1.0, t, t, 5)
    over_high = u[None, :] > highs[:, None]                      # (H, n)
    for low in lows:
        in_middle = (u[None, :] >= low) & ~over_high             # (H, n); L <= u <= H
        valid = highs >= low
        for c in vote_options:
            flagged = over_high | (in_middle & (v < c)[None, :])
            acc = (flagged == truth[None, :]).mean(1)
            acc[~valid] = -1
            i = int(np.argmax(acc))
            if acc[i] > best[0]:
                best = (float(acc[i]), float(low), float(highs[i]), int(c))
    return Thresholds(low=best[1], high=best[2], votes_needed=best[3], ig_threshold=t, information_gain=gain,
                      calibration_accuracy=best[0])


def best_single_threshold(scores, is_adversarial) -> tuple[float, float]:
    """Threshold t maximizing the accuracy of ``score > t`` (uncertainty-only detector) and that accuracy."""
    s, truth = np.asarray(scores, dtype=np.float64), np.asarray(is_adversarial, dtype=bool)
    order = np.argsort(s, kind="stable")
    s, t = s[order], truth[order]
    n = len(s)
    # Flagging everything above position i: correct = clean at or below i + adversarial above i.
    clean_below = np.cumsum(~t)
    adv_above = t.sum() - np.cumsum(t)
    cut = np.r_[np.nonzero(np.diff(s) > 0)[0], n - 1]
    acc = (clean_below[cut] + adv_above[cut]) / n
    everything = t.mean()  # flag all
    best = int(np.argmax(acc))
    if everything > acc[best]:
        return float(s[0] - 1e-9), float(everything)
    threshold = s[cut[best]] if cut[best] == n - 1 else (s[cut[best]] + s[cut[best] + 1]) / 2
    return float(threshold), float(acc[best])


def best_vote_count(votes, is_adversarial, vote_options=(1, 2, 3, 4, 5)) -> tuple[int, float]:
    """C maximizing the accuracy of the crops-only detector ``votes < C`` and that accuracy."""
    v, truth = np.asarray(votes), np.asarray(is_adversarial, dtype=bool)
    accs = [((v < c) == truth).mean() for c in vote_options]
    best = int(np.argmax(accs))
    return int(vote_options[best]), float(accs[best])
