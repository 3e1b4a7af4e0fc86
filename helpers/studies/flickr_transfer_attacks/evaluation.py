"""Accuracy and SSIM of each backbone under each alteration and attack, as the study measured them.

Two accuracies at every point of every grid:

- **agreement**: the fraction of images whose prediction after the alteration equals the prediction
  before it (the study's "accuracy": did the alteration change the model's mind?);
- **true-label accuracy**: the fraction predicted as their real class.

and the mean SSIM between the original and the altered images (1 = identical). Alterations that do not
depend on the model (noise, blur, PCA, JPEG) are computed once and shown to every backbone; FGSM and PGD
are run against each backbone through ART's ``TensorFlowV2Classifier``. The defense the study left
open, JPEG compression and blur applied to the attacked images, is measured on the same images:
accuracy before (attacked) and after (recovered), next to what the same processing costs on clean images.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from helpers import attacks, metrics
from helpers.progress import progress_bar
from .alterations import ALTERATIONS
from .backbones import TransferModel

ATTACK_NAMES = ("fgsm", "pgd")
ATTACK_TITLES = {"fgsm": "FGSM", "pgd": "PGD"}


def point(predictions: np.ndarray, original: np.ndarray, labels: np.ndarray, level, ssim_values) -> dict:
    """One point of a curve: the level, both accuracies, the mean SSIM of the images (``ssim_values``, one per
    image) and the 95% interval of that mean (``ssim_low``, ``ssim_high``; the mean itself for one image)."""
    values = np.atleast_1d(np.asarray(ssim_values, dtype=np.float64))
    mean = float(values.mean())
    low, high = (mean, mean) if values.size < 2 else metrics.mean_interval(values)[1:]
    return {
        "level": level,
        "agreement": metrics.accuracy(predictions, original),
        "accuracy": metrics.accuracy(predictions, labels),
        "ssim": mean,
        "ssim_low": float(low),
        "ssim_high": float(high),
    }


def structural_similarity(a: np.ndarray, b: np.ndarray, *, window: int = 7, data_range: float = 1.0) -> float:
    """The mean SSIM of two H x W x C images (Wang et al. 2004), as scikit-image computes it by default.

    Over every ``window`` x ``window`` patch of each channel: means, variances and covariance (sample
    estimates), combined into luminance-contrast-structure similarity; the map is averaged away from the
    border. ``helpers.metrics.ssim`` (scikit-image) is what the study's numbers use; this is the same formula
    written out.
    """
    from scipy.ndimage import uniform_filter

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    n = window * window

    def mean(z):  # the mean over each window, channel by channel
        return uniform_filter(z, size=(window, window, 1))

    mu_a, mu_b = mean(a), mean(b)
    var_a = (mean(a * a) - mu_a ** 2) * n / (n - 1)
    var_b = (mean(b * b) - mu_b ** 2) * n / (n - 1)
    cov = (mean(a * b) - mu_a * mu_b) * n / (n - 1)
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    border = (window - 1) // 2
    return float(s[border:-border, border:-border].mean())


@dataclass
class AlterationSweep:
    """``curves[backbone][alteration]`` lists points (level, agreement, accuracy, ssim) along the grid;
    ``examples[alteration][level]`` holds the first few altered images and ``example_predictions`` the
    first backbone's predictions on them."""

    curves: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    examples: dict[str, dict] = field(default_factory=dict)
    example_predictions: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def alteration_sweep(
    models: Mapping[str, TransferModel],
    x: np.ndarray,
    y: np.ndarray,
    original: Mapping[str, np.ndarray],
    grids: Mapping[str, Sequence],
    *,
    seed: int = 0,
    keep: int = 6,
) -> AlterationSweep:
    """Apply every alteration at every level of its grid; measure each backbone and the SSIM."""
    import time

    result = AlterationSweep(curves={b: {} for b in models})
    first = next(iter(models))
    total = sum(len(levels) for levels in grids.values())
    with progress_bar(total=total, desc="alterations", unit="level") as bar:
        for name, levels in grids.items():
            alteration = ALTERATIONS[name]
            started = time.perf_counter()
            result.examples[name], result.example_predictions[name] = {}, {}
            for backbone in models:
                result.curves[backbone][name] = []
            for level in levels:
                altered = alteration(x, level, seed=seed)
                similarity = metrics.ssim(x, altered, data_range=1.0)
                for backbone, model in models.items():
                    predicted = model.predict(altered)
                    result.curves[backbone][name].append(point(predicted, original[backbone], y, level, similarity))
                    if backbone == first:
                        result.example_predictions[name][level] = predicted[:keep]
                result.examples[name][level] = altered[:keep]
                bar.update(1)
            result.seconds[name] = time.perf_counter() - started
    return result


