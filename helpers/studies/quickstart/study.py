"""Stages of the quickstart: a small MNIST CNN, FGSM and PGD at several budgets, and feature squeezing
evaluated honestly (against the transferred attack and an adaptive one that goes through the squeezer).

The notebook ``notebooks/00_quickstart.ipynb`` calls these functions; ``report.py`` turns their results into
tables, prose, findings and the headline. ``METHODS`` names the readable implementation of each method the
notebook puts on the page: FGSM and PGD from ``helpers.gradient_attacks`` (the one home of both), feature
squeezing and BPDA from ``squeezing.py``. The budget sweep runs the attacks through ART
(``helpers.attacks.make_attack``); ``compare_attacks`` and ``compare_defense`` run the readable functions and
the ART path on the same digits and measure how closely they agree.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from helpers import attacks, gradient_attacks, metrics
from helpers.art_compat import keep_dtype
from helpers.data import load_mnist
from helpers.models import SmallCNN
from helpers.training import fit_or_load, predict

from .squeezing import Squeezed, bpda, feature_squeezing

STUDY = "quickstart"
TITLE = "Quickstart: attacking and defending an MNIST CNN"
ATTACK_NAMES = ("fgsm", "pgd")
AGREEMENT_SIZE = 100  # digits on which the readable functions and ART's are compared

METHODS: dict[str, Callable] = {
    "fgsm": gradient_attacks.fgsm,
    "pgd": gradient_attacks.pgd,
    "feature_squeezing": feature_squeezing,
    "bpda": bpda,
}


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


# ---------------------------------------------------------------------------------------------------
# The budget sweep (ART's attack classes)


@dataclass
class SweepResult:
    """Accuracy per attack and budget on ``size`` digits, and the adversarial images for plotting."""

    epsilons: list[float] = field(default_factory=list)
    accuracy: dict[str, dict[float, float]] = field(default_factory=dict)
    adversarial: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    size: int = 0


def run_attacks(target: AttackSet, params: Mapping[str, Any]) -> SweepResult:
    return attack_sweep(target.classifier, target.x, target.y, epsilons=params["epsilons"],
                        pgd_steps=params["pgd_steps"], random_start=params["pgd_random_start"],
                        batch_size=params["batch_size"])


def attack_sweep(classifier, x: np.ndarray, y: np.ndarray, *, epsilons, pgd_steps: int, random_start: bool = True,
                 batch_size: int = 128, attack_names=ATTACK_NAMES) -> SweepResult:
    """Attack ``x`` with each attack at each budget through ART; record accuracy and the adversarial images."""
    result = SweepResult(epsilons=list(epsilons), size=len(y))
    for name in attack_names:
        result.accuracy[name], result.adversarial[name] = {}, {}
        started = time.perf_counter()
        for eps in epsilons:
            options = {"max_iter": pgd_steps} if name in ("pgd", "bim") else {}
            if name == "pgd":
                options["num_random_init"] = int(random_start)
            attack = attacks.make_attack(name, classifier, eps=eps, batch_size=batch_size, **options)
            x_adv = attacks.generate(attack, x, y, desc=attacks.attack_title(name, eps))
            result.adversarial[name][eps] = x_adv
            result.accuracy[name][eps] = metrics.accuracy(classifier.predict(x_adv, batch_size=512), y)
        result.seconds[name] = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------------------------------
# Feature squeezing against the transferred and the adaptive attack (the readable functions)


@dataclass
class DefenseRow:
    """Accuracy on ``size`` digits at one budget: undefended under PGD, and with feature squeezing in front
    against the transferred PGD digits and against PGD through the squeezer (None at the clean row)."""

    epsilon: float
    undefended: float
    transfer: float
    adaptive: float | None
    size: int


def run_defense(trained: Trained, target: AttackSet, sweep: SweepResult, params: Mapping[str, Any], device) -> list[DefenseRow]:
    return defense_table(trained.model, target.x, target.y, sweep, bit_depth=params["squeeze_bit_depth"],
                         pgd_steps=params["pgd_steps"], random_start=params["pgd_random_start"],
                         batch_size=params["batch_size"], seed=params["seed"], device=device)


def adaptive_pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, bit_depth: int, eps: float, steps: int,
                 random_start: bool = True, batch_size: int = 128, seed: int = 0, device="cpu") -> torch.Tensor:
    """PGD through the squeezer: ``helpers.gradient_attacks.pgd`` on ``Squeezed(model)``, whose gradient is BPDA's."""
    gradient = gradient_attacks.input_gradient(Squeezed(model, bit_depth).to(device))
    generator = torch.Generator().manual_seed(seed)
    step_size = gradient_attacks.default_step_size(eps, steps)
    return gradient_attacks.in_batches(
        lambda xb, yb: gradient_attacks.pgd(gradient, xb, yb, eps=eps, steps=steps, step_size=step_size,
                                            random_start=random_start, generator=generator),
        x, y, batch_size=batch_size, device=device)


