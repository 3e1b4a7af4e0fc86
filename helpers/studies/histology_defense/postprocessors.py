"""Post-processors on the model's softmax outputs: ART's five, and LightGBM trained on them.

ART's post-processors (Gaussian noise, high confidence, reverse sigmoid, rounded, class labels) are
used as they are. LightGBM is wrapped as an ART ``Postprocessor`` (``LightGBMPostprocessor``), so a
defended ART classifier takes it like any other: ``postprocessing_defences=[...]``.

LightGBM learns from labelled images, so how it is scored matters. All splits here are by *source
tile*: the clean tile and its FGSM / PGD / DeepFool versions land on the same side, otherwise a test
image's twin would be in the training data.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from helpers.data.histology import GROUPS
from .adversarial_set import DefenseSet, score

ART_POSTPROCESSORS = {
    "gaussian_noise": "Gaussian noise",
    "high_confidence": "High confidence",
    "reverse_sigmoid": "Reverse sigmoid",
    "rounded": "Rounded",
    "class_labels": "Class labels",
}


def make_art_postprocessor(name: str, *, gaussian_noise_scale: float = 0.2, high_confidence_cutoff: float = 0.25,
                           reverse_sigmoid_beta: float = 1.0, reverse_sigmoid_gamma: float = 0.1, rounded_decimals: int = 1):
    """One of ART's five post-processors with the given setting."""
    from art.defences import postprocessor as post

    builders = {
        "gaussian_noise": lambda: post.GaussianNoise(scale=gaussian_noise_scale),
        "high_confidence": lambda: post.HighConfidence(cutoff=high_confidence_cutoff),
        "reverse_sigmoid": lambda: post.ReverseSigmoid(beta=reverse_sigmoid_beta, gamma=reverse_sigmoid_gamma),
        "rounded": lambda: post.Rounded(decimals=rounded_decimals),
        "class_labels": lambda: _row_by_row(post.ClassLabels)(),
    }
    if name not in builders:
        raise ValueError(f"unknown post-processor {name!r}; choose from {', '.join(builders)}")
    return builders[name]()


def reverse_sigmoid(probs: np.ndarray, *, beta: float = 1.0, gamma: float = 0.1) -> np.ndarray:
    """Reverse sigmoid (Lee et al. 2019): subtract ``beta * (sigmoid(gamma * logit(p)) - 1/2)`` from each probability,
    clip to [0, 1] and renormalise each row (what ART's ``ReverseSigmoid`` computes for more than two classes).

    Confident answers are pulled towards 1/2 and small ones pushed up: the scores an attacker (or a model thief)
    reads become less informative, while the ranking of the classes mostly stays.
    """
    p = np.clip(probs, 1e-9, 1 - 1e-9)
    logit = np.log(p / (1 - p))
    perturbation = beta * (1 / (1 + np.exp(-gamma * logit)) - 0.5)
    perturbed = np.clip(probs - perturbation, 0.0, 1.0)
    return perturbed / perturbed.sum(axis=1, keepdims=True)


def _row_by_row(postprocessor_class):
    """ART's post-processor applied to one row at a time.

    ART 1.20.1's ``ClassLabels`` writes ``labels[:, argmax_of_every_row] = 1``, which sets the predicted
    column of *every* row in the batch for all rows, so a batch's answers collapse to the lowest class any
    row predicted. On a single row that indexing is right; calling it row by row keeps ART's code as is.
    """

    class RowByRow(postprocessor_class):
        def __call__(self, preds):
            preds = np.asarray(preds)
            return np.concatenate([super(RowByRow, self).__call__(row[None]) for row in preds]) if len(preds) else preds.copy()

    RowByRow.__name__ = RowByRow.__qualname__ = postprocessor_class.__name__
    return RowByRow


def _postprocessor_base():
    from art.defences.postprocessor import Postprocessor

    return Postprocessor


class LightGBMPostprocessor(_postprocessor_base()):
    """ART post-processor replacing the model's softmax output by LightGBM's class probabilities for it.

    ``fit(preds, y)`` trains a ``lightgbm.LGBMClassifier`` on softmax outputs and true labels; calling it
    on softmax outputs returns (N, n_classes) probabilities (classes missing from the training labels get 0).
    """

    def __init__(self, *, learning_rate: float = 0.1, num_leaves: int = 81, n_estimators: int = 50,
                 min_child_samples: int = 20, n_classes: int = len(GROUPS), seed: int = 0):
        super().__init__(is_fitted=False, apply_fit=False, apply_predict=True)
        self.settings = {"learning_rate": learning_rate, "num_leaves": num_leaves, "n_estimators": n_estimators,
                         "min_child_samples": min_child_samples}
        self.n_classes = n_classes
        self.seed = seed
        self.model = None
        self._constant = None

    def fit(self, preds: np.ndarray, y=None, **kwargs) -> "LightGBMPostprocessor":
        import lightgbm

        if y is None:
            raise ValueError("LightGBMPostprocessor.fit needs the true labels y")
        preds, y = np.asarray(preds, dtype=np.float32), np.asarray(y, dtype=np.int64)
        present = np.unique(y)
        if len(present) < 2:  # LightGBM cannot fit one class; the answer is that class
            self._constant = int(present[0])
        else:
            self.model = lightgbm.LGBMClassifier(
                random_state=self.seed, n_jobs=1,
                deterministic=True, force_col_wise=True, verbose=-1, **self.settings,
            )
            self.model.fit(preds, y)
        self._is_fitted = True
        return self

    def __call__(self, preds: np.ndarray) -> np.ndarray:
        if not self._is_fitted:
            raise RuntimeError("LightGBMPostprocessor must be fitted before use")
        out = np.zeros((len(preds), self.n_classes), dtype=np.float32)
        if self._constant is not None:
            out[:, self._constant] = 1.0
            return out
        out[:, self.model.classes_] = self.model.predict_proba(np.asarray(preds, dtype=np.float32))
        return out