@dataclass
class AttackSweep:
    """FGSM and PGD against one backbone.

    ``curves[attack]``: points along the epsilons; ``defense``: rows of attacked versus recovered
    accuracy (epsilon 0 is the clean images); ``adversarial[attack][eps]``: the attacked images at the
    epsilons kept for the grid and the export, with ``predictions`` of this backbone on them;
    ``ssim[attack][eps]``: every image's SSIM to its original (the findings compare FGSM and PGD image by image).
    """

    backbone: str
    curves: dict[str, list[dict]] = field(default_factory=dict)
    defense: list[dict] = field(default_factory=list)
    adversarial: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)
    predictions: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)
    ssim: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)  # attack -> eps -> SSIM of each image
    seconds: dict[str, float] = field(default_factory=dict)


def art_classifier(model: TransferModel, x: np.ndarray, n_classes: int):
    """The transfer model as ART's TensorFlowV2Classifier (pixels in [0, 1], logits out)."""
    return attacks.as_art_classifier(model.model, input_shape=tuple(x.shape[1:]), nb_classes=n_classes, from_logits=True)


def _defense_entries(model: TransferModel, images: np.ndarray, original: np.ndarray, y: np.ndarray, defenses: Mapping[str, int]) -> dict:
    entries = {}
    for name, level in defenses.items():
        recovered = model.predict(ALTERATIONS[name](images, level))
        entries[f"{name}_accuracy"] = metrics.accuracy(recovered, y)
        entries[f"{name}_agreement"] = metrics.accuracy(recovered, original)
    return entries


def attack_sweep(
    model: TransferModel,
    x: np.ndarray,
    y: np.ndarray,
    original: np.ndarray,
    *,
    n_classes: int,
    epsilons: Sequence[float],
    pgd_steps: int,
    defenses: Mapping[str, int],
    keep_epsilons: Sequence[float] = (),
    batch_size: int = 32,
    attack_names: Sequence[str] = ATTACK_NAMES,
) -> AttackSweep:
    """FGSM and PGD (true labels, L-infinity) at each epsilon, with JPEG/blur recovery measured on each.

    ``defenses`` maps an alteration name (``jpeg``, ``blur``) to the level used as a defense.
    """
    import time

    classifier = art_classifier(model, x, n_classes)
    result = AttackSweep(model.backbone)
    clean = model.predict(x)
    result.defense.append({"attack": "clean", "epsilon": 0.0, "attacked_accuracy": metrics.accuracy(clean, y),
                           "attacked_agreement": metrics.accuracy(clean, original),
                           **_defense_entries(model, x, original, y, defenses)})
    for name in attack_names:
        started = time.perf_counter()
        result.curves[name], result.adversarial[name], result.predictions[name], result.ssim[name] = [], {}, {}, {}
        for eps in epsilons:
            options = {"max_iter": pgd_steps} if name == "pgd" else {}
            attack = attacks.make_attack(name, classifier, eps=eps, batch_size=batch_size, **options)
            title = f"{ATTACK_TITLES[name]} eps={eps:g} on {model.backbone}"
            adversarial = attacks.generate(attack, x, y, desc=title)
            predicted = model.predict(adversarial)
            similarity = metrics.ssim(x, adversarial, data_range=1.0)
            row = point(predicted, original, y, eps, similarity)
            result.ssim[name][eps] = similarity
            result.curves[name].append(row)
            result.defense.append({"attack": name, "epsilon": eps, "attacked_accuracy": row["accuracy"],
                                   "attacked_agreement": row["agreement"],
                                   **_defense_entries(model, adversarial, original, y, defenses)})
            if any(np.isclose(eps, k) for k in keep_epsilons):
                result.adversarial[name][eps] = adversarial
                result.predictions[name][eps] = predicted
        result.seconds[name] = time.perf_counter() - started
    return result


def nearest(values: Sequence[float], target: float) -> float:
    """The value of ``values`` closest to ``target`` (a grid level picked by a parameter)."""
    return min(values, key=lambda v: abs(v - target))