def defense_table(model, x: np.ndarray, y: np.ndarray, sweep: SweepResult, *, bit_depth: int, pgd_steps: int,
                  random_start: bool = True, batch_size: int = 128, seed: int = 0, device="cpu") -> list[DefenseRow]:
    """Accuracy of the model with feature squeezing in front, per budget, against two attackers:

    - transfer: the undefended model's PGD digits (from the sweep), then squeezed: the attacker ignores the defense;
    - adaptive: PGD run *through* the squeezer with the straight-through gradient (BPDA, Athalye et al. 2018).
    """
    squeezed = Squeezed(model, bit_depth).to(device).eval()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def accuracy(net, images) -> float:
        return metrics.accuracy(predict(net, torch.as_tensor(images), device=device), y)

    rows = [DefenseRow(0.0, accuracy(model, xt), accuracy(squeezed, xt), None, len(y))]
    for eps, x_adv in sweep.adversarial["pgd"].items():
        x_adaptive = adaptive_pgd(model, xt, yt, bit_depth=bit_depth, eps=eps, steps=pgd_steps, random_start=random_start,
                                  batch_size=batch_size, seed=seed, device=device)
        rows.append(DefenseRow(eps, sweep.accuracy["pgd"][eps], accuracy(squeezed, x_adv), accuracy(squeezed, x_adaptive), len(y)))
    return rows


# ---------------------------------------------------------------------------------------------------
# The readable functions against ART's, on a few digits


@dataclass
class Agreement:
    """One method run two ways on the same ``size`` digits: the readable function and ART's path.

    ``readable_accuracy``/``art_accuracy`` are the model's accuracy on what each produced (None where the output
    is a gradient); ``max_difference`` is the largest absolute difference between the two outputs (pixels or
    gradient entries); ``same_prediction`` the fraction of digits the model classifies the same way on both.
    """

    method: str
    readable: str
    art: str
    readable_accuracy: float | None
    art_accuracy: float | None
    max_difference: float
    same_prediction: float | None
    size: int
    same_random_start: bool


def agreement_epsilon(params: Mapping[str, Any]) -> float:
    """The budget of the comparison: the smallest non-zero one, where accuracy is furthest from zero."""
    positive = [e for e in params["epsilons"] if e > 0]
    return min(positive) if positive else params["grid_epsilon"]


def _agreement(method, readable, art, model, x_readable, x_art, y, device, *, same_start: bool) -> Agreement:
    a = predict(model, torch.as_tensor(x_readable), device=device).argmax(1).numpy()
    b = predict(model, torch.as_tensor(x_art), device=device).argmax(1).numpy()
    return Agreement(method, readable, art, float((a == y).mean()), float((b == y).mean()),
                     float(np.abs(np.asarray(x_readable) - np.asarray(x_art)).max()), float((a == b).mean()), len(y),
                     same_start)


