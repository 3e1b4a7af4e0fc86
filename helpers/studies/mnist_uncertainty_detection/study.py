"""Stages of study 3: the LeNet with dropout, three attacks on 50/50 mixed sets, the hybrid detector and
its baselines (cross-fitted), and an adaptive attacker that knows the detector.

The notebook ``notebooks/03_mnist_uncertainty_detection.ipynb`` calls these functions; ``report.py``
turns their results into tables, prose and the headline, ``figures.py`` into plots.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Mapping

import numpy as np
import torch

from helpers import attacks, metrics
from . import detector
from .adaptive import adaptive_attack
from .model import DropoutLeNet, train_lenet
from .uncertainty import mc_predict

STUDY = "mnist_uncertainty_detection"
TITLE = "Detecting adversarial MNIST digits with MC-dropout uncertainty and crop-and-resize voting"
ATTACK_NAMES = ("fgsm", "bim", "jsma")
CROPS = 5
ADAPTIVE_REFERENCE = "bim"  # the non-adaptive attack whose thresholds the defender deploys against the adaptive one


# ---------------------------------------------------------------------------------------------------
# Data and the model


def load_data(params: Mapping[str, Any]):
    """A stratified subset of the MNIST training digits and the test digits, as float tensors in [0, 1]."""
    from helpers.data import load_mnist

    return load_mnist(params["train_size"], params["test_size"], seed=params["seed"])


@dataclass
class Trained:
    """The LeNet, how it was obtained, and its clean test accuracy with dropout off and with MC dropout."""

    model: DropoutLeNet
    history: list[dict]
    from_cache: bool
    clean_accuracy: float
    mc_accuracy: float
    mc_passes: int
    test_size: int


def train(data, params: Mapping[str, Any], device) -> Trained:
    """Train the LeNet (or load it from the cache) and measure it on the test digits, plainly and with MC dropout."""
    from helpers.training import predict

    model, history, from_cache = train_lenet(
        data, epochs=params["epochs"], batch_size=params["batch_size"], learning_rate=params["learning_rate"],
        seed=params["seed"], device=device, dropout=params["dropout"],
    )
    clean_accuracy = metrics.accuracy(predict(model, data.x_test, device=device), data.y_test)
    clean_mc = mc_predict(model, data.x_test, passes=params["mc_passes"], device=device, seed=params["seed"],
                          desc="MC dropout, test set")
    mc_accuracy = metrics.accuracy(clean_mc.provisional, data.y_test)
    return Trained(model, history, from_cache, clean_accuracy, mc_accuracy, params["mc_passes"], len(data.y_test))


# ---------------------------------------------------------------------------------------------------
# Data and attacks


def correctly_classified(model, x: torch.Tensor, y: torch.Tensor, *, count: int, seed: int, device="cpu") -> np.ndarray:
    """Indices of up to ``count`` test digits the model (dropout off) classifies correctly, in a seeded random order."""
    from helpers.training import predict

    right = np.nonzero(predict(model, x, device=device).argmax(1).numpy() == y.numpy())[0]
    rng = np.random.default_rng(seed)
    return rng.permutation(right)[:count]


def make_attack(name: str, classifier, params: Mapping[str, Any]):
    """The study's three attacks through ART, with this run's settings."""
    if name == "fgsm":
        return attacks.make_attack("fgsm", classifier, eps=params["fgsm_eps"], batch_size=params["batch_size"])
    if name == "bim":
        return attacks.make_attack("bim", classifier, eps=params["bim_eps"], max_iter=params["bim_steps"],
                                   eps_step=params["bim_step_size"], batch_size=params["batch_size"])
    if name == "jsma":
        return attacks.make_attack("jsma", classifier, theta=params["jsma_theta"], gamma=params["jsma_gamma"], batch_size=params["batch_size"])
    raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACK_NAMES)}")


def set_sizes(params: Mapping[str, Any], available: int) -> dict[str, int]:
    """Clean digits per attack (half of each mixed set), limited by the correctly classified digits."""
    sizes = {"fgsm": params["mixed_size"] // 2, "bim": params["mixed_size"] // 2, "jsma": params["jsma_size"] // 2,
             "adaptive": params["adaptive_size"] // 2}
    return {name: min(n, available) for name, n in sizes.items()}


@dataclass
class Pool:
    """The correctly classified test digits the mixed sets are built from, and the clean digits per attack."""

    x: np.ndarray
    y: np.ndarray
    sizes: dict[str, int]

    def clean(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The clean digits (and labels) of the mixed set of attack ``name``: the first ``sizes[name]`` of the pool."""
        n = self.sizes[name]
        return self.x[:n], self.y[:n]


