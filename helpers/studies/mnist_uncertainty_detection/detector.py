"""The hybrid detector (uncertainty + crop voting), its two baselines, and the study's measures.

Thresholds are tuned and evaluated by 2-fold cross-fitting: the mixed set is split by source digit
(a clean digit and its adversarial copy fall in the same fold); thresholds tuned on one fold label the
other, and the other way round. Every count in the tables therefore comes from thresholds that never
saw that image, while every image is still counted.

``repeat`` scores and cross-fits a mixed set again with other dropout masks and another random split into
folds; the spread over such repeats is what the tables' intervals measure.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers import metrics
from . import thresholds as th

METHODS = ("uncertainty only", "crops only", "hybrid")


@dataclass
class MixedSet:
    """A 50/50 set: the clean digits and their adversarial copies, with ground truth per image."""

    x: np.ndarray            # (2n, 1, 28, 28)
    y: np.ndarray            # true labels
    is_adversarial: np.ndarray
    source: np.ndarray       # index of the clean digit each image comes from

    @property
    def folds(self) -> np.ndarray:
        """Fold of each image: source digits alternate between the two folds."""
        return self.source % 2

    def random_folds(self, seed: int) -> np.ndarray:
        """A random split of the source digits into two halves (a digit and its copy stay together)."""
        sources = int(self.source.max()) + 1 if len(self.source) else 0
        return (np.random.default_rng(seed).permutation(sources) % 2)[self.source]

    def __len__(self) -> int:
        return len(self.y)


def make_mixed(x_clean: np.ndarray, x_adversarial: np.ndarray, y: np.ndarray) -> MixedSet:
    """Stack clean digits and their adversarial copies (same order) into one 50/50 mixed set."""
    if len(x_clean) != len(x_adversarial) or len(x_clean) != len(y):
        raise ValueError("clean, adversarial and labels must have the same length")
    n = len(y)
    return MixedSet(
        x=np.concatenate([x_clean, x_adversarial]).astype(np.float32),
        y=np.concatenate([y, y]).astype(np.int64),
        is_adversarial=np.r_[np.zeros(n, bool), np.ones(n, bool)],
        source=np.r_[np.arange(n), np.arange(n)],
    )


@dataclass
class Scores:
    """What the detector computes per image of a mixed set."""

    uncertainty: np.ndarray
    provisional: np.ndarray    # argmax of the MC-dropout mean
    votes: np.ndarray          # crops agreeing with the provisional class (0..5)
    plain: np.ndarray          # the undefended model's prediction (dropout off)


@dataclass
class Deterministic:
    """What does not depend on the dropout masks, computed once per mixed set: the convolutional features,
    the class each crop predicts (dropout off) and the undefended model's prediction."""

    features: object          # torch tensor (N, features)
    crop_predictions: np.ndarray  # (5, N)
    plain: np.ndarray


def prepare(model, x: np.ndarray, *, crop_size: int, batch_size: int = 500, device="cpu") -> Deterministic:
    """The mask-independent parts for images ``x`` (a mixed set's ``x``, or any batch of digits)."""
    import torch

    from helpers.training import predict
    from .crops import crop_predictions
    from .uncertainty import features_of

    x = np.asarray(x, dtype=np.float32)
    features = features_of(model, x, batch_size=batch_size, device=device)
    crops = crop_predictions(model, x, crop_size=crop_size, batch_size=batch_size, device=device)
    plain = predict(model, torch.from_numpy(x), batch_size=batch_size, device=device).argmax(1).numpy()
    return Deterministic(features, crops, plain)


def score_with(model, fixed: Deterministic, *, passes: int, batch_size: int = 500, device="cpu", seed: int = 0,
               name: str = "") -> Scores:
    """MC dropout with the masks of ``seed`` on top of the deterministic parts: uncertainty, provisional class, votes."""
    from .crops import count_votes
    from .uncertainty import mc_from_features

    mc = mc_from_features(model, fixed.features, passes=passes, batch_size=batch_size, device=device, seed=seed,
                          desc=f"MC dropout {name}".strip())
    return Scores(mc.uncertainty, mc.provisional, count_votes(fixed.crop_predictions, mc.provisional), fixed.plain)


