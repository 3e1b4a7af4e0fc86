"""The clean set and the adversarial set the defenses are scored on.

Clean: held-out tiles the fixed model classifies correctly. Adversarial: those tiles attacked with a
configurable mix of ART attacks (FGSM and PGD at each budget, DeepFool), keeping only the images the
model now gets wrong. Each image remembers its source tile, so later splits can keep all versions of a
tile on one side (an FGSM and a PGD version of the same tile are not independent test cases).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from helpers import attacks


@dataclass(frozen=True)
class AttackConfig:
    """One attack of the mix: an ``helpers.attacks`` name, its budget (None for DeepFool) and options."""

    name: str
    eps: float | None = None
    options: tuple = ()

    @property
    def family(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        return attacks.attack_title(self.name, self.eps)


def attack_mix(names, *, fgsm_epsilons, pgd_epsilons, pgd_steps: int, deepfool_max_iter: int, deepfool_overshoot: float) -> list[AttackConfig]:
    """The attack configurations for the chosen attack names: one per budget for FGSM and PGD."""
    configs = []
    for name in names:
        if name == "fgsm":
            configs += [AttackConfig("fgsm", float(e)) for e in fgsm_epsilons]
        elif name == "pgd":
            configs += [AttackConfig("pgd", float(e), (("max_iter", pgd_steps),)) for e in pgd_epsilons]
        elif name == "deepfool":
            configs.append(AttackConfig("deepfool", None, (("max_iter", deepfool_max_iter), ("epsilon", deepfool_overshoot))))
        else:
            raise ValueError(f"unknown attack {name!r} in the mix; use fgsm, pgd or deepfool")
    return configs


@dataclass
class DefenseSet:
    """Clean and adversarial images with their true labels, one row per image.

    ``attack`` is ``"clean"`` or the attack's label (``"PGD eps=0.03"``), ``family`` the attack name
    (``"clean"``, ``"fgsm"``, ``"pgd"``, ``"deepfool"``), ``tile`` the index of the source tile.
    """

    x: np.ndarray
    y: np.ndarray
    attack: np.ndarray
    family: np.ndarray
    tile: np.ndarray

    @property
    def is_adversarial(self) -> np.ndarray:
        return self.family != "clean"

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index) -> "DefenseSet":
        index = np.asarray(index)
        return DefenseSet(self.x[index], self.y[index], self.attack[index], self.family[index], self.tile[index])

    def composition(self) -> dict[str, int]:
        """Images per attack label ("clean" first)."""
        counts = Counter(self.attack.tolist())
        return {"clean": counts.pop("clean", 0), **dict(sorted(counts.items()))}

    @property
    def clean_share(self) -> float:
        """Fraction of clean images: the undefended model's accuracy on the mix (clean right, adversarial wrong)."""
        return float(np.mean(~self.is_adversarial)) if len(self) else float("nan")


def correctly_classified(classifier, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Boolean mask of the images the classifier gets right."""
    return classifier.predict(x, batch_size=batch_size).argmax(1) == y


def build_defense_set(classifier, x_clean: np.ndarray, y_clean: np.ndarray, configs, *, batch_size: int = 128) -> tuple[DefenseSet, list[dict]]:
    """Attack every clean image with every configuration; keep the clean images and the misclassified adversarials.

    ``x_clean`` must hold only correctly classified images. Returns the set and one record per attack
    (images attacked, kept, success rate, seconds).
    """
    import time

    x_clean = np.asarray(x_clean, dtype=np.float32)
    y_clean = np.asarray(y_clean, dtype=np.int64)
    tiles = np.arange(len(y_clean))
    parts_x, parts_y, parts_attack, parts_family, parts_tile = [x_clean], [y_clean], [np.full(len(y_clean), "clean", dtype=object)], [np.full(len(y_clean), "clean", dtype=object)], [tiles]
    records = []
    for config in configs:
        started = time.perf_counter()
        attack = attacks.make_attack(config.name, classifier, eps=config.eps, batch_size=batch_size, **dict(config.options))
        x_adv = attacks.generate(attack, x_clean, y_clean, desc=config.label)
        fooled = classifier.predict(x_adv, batch_size=256).argmax(1) != y_clean
        parts_x.append(x_adv[fooled])
        parts_y.append(y_clean[fooled])
        parts_attack.append(np.full(int(fooled.sum()), config.label, dtype=object))
        parts_family.append(np.full(int(fooled.sum()), config.family, dtype=object))
        parts_tile.append(tiles[fooled])
        linf = float(np.abs(x_adv - x_clean).reshape(len(x_clean), -1).max(1).mean()) if len(x_clean) else float("nan")
        records.append({
            "attack": config.label, "attacked": len(y_clean), "kept": int(fooled.sum()),
            "success": float(fooled.mean()) if len(y_clean) else float("nan"), "mean_linf": linf,
            "seconds": time.perf_counter() - started,
        })
    result = DefenseSet(
        np.concatenate(parts_x), np.concatenate(parts_y), np.concatenate(parts_attack).astype(str),
        np.concatenate(parts_family).astype(str), np.concatenate(parts_tile),
    )
    return result, records


def score(predicted, data: DefenseSet) -> dict[str, float]:
    """Clean accuracy, adversarial accuracy and their harmonic mean (the study's objective) on ``data``.

    ``predicted`` is labels (N,) or scores (N, C). A part with no images scores NaN (and so does the mean).
    """
    from helpers.metrics import harmonic_mean, predicted_labels

    correct = predicted_labels(predicted) == data.y
    adversarial = data.is_adversarial
    clean = float(correct[~adversarial].mean()) if (~adversarial).any() else float("nan")
    adv = float(correct[adversarial].mean()) if adversarial.any() else float("nan")
    both = harmonic_mean(clean, adv) if not (np.isnan(clean) or np.isnan(adv)) else float("nan")
    return {"clean": clean, "adversarial": adv, "harmonic": both, "overall": float(correct.mean()) if len(correct) else float("nan")}