def select_pool(trained: Trained, data, params: Mapping[str, Any], device) -> Pool:
    """As in the study, only test digits the model classifies correctly are attacked."""
    count = max(params["mixed_size"], params["jsma_size"], params["adaptive_size"]) // 2
    index = correctly_classified(trained.model, data.x_test, data.y_test, count=count, seed=params["seed"], device=device)
    return Pool(data.x_test[index].numpy(), data.y_test[index].numpy(), set_sizes(params, len(index)))


@dataclass
class AttackRun:
    """One attack's mixed set, detector scores and cross-fitted evaluations."""

    name: str
    mixed: detector.MixedSet
    scores: detector.Scores
    evaluations: dict[str, dict] = field(default_factory=dict)
    attack_seconds: float = 0.0
    detector_seconds: float = 0.0

    @property
    def undefended_accuracy(self) -> float:
        return metrics.accuracy(self.scores.plain, self.mixed.y)

    @property
    def attack_success(self) -> float:
        """Fraction of adversarial images the undefended model misclassifies."""
        adv = self.mixed.is_adversarial
        return float((self.scores.plain[adv] != self.mixed.y[adv]).mean())

    @property
    def clean_count(self) -> int:
        return int((~self.mixed.is_adversarial).sum())


def run_attack(name: str, model, classifier, x_clean: np.ndarray, y: np.ndarray, params: Mapping[str, Any], device="cpu") -> AttackRun:
    """Attack ``x_clean`` through ART, build the 50/50 mixed set, score it and evaluate the three detectors."""
    started = time.perf_counter()
    attack = make_attack(name, classifier, params)
    x_adv = attacks.generate(attack, x_clean, y, desc=attacks.attack_title(name))
    attack_seconds = time.perf_counter() - started
    return evaluate_mixed(name, model, x_clean, x_adv, y, params, device=device, attack_seconds=attack_seconds)


def run_attacks(trained: Trained, pool: Pool, params: Mapping[str, Any], device,
                stage: Callable[[str], ContextManager] | None = None) -> dict[str, AttackRun]:
    """FGSM, BIM and JSMA, each on its own mixed set; ``stage`` (``run.stage``) times each as "attack+detect <name>"."""
    classifier = attacks.as_art_classifier(trained.model, input_shape=(1, 28, 28), nb_classes=10, device=device)
    runs = {}
    for name in ATTACK_NAMES:
        with (stage(f"attack+detect {name}") if stage else contextlib.nullcontext()):
            x, y = pool.clean(name)
            runs[name] = run_attack(name, trained.model, classifier, x, y, params, device=device)
    return runs


def evaluate_mixed(name: str, model, x_clean, x_adv, y, params: Mapping[str, Any], device="cpu", attack_seconds: float = 0.0) -> AttackRun:
    """Score a mixed set and cross-fit the three detectors on it."""
    started = time.perf_counter()
    mixed = detector.make_mixed(x_clean, x_adv, y)
    scores = detector.score(model, mixed, passes=params["mc_passes"], crop_size=params["crop_size"], device=device,
                            seed=params["seed"], name=name)
    run = evaluate(name, mixed, scores, attack_seconds=attack_seconds)
    run.detector_seconds = time.perf_counter() - started
    return run


def evaluate(name: str, mixed: detector.MixedSet, scores: detector.Scores, attack_seconds: float = 0.0) -> AttackRun:
    """Cross-fit the three detectors on a scored mixed set."""
    run = AttackRun(name, mixed, scores, attack_seconds=attack_seconds)
    for method in detector.METHODS:
        run.evaluations[method] = detector.summarize(detector.cross_fit(method, scores, mixed), scores, mixed)
    return run


# ---------------------------------------------------------------------------------------------------
# Beyond the study: the adaptive attack