# ---------------------------------------------------------------------------------------------------
# Splits by source tile


def tile_split(data: DefenseSet, fraction: float, *, seed: int, within=None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held) of ``data`` where ``held`` holds every image of a seeded ``fraction`` of the source tiles.

    ``within`` restricts both parts to these image indices. At least one tile goes to each side when
    there are two or more.
    """
    index = np.arange(len(data)) if within is None else np.asarray(within)
    tiles = np.unique(data.tile[index])
    n_held = min(max(math.ceil(fraction * len(tiles)), 1), max(len(tiles) - 1, 1)) if len(tiles) else 0
    held_tiles = np.random.default_rng(seed).permutation(tiles)[:n_held]
    held = np.isin(data.tile[index], held_tiles)
    return index[~held], index[held]


# ---------------------------------------------------------------------------------------------------
# Training and searching LightGBM


def fit_lightgbm(probs: np.ndarray, data: DefenseSet, train_index, *, seed: int = 0, **settings) -> LightGBMPostprocessor:
    return LightGBMPostprocessor(seed=seed, **settings).fit(probs[train_index], data.y[train_index])


def score_postprocessed(post, probs: np.ndarray, data: DefenseSet, index) -> dict:
    index = np.asarray(index)
    return score(post(probs[index]), data.take(index))


@dataclass
class GridResult:
    records: list[dict]
    best: dict


def grid_search(probs, data: DefenseSet, fit_index, val_index, *, learning_rates, num_leaves, rounds,
                min_child_samples: int = 20, seed: int = 0, progress=None) -> GridResult:
    """Every (learning rate, leaves, rounds) combination trained on ``fit_index``, scored by harmonic mean on ``val_index``."""
    records = []
    for lr, leaves, n in itertools.product(learning_rates, num_leaves, rounds):
        post = fit_lightgbm(probs, data, fit_index, seed=seed, learning_rate=lr, num_leaves=leaves, n_estimators=n,
                            min_child_samples=min_child_samples)
        records.append({"learning_rate": lr, "num_leaves": leaves, "n_estimators": n,
                        **score_postprocessed(post, probs, data, val_index)})
        if progress is not None:
            progress.update()
    valid = [r for r in records if not np.isnan(r["harmonic"])] or records
    best = max(valid, key=lambda r: (r["harmonic"], -r["n_estimators"], -r["num_leaves"]))
    return GridResult(records, best)


def split_ratio_study(probs, data: DefenseSet, pool_index, test_index, *, ratios, seeds, settings: dict) -> list[dict]:
    """For each validation ratio and seed: split the pool by tile, train on the rest, score the validation
    part and the fixed held-out test part. One record per (ratio, seed)."""
    records = []
    for ratio in ratios:
        for seed in seeds:
            fit_index, val_index = tile_split(data, ratio, seed=seed, within=pool_index)
            post = fit_lightgbm(probs, data, fit_index, seed=seed, **settings)
            val = score_postprocessed(post, probs, data, val_index)
            test = score_postprocessed(post, probs, data, test_index)
            records.append({"ratio": ratio, "seed": seed, "train_images": len(fit_index),
                            "validation_harmonic": val["harmonic"], "test_harmonic": test["harmonic"]})
    return records


def summarize_split_ratios(records: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds, per ratio."""
    rows = []
    for ratio in sorted({r["ratio"] for r in records}):
        chosen = [r for r in records if r["ratio"] == ratio]
        row = {"ratio": ratio, "seeds": len(chosen)}
        for key in ("validation_harmonic", "test_harmonic"):
            values = np.array([r[key] for r in chosen], dtype=float)
            row[f"{key}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            row[f"{key}_std"] = float(np.nanstd(values)) if np.isfinite(values).any() else float("nan")
        rows.append(row)
    return rows


def attack_holdout(probs, data: DefenseSet, train_index, test_index, *, settings: dict, seed: int = 0) -> list[dict]:
    """Leave one attack family out: train LightGBM on clean images and the other families' adversarials
    (training tiles), score it on the held-out tiles' clean images and the left-out family only.

    Beside it, the same test images scored by a LightGBM that saw every family in training.
    """
    train_index, test_index = np.asarray(train_index), np.asarray(test_index)
    families = sorted(set(data.family[data.is_adversarial].tolist()))
    seen_all = fit_lightgbm(probs, data, train_index, seed=seed, **settings)
    rows = []
    for family in families:
        train_without = train_index[data.family[train_index] != family]
        test_with = test_index[np.isin(data.family[test_index], ["clean", family])]
        if not (data.family[train_without] != "clean").any() or not (data.family[test_with] == family).any():
            continue  # nothing adversarial to learn from, or nothing of this family to test on
        unseen = fit_lightgbm(probs, data, train_without, seed=seed, **settings)
        rows.append({
            "held_out_attack": family,
            "test_images": int((data.family[test_with] == family).sum()),
            "seen": score_postprocessed(seen_all, probs, data, test_with),
            "unseen": score_postprocessed(unseen, probs, data, test_with),
        })
    return rows