def score(model, mixed: MixedSet, *, passes: int, crop_size: int, batch_size: int = 500, device="cpu", seed: int = 0, name: str = "") -> Scores:
    """MC-dropout, crop votes and the plain prediction for every image of ``mixed``."""
    fixed = prepare(model, mixed.x, crop_size=crop_size, batch_size=batch_size, device=device)
    return score_with(model, fixed, passes=passes, batch_size=batch_size, device=device, seed=seed, name=name)


@dataclass
class Evaluation:
    """Cross-fitted decisions of one detector on one mixed set, and the settings chosen per fold."""

    method: str
    flagged: np.ndarray
    settings: list[dict] = field(default_factory=list)


def _tune(method: str, u, votes, truth) -> tuple[dict, object]:
    if method == "hybrid":
        chosen = th.search_thresholds(u, votes, truth)
        return chosen.as_dict(), lambda uu, vv: th.decide(uu, vv, low=chosen.low, high=chosen.high, votes_needed=chosen.votes_needed)
    if method == "uncertainty only":
        t, acc = th.best_single_threshold(u, truth)
        return {"threshold": t, "calibration_accuracy": acc}, lambda uu, vv: uu > t
    if method == "crops only":
        c, acc = th.best_vote_count(votes, truth)
        return {"votes_needed": c, "calibration_accuracy": acc}, lambda uu, vv: vv < c
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def cross_fit(method: str, scores: Scores, mixed: MixedSet, folds: np.ndarray | None = None) -> Evaluation:
    """Tune ``method`` on one fold, label the other; both ways round. ``folds`` defaults to ``mixed.folds``."""
    folds = mixed.folds if folds is None else np.asarray(folds)
    flagged = np.zeros(len(mixed), bool)
    settings = []
    for fold in (0, 1):
        tune, apply = folds != fold, folds == fold
        chosen, rule = _tune(method, scores.uncertainty[tune], scores.votes[tune], mixed.is_adversarial[tune])
        flagged[apply] = rule(scores.uncertainty[apply], scores.votes[apply])
        settings.append(chosen)
    return Evaluation(method, flagged, settings)


def fixed_rule(method: str, settings: dict, scores: Scores) -> np.ndarray:
    """Apply settings chosen elsewhere (e.g. on the non-adaptive set) to new scores."""
    if method == "hybrid":
        return th.decide(scores.uncertainty, scores.votes, low=settings["low"], high=settings["high"], votes_needed=settings["votes_needed"])
    if method == "uncertainty only":
        return scores.uncertainty > settings["threshold"]
    if method == "crops only":
        return scores.votes < settings["votes_needed"]
    raise ValueError(f"unknown method {method!r}")


def labeled_clean_breakdown(flagged, is_adversarial, provisional, y) -> dict:
    """Among the images the detector labels clean: the fractions that are clean-correct, clean-incorrect,
    adversarial-correct and adversarial-incorrect (correct = provisional class is the true label), and the
    reclassification accuracy (correct fraction). NaN when nothing is labeled clean."""
    kept = ~np.asarray(flagged, bool)
    adv = np.asarray(is_adversarial, bool)[kept]
    correct = (np.asarray(provisional) == np.asarray(y))[kept]
    n = int(kept.sum())
    if n == 0:
        nan = float("nan")
        return {"n": 0, "clean_correct": nan, "clean_incorrect": nan, "adv_correct": nan, "adv_incorrect": nan, "accuracy": nan}
    return {
        "n": n,
        "clean_correct": float((~adv & correct).mean()),
        "clean_incorrect": float((~adv & ~correct).mean()),
        "adv_correct": float((adv & correct).mean()),
        "adv_incorrect": float((adv & ~correct).mean()),
        "accuracy": float(correct.mean()),
    }


def summarize(evaluation: Evaluation, scores: Scores, mixed: MixedSet) -> dict:
    """Confusion counts, detection accuracy, the adversarial images let through and misclassified, and the
    labeled-clean breakdown of one evaluation."""
    counts = metrics.detection_counts(evaluation.flagged, mixed.is_adversarial)
    wrong = np.asarray(scores.provisional) != np.asarray(mixed.y)
    return {
        "method": evaluation.method,
        **counts.as_dict(),
        # adversarial images the detector lets through and that are misclassified: the attacker's success
        "passed_and_wrong": int((~np.asarray(evaluation.flagged, bool) & np.asarray(mixed.is_adversarial, bool) & wrong).sum()),
        "labeled_clean": labeled_clean_breakdown(evaluation.flagged, mixed.is_adversarial, scores.provisional, mixed.y),
        "settings": evaluation.settings,
    }
