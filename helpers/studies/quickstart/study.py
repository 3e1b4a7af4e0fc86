"""Stages of the quickstart: a small MNIST CNN, FGSM and PGD at several budgets, and one ART
pre-processor evaluated honestly (against the plain transfer attack and an adaptive one).

The notebook ``notebooks/00_quickstart.ipynb`` calls these functions; ``report.py`` turns their
results into tables, prose and the headline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from helpers import attacks, metrics
from helpers.art_compat import keep_dtype
from helpers.data import load_mnist
from helpers.models import SmallCNN
from helpers.training import fit_or_load, predict

STUDY = "quickstart"
TITLE = "Quickstart: attacking and defending an MNIST CNN"
ATTACK_NAMES = ("fgsm", "pgd")


def load_data(params: Mapping[str, Any]):
    """A stratified random subset of MNIST as float tensors in [0, 1]."""
    return load_mnist(params["train_size"], params["test_size"], seed=params["seed"])


def fetch_data(params: Mapping[str, Any]) -> None:
    """Download MNIST into the data root when it is missing (``advlab fetch``)."""
    load_data(params)


@dataclass
class Trained:
    model: SmallCNN
    history: list[dict]
    from_cache: bool
    clean_accuracy: float
    test_size: int


def train(data, params: Mapping[str, Any], device) -> Trained:
    """Train the CNN (or load it from the cache) and measure its clean test accuracy."""
    model, history, from_cache = train_classifier(
        data, epochs=params["epochs"], batch_size=params["batch_size"], learning_rate=params["learning_rate"],
        seed=params["seed"], device=device,
    )
    accuracy = metrics.accuracy(predict(model, data.x_test, device=device), data.y_test)
    return Trained(model, history, from_cache, accuracy, len(data.y_test))


@dataclass
class AttackSet:
    """The digits every attack and defense is scored on, and the model wrapped for ART."""

    classifier: Any
    x: np.ndarray
    y: np.ndarray
    clean_accuracy: float


def attack_set(trained: Trained, data, params: Mapping[str, Any], device) -> AttackSet:
    """The first ``attack_size`` test digits and the model as an ART ``PyTorchClassifier``."""
    classifier = attacks.as_art_classifier(trained.model, input_shape=(1, 28, 28), nb_classes=10, device=device)
    x = data.x_test[: params["attack_size"]].numpy()
    y = data.y_test[: params["attack_size"]].numpy()
    return AttackSet(classifier, x, y, metrics.accuracy(classifier.predict(x), y))


def run_attacks(target: AttackSet, params: Mapping[str, Any]) -> "SweepResult":
    return attack_sweep(target.classifier, target.x, target.y, epsilons=params["epsilons"],
                        pgd_steps=params["pgd_steps"], batch_size=params["batch_size"])


def run_defense(trained: Trained, target: AttackSet, sweep: "SweepResult", params: Mapping[str, Any], device) -> list[dict]:
    return defense_table(trained.model, target.x, target.y, sweep, bit_depth=params["squeeze_bit_depth"],
                         pgd_steps=params["pgd_steps"], batch_size=params["batch_size"], device=device)


def train_classifier(data, *, epochs: int, batch_size: int, learning_rate: float, seed: int, device) -> tuple[SmallCNN, list[dict], bool]:
    """Train the quickstart CNN, or load it from the cache when these settings were trained before.

    Returns the model (in eval mode, on ``device``), its training history and whether it was cached.
    """
    torch.manual_seed(seed)
    model = SmallCNN(channels=1, classes=10)
    history, from_cache = fit_or_load(
        "quickstart-cnn", model, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        seed=seed, device=device, desc="training CNN",
    )
    return model.to(device).eval(), history, from_cache


@dataclass
class SweepResult:
    """Accuracy per attack and budget, and the adversarial images at each budget for plotting."""

    epsilons: list[float] = field(default_factory=list)
    accuracy: dict[str, dict[float, float]] = field(default_factory=dict)
    adversarial: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def attack_sweep(classifier, x: np.ndarray, y: np.ndarray, *, epsilons, pgd_steps: int, batch_size: int = 128, attack_names=ATTACK_NAMES) -> SweepResult:
    """Attack ``x`` with each attack at each budget; record accuracy and the adversarial images."""
    import time

    result = SweepResult(epsilons=list(epsilons))
    for name in attack_names:
        result.accuracy[name], result.adversarial[name] = {}, {}
        started = time.perf_counter()
        for eps in epsilons:
            options = {"max_iter": pgd_steps} if name in ("pgd", "bim") else {}
            attack = attacks.make_attack(name, classifier, eps=eps, batch_size=batch_size, **options)
            x_adv = attacks.generate(attack, x, y, desc=attacks.attack_title(name, eps))
            result.adversarial[name][eps] = x_adv
            result.accuracy[name][eps] = metrics.accuracy(classifier.predict(x_adv, batch_size=512), y)
        result.seconds[name] = time.perf_counter() - started
    return result


def feature_squeezing(bit_depth: int):
    """ART's feature squeezing pre-processor (Xu et al. 2018) for pixels in [0, 1]."""
    from art.defences.preprocessor import FeatureSqueezing

    return keep_dtype(FeatureSqueezing)(clip_values=(0.0, 1.0), bit_depth=bit_depth)


def defense_table(model, x, y, sweep: SweepResult, *, bit_depth: int, pgd_steps: int, batch_size: int = 128, device="cpu") -> list[dict]:
    """Accuracy of the model with feature squeezing in front, per budget, against three attackers:

    - ``transfer``: the undefended model's PGD examples, then squeezed (the attacker ignores the defense);
    - ``adaptive``: PGD run *through* the squeezer; ART's squeezer passes gradients straight through
      (BPDA, Athalye et al. 2018), so the attack sees the defended model as it is.
    """
    squeezer = feature_squeezing(bit_depth)
    defended = attacks.as_art_classifier(
        model, input_shape=tuple(x.shape[1:]), nb_classes=10, device=device, preprocessing_defences=[squeezer]
    )
    rows = [{"epsilon": 0.0, "undefended": metrics.accuracy(predict(model, torch.from_numpy(x), device=device), y),
             "squeezed, transfer": metrics.accuracy(defended.predict(x), y), "squeezed, adaptive": None}]
    for eps, x_adv in sweep.adversarial["pgd"].items():
        adaptive = attacks.make_attack("pgd", defended, eps=eps, max_iter=pgd_steps, batch_size=batch_size)
        x_adaptive = attacks.generate(adaptive, x, y, desc=f"adaptive PGD eps={eps:g}")
        rows.append({
            "epsilon": eps,
            "undefended": sweep.accuracy["pgd"][eps],
            "squeezed, transfer": metrics.accuracy(defended.predict(x_adv), y),
            "squeezed, adaptive": metrics.accuracy(defended.predict(x_adaptive), y),
        })
    return rows