@dataclass
class AdaptiveResult:
    """The adaptive attack's mixed set (``run``, with thresholds re-tuned on it, cross-fitted), the detectors
    with the thresholds tuned on the non-adaptive ``reference`` attack (``fixed``), and the adversarial digits."""

    run: AttackRun
    fixed: dict[str, dict]
    x_adv: np.ndarray
    reference: str = ADAPTIVE_REFERENCE
    eps: float = 0.0
    steps: int = 0
    eot: int = 0


def run_adaptive(model, x_clean, y, params: Mapping[str, Any], reference: AttackRun, device="cpu") -> AdaptiveResult:
    """The adaptive attack on ``x_clean``; the detector with the thresholds tuned on ``reference`` (the
    defender did not see this attack) and re-tuned on the adaptive set itself (cross-fitted)."""
    started = time.perf_counter()
    x_adv = adaptive_attack(
        model, x_clean, y, eps=params["adaptive_eps"], steps=params["adaptive_steps"], step_size=params["adaptive_step_size"],
        eot_samples=params["adaptive_eot"], crop_size=params["crop_size"], uncertainty_weight=params["adaptive_uncertainty_weight"],
        crop_weight=params["adaptive_crop_weight"], device=device, seed=params["seed"] + 1,
    )
    attack_seconds = time.perf_counter() - started
    run = evaluate_mixed("adaptive", model, x_clean, x_adv, y, params, device=device, attack_seconds=attack_seconds)
    return judge_adaptive(run, reference, x_adv, params)


def judge_adaptive(run: AttackRun, reference: AttackRun, x_adv: np.ndarray, params: Mapping[str, Any]) -> AdaptiveResult:
    """The adaptive set (already re-tuned, cross-fitted) judged also with the thresholds tuned on ``reference``."""
    fixed = {}
    for method in detector.METHODS:
        # Thresholds as deployed: those tuned (fold 0's) on the non-adaptive reference attack.
        settings = reference.evaluations[method]["settings"][0]
        flagged = detector.fixed_rule(method, settings, run.scores)
        fixed[method] = detector.summarize(detector.Evaluation(method, flagged, [settings]), run.scores, run.mixed)
    return AdaptiveResult(run, fixed, x_adv, reference.name, params["adaptive_eps"], params["adaptive_steps"], params["adaptive_eot"])


def attack_adaptively(trained: Trained, pool: Pool, runs: Mapping[str, AttackRun], params: Mapping[str, Any], device) -> AdaptiveResult:
    """The adaptive attack on its share of the pool, judged with the thresholds the defender tuned on BIM."""
    x, y = pool.clean("adaptive")
    return run_adaptive(trained.model, x, y, params, runs[ADAPTIVE_REFERENCE], device=device)


def with_adaptive(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> dict[str, AttackRun]:
    """The three attacks' runs and the adaptive one, for the plots that show all four."""
    return {**runs, "adaptive": adaptive.run}


def end_to_end_success(evaluation: dict, run: AttackRun) -> float:
    """Fraction of the adversarial images that the detector labels clean AND that are misclassified."""
    adv = run.mixed.is_adversarial
    passed = ~_flagged_from(evaluation, run)
    wrong = run.scores.provisional != run.mixed.y
    return float((passed & wrong & adv).sum() / adv.sum())


def _flagged_from(evaluation: dict, run: AttackRun) -> np.ndarray:
    settings = evaluation["settings"]
    if len(settings) == 1:
        return detector.fixed_rule(evaluation["method"], settings[0], run.scores)
    flagged = np.zeros(len(run.mixed), bool)
    for fold, chosen in enumerate(settings):
        mask = run.mixed.folds == fold
        flagged[mask] = detector.fixed_rule(evaluation["method"], chosen, run.scores)[mask]
    return flagged


# ---------------------------------------------------------------------------------------------------
# ROC of the uncertainty alone


def roc_points(uncertainty, is_adversarial):
    """ROC curve of the uncertainty as an adversarial score: (false positive rates, true positive rates, AUC)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(is_adversarial, uncertainty)
    return fpr, tpr, float(roc_auc_score(is_adversarial, uncertainty))


def roc_aucs(runs: Mapping[str, AttackRun]) -> dict[str, float]:
    """Area under the ROC curve of the uncertainty alone, per mixed set."""
    return {name: roc_points(run.scores.uncertainty, run.mixed.is_adversarial)[2] for name, run in runs.items()}