def compare_attacks(trained: Trained, target: AttackSet, params: Mapping[str, Any], device) -> list[Agreement]:
    """FGSM and PGD by the readable functions and by ART (``make_attack``; PGD is ``TorchNativePGD``) on the first
    ``AGREEMENT_SIZE`` attacked digits, PGD from the same random start (one generator seed for both)."""
    eps, steps = agreement_epsilon(params), params["pgd_steps"]
    x, y = target.x[:AGREEMENT_SIZE], target.y[:AGREEMENT_SIZE]
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    gradient = gradient_attacks.input_gradient(trained.model)
    step_size = gradient_attacks.default_step_size(eps, steps)
    ours_fgsm = gradient_attacks.fgsm(gradient, xt, yt, eps=eps).cpu().numpy()
    art_fgsm = attacks.make_attack("fgsm", target.classifier, eps=eps, batch_size=len(y)).generate(x, y)
    ours_pgd = gradient_attacks.pgd(gradient, xt, yt, eps=eps, steps=steps, step_size=step_size,
                                    random_start=params["pgd_random_start"],
                                    generator=torch.Generator().manual_seed(params["seed"])).cpu().numpy()
    art_pgd = attacks.make_attack("pgd", target.classifier, eps=eps, max_iter=steps, batch_size=len(y),
                                  num_random_init=int(params["pgd_random_start"]))
    art_pgd.generator = torch.Generator().manual_seed(params["seed"])  # TorchNativePGD: the same random start
    art_pgd = art_pgd.generate(x, y)
    model = trained.model
    return [
        _agreement("FGSM", "fgsm", "FastGradientMethod", model, ours_fgsm, art_fgsm, y, device, same_start=True),
        _agreement(f"PGD-{steps}", "pgd", "TorchNativePGD", model, ours_pgd, art_pgd, y, device, same_start=True),
    ]


def art_feature_squeezing(bit_depth: int):
    """ART's feature squeezing pre-processor (Xu et al. 2018) for pixels in [0, 1]; its gradient is the identity."""
    from art.defences.preprocessor import FeatureSqueezing

    return keep_dtype(FeatureSqueezing)(clip_values=(0.0, 1.0), bit_depth=bit_depth)


def compare_defense(trained: Trained, target: AttackSet, params: Mapping[str, Any], device) -> list[Agreement]:
    """Feature squeezing, its BPDA gradient and the adaptive PGD, by the readable functions and by ART (a
    ``PyTorchClassifier`` with ART's ``FeatureSqueezing`` in front), on the first ``AGREEMENT_SIZE`` digits.

    ART runs a pre-processor written in NumPy through its own NumPy PGD, whose random start is its own: the two
    adaptive attacks agree in accuracy up to that randomness, not digit for digit.
    """
    bits, eps, steps = params["squeeze_bit_depth"], agreement_epsilon(params), params["pgd_steps"]
    model = trained.model
    x, y = target.x[:AGREEMENT_SIZE], target.y[:AGREEMENT_SIZE]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    noisy = np.clip(x + np.random.default_rng(params["seed"]).uniform(-eps, eps, x.shape), 0, 1).astype(np.float32)
    squeezer = art_feature_squeezing(bits)
    ours_squeezed = feature_squeezing(torch.from_numpy(noisy), bits).numpy()
    art_squeezed, _ = squeezer(noisy)
    defended = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10, device=device,
                                         preprocessing_defences=[squeezer])
    ours_gradient = gradient_attacks.input_gradient(Squeezed(model, bits).to(device))(
        torch.from_numpy(noisy).to(device), yt.to(device)).cpu().numpy()
    art_gradient = defended.loss_gradient(noisy, np.eye(10, dtype=np.float32)[y])  # ART takes one-hot labels here
    ours_adaptive = adaptive_pgd(model, xt, yt, bit_depth=bits, eps=eps, steps=steps, random_start=params["pgd_random_start"],
                                 batch_size=len(y), seed=params["seed"], device=device).numpy()
    art_attack = attacks.make_attack("pgd", defended, eps=eps, max_iter=steps, batch_size=len(y),
                                     num_random_init=int(params["pgd_random_start"]))
    art_adaptive = art_attack.generate(x, y)
    gradient_row = Agreement(
        "BPDA gradient", "bpda", "FeatureSqueezing.estimate_gradient", None, None,
        float(np.abs(ours_gradient - art_gradient).max() / max(np.abs(art_gradient).max(), 1e-12)), None, len(y), True)
    return [
        _agreement(f"feature squeezing ({bits} bit)", "feature_squeezing", "FeatureSqueezing", model,
                   ours_squeezed, art_squeezed, y, device, same_start=True),
        gradient_row,
        _agreement(f"adaptive PGD-{steps}", "pgd + bpda", type(art_attack).__name__, model, ours_adaptive, art_adaptive,
                   y, device, same_start=False),
    ]
