"""Stages of study 3: the LeNet with dropout, the study's attacks on 50/50 mixed sets (FGSM, BIM in both of
Feinman et al.'s variants, JSMA), the hybrid detector and its baselines (cross-fitted, repeated over dropout
masks and fold splits for intervals), an adaptive attacker that knows the detector with its convergence
curve, and a PGD-adversarially-trained LeNet as a robust reference.

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
from . import detector, robust
from .adaptive import adaptive_attack
from .bim import bim_a
from .model import DropoutLeNet, train_lenet
from .uncertainty import mc_predict

STUDY = "mnist_uncertainty_detection"
TITLE = "Detecting adversarial MNIST digits with MC-dropout uncertainty and crop-and-resize voting"
ATTACK_NAMES = ("fgsm", "bim_a", "bim_b", "jsma")
TITLES = {"fgsm": "FGSM", "bim_a": "BIM-A", "bim_b": "BIM-B", "jsma": "JSMA", "adaptive": "adaptive"}
#: The study's row each of our attacks is compared with: its BIM is most likely BIM-A (see reference.py).
STUDY_ROW = {"fgsm": "fgsm", "bim_a": "bim", "jsma": "jsma"}
CROPS = 5
ADAPTIVE_REFERENCE = "bim_a"  # the non-adaptive attack whose thresholds the defender deploys against the adaptive one
BASELINES = ("uncertainty only", "crops only")


# ---------------------------------------------------------------------------------------------------
# Data and the model


def load_data(params: Mapping[str, Any]):
    """A stratified subset of the MNIST training digits and the test digits, as float tensors in [0, 1]."""
    from helpers.data import load_mnist

    return load_mnist(params["train_size"], params["test_size"], seed=params["seed"])


def fetch_data(params: Mapping[str, Any]) -> None:
    """Download MNIST into the data root when it is missing (``advlab fetch``)."""
    load_data(params)


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
    parts: dict = field(default_factory=dict)   # the settings that determined the weights


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
    parts = {name: params[name] for name in ("train_size", "test_size", "epochs", "batch_size", "learning_rate", "dropout", "seed")}
    return Trained(model, history, from_cache, clean_accuracy, mc_accuracy, params["mc_passes"], len(data.y_test), parts)


# ---------------------------------------------------------------------------------------------------
# Data and attacks


def correctly_classified(model, x: torch.Tensor, y: torch.Tensor, *, count: int, seed: int, device="cpu") -> np.ndarray:
    """Indices of up to ``count`` test digits the model (dropout off) classifies correctly, in a seeded random order."""
    from helpers.training import predict

    right = np.nonzero(predict(model, x, device=device).argmax(1).numpy() == y.numpy())[0]
    rng = np.random.default_rng(seed)
    return rng.permutation(right)[:count]


def make_attack(name: str, classifier, params: Mapping[str, Any]):
    """The study's ART attacks with this run's settings (BIM-B is ART's BIM: a fixed number of iterations)."""
    if name == "fgsm":
        return attacks.make_attack("fgsm", classifier, eps=params["fgsm_eps"], batch_size=params["batch_size"])
    if name == "bim_b":
        return attacks.make_attack("bim", classifier, eps=params["bim_eps"], max_iter=params["bim_steps"],
                                   eps_step=params["bim_step_size"], batch_size=params["batch_size"])
    if name == "jsma":
        return attacks.make_attack("jsma", classifier, theta=params["jsma_theta"], gamma=params["jsma_gamma"], batch_size=params["batch_size"])
    raise ValueError(f"no ART attack for {name!r}; choose from fgsm, bim_b, jsma (BIM-A is bim.bim_a)")


def generate(name: str, model, classifier, x: np.ndarray, y: np.ndarray, params: Mapping[str, Any], device="cpu") -> np.ndarray:
    """Adversarial copies of ``x`` under attack ``name``."""
    if name == "bim_a":
        x_adv, _ = bim_a(model, x, y, eps=params["bim_eps"], step_size=params["bim_step_size"], max_steps=params["bim_steps"],
                         device=device)
        return x_adv
    return attacks.generate(make_attack(name, classifier, params), x, y, desc=TITLES[name])


def set_sizes(params: Mapping[str, Any], available: int) -> dict[str, int]:
    """Clean digits per attack (half of each mixed set), limited by the correctly classified digits."""
    sizes = {"fgsm": params["mixed_size"] // 2, "bim_a": params["mixed_size"] // 2, "bim_b": params["mixed_size"] // 2,
             "jsma": params["jsma_size"] // 2, "adaptive": params["adaptive_size"] // 2}
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
    #: One entry per repeat (the first is ``evaluations``): per method, its accuracy and the accuracy on the
    #: images it labels clean, with other dropout masks and another split into folds.
    repeats: list[dict[str, dict]] = field(default_factory=list)
    #: Per method, per source digit: how many of its two images (clean, adversarial) the detector gets right.
    per_digit: dict[str, np.ndarray] = field(default_factory=dict)

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

    def spread(self, method: str, key: str = "accuracy") -> metrics.Interval:
        """Mean of ``key`` over the repeats with its 95% t-interval."""
        return metrics.mean_interval([r[method][key] for r in self.repeats])

    def advantage(self, method: str, baseline: str) -> metrics.Interval:
        """Hybrid-style advantage of ``method`` over ``baseline`` in detection accuracy: mean over the repeats
        (paired: same masks, same folds) with its 95% t-interval."""
        return metrics.mean_interval([r[method]["accuracy"] - r[baseline]["accuracy"] for r in self.repeats])

    def advantage_over_digits(self, method: str, baseline: str, seed: int = 0) -> metrics.Interval:
        """The same advantage in the first repeat, with a bootstrap interval over the source digits (how much
        it could move with other test digits)."""
        difference = (self.per_digit[method] - self.per_digit[baseline]) / 2.0
        return metrics.bootstrap_interval(difference, seed=seed)


def run_attack(name: str, model, classifier, x_clean: np.ndarray, y: np.ndarray, params: Mapping[str, Any], device="cpu") -> AttackRun:
    """Attack ``x_clean``, build the 50/50 mixed set, score it and evaluate the three detectors."""
    started = time.perf_counter()
    x_adv = generate(name, model, classifier, x_clean, y, params, device=device)
    attack_seconds = time.perf_counter() - started
    return evaluate_mixed(name, model, x_clean, x_adv, y, params, device=device, attack_seconds=attack_seconds)


def run_attacks(trained: Trained, pool: Pool, params: Mapping[str, Any], device,
                stage: Callable[[str], ContextManager] | None = None) -> dict[str, AttackRun]:
    """FGSM, BIM-A, BIM-B and JSMA, each on its own mixed set; ``stage`` (``run.stage``) times each as
    "attack+detect <name>"."""
    classifier = attacks.as_art_classifier(trained.model, input_shape=(1, 28, 28), nb_classes=10, device=device)
    runs = {}
    for name in ATTACK_NAMES:
        with (stage(f"attack+detect {name}") if stage else contextlib.nullcontext()):
            x, y = pool.clean(name)
            runs[name] = run_attack(name, trained.model, classifier, x, y, params, device=device)
    return runs


def evaluate_mixed(name: str, model, x_clean, x_adv, y, params: Mapping[str, Any], device="cpu", attack_seconds: float = 0.0,
                   repeats: int | None = None) -> AttackRun:
    """Score a mixed set and cross-fit the three detectors on it, ``repeats`` times (default: the ``repeats``
    parameter) with other dropout masks and fold splits; the first repeat is the one the tables count."""
    started = time.perf_counter()
    mixed = detector.make_mixed(x_clean, x_adv, y)
    fixed = detector.prepare(model, mixed.x, crop_size=params["crop_size"], device=device)
    repeats = params.get("repeats", 1) if repeats is None else repeats
    run = None
    for r in range(max(1, repeats)):
        scores = detector.score_with(model, fixed, passes=params["mc_passes"], device=device, seed=params["seed"] + 1000 * r,
                                     name=name)
        folds = mixed.folds if r == 0 else mixed.random_folds(params["seed"] + 1000 * r)
        evaluated = evaluate(name, mixed, scores, attack_seconds=attack_seconds, folds=folds)
        if run is None:
            run = evaluated
        else:
            run.repeats += evaluated.repeats
    run.detector_seconds = time.perf_counter() - started
    return run


def evaluate(name: str, mixed: detector.MixedSet, scores: detector.Scores, attack_seconds: float = 0.0,
             folds: np.ndarray | None = None) -> AttackRun:
    """Cross-fit the three detectors on a scored mixed set."""
    run = AttackRun(name, mixed, scores, attack_seconds=attack_seconds)
    n = int(mixed.source.max()) + 1 if len(mixed) else 0
    for method in detector.METHODS:
        evaluation = detector.cross_fit(method, scores, mixed, folds=folds)
        run.evaluations[method] = detector.summarize(evaluation, scores, mixed)
        right = evaluation.flagged == mixed.is_adversarial
        run.per_digit[method] = np.bincount(mixed.source, weights=right, minlength=n)
    run.repeats.append({m: {"accuracy": e["accuracy"], "reclassification": e["labeled_clean"]["accuracy"],
                            "fn": e["fn"], "fp": e["fp"]} for m, e in run.evaluations.items()})
    return run


# ---------------------------------------------------------------------------------------------------
# Beyond the study: the adaptive attack


@dataclass
class Convergence:
    """Pass-and-fool rate (against the deployed thresholds) of the adaptive attack on the first ``n`` digits
    of its set, as a function of the attack steps (for K and 2K dropout masks per step) and of K (at the
    default step count)."""

    n: int
    steps: int
    eot: int
    by_steps: dict[int, dict[int, float]]      # {masks per step: {steps: rate}}
    by_eot: dict[int, float]                   # {masks per step: rate at ``steps``}
    seconds: float = 0.0

    @property
    def default_rate(self) -> float:
        return self.by_steps[self.eot][self.steps]

    @property
    def doubled_rate(self) -> float:
        """Twice the steps and twice the masks."""
        return self.by_steps[2 * self.eot][2 * self.steps]

    @property
    def doubling_gain(self) -> float:
        return self.doubled_rate - self.default_rate


@dataclass
class AdaptiveResult:
    """The adaptive attack's mixed set (``run``, with thresholds re-tuned on it, cross-fitted), the detectors
    with the thresholds tuned on each non-adaptive attack (``fixed``: {attack: {method: summary}}; the defender
    deploys those of ``reference``), the adversarial digits and the convergence study."""

    run: AttackRun
    fixed: dict[str, dict[str, dict]]
    x_adv: np.ndarray
    reference: str = ADAPTIVE_REFERENCE
    eps: float = 0.0
    steps: int = 0
    eot: int = 0
    convergence: Convergence | None = None

    @property
    def deployed(self) -> dict[str, dict]:
        """Per method, the detector as deployed: thresholds tuned on the ``reference`` attack."""
        return self.fixed[self.reference]

    def pass_and_fool(self, thresholds: str | None = None, method: str = "hybrid") -> metrics.Interval:
        """Adversarial digits that pass the detector and are misclassified, with a Wilson interval over the
        digits; ``thresholds`` names the attack they were tuned on (None: re-tuned on the adaptive set)."""
        evaluation = self.run.evaluations[method] if thresholds is None else self.fixed[thresholds][method]
        n = int(self.run.mixed.is_adversarial.sum())
        return metrics.wilson_interval(round(end_to_end_success(evaluation, self.run) * n), n)


def step_marks(steps: int) -> list[int]:
    """Step counts at which the convergence curve is read: a tenth, a fifth, half and all of ``steps``."""
    return sorted({max(1, round(steps * f)) for f in (0.1, 0.2, 0.5, 1.0)})


def _adaptive(model, x, y, params: Mapping[str, Any], *, steps: int, eot: int, checkpoints=(), device="cpu", seed: int = 1):
    return adaptive_attack(
        model, x, y, eps=params["adaptive_eps"], steps=steps, step_size=params["adaptive_step_size"], eot_samples=eot,
        crop_size=params["crop_size"], kappa=params["adaptive_kappa"], uncertainty_weight=params["adaptive_uncertainty_weight"],
        crop_weight=params["adaptive_crop_weight"], restarts=params["adaptive_restarts"], checkpoints=checkpoints,
        device=device, seed=seed,
    )


def run_adaptive(model, x_clean, y, params: Mapping[str, Any], runs: Mapping[str, AttackRun], device="cpu") -> AdaptiveResult:
    """The adaptive attack on ``x_clean``; the detector with the thresholds tuned on each non-adaptive attack
    (the defender did not see this one) and re-tuned on the adaptive set itself (cross-fitted); then its
    convergence curve on the first ``convergence_size`` digits."""
    started = time.perf_counter()
    steps, eot = params["adaptive_steps"], params["adaptive_eot"]
    by_step = _adaptive(model, x_clean, y, params, steps=steps, eot=eot, checkpoints=step_marks(steps), device=device,
                        seed=params["seed"] + 1)
    attack_seconds = time.perf_counter() - started
    x_adv = by_step[steps]
    run = evaluate_mixed("adaptive", model, x_clean, x_adv, y, params, device=device, attack_seconds=attack_seconds)
    result = judge_adaptive(run, runs, x_adv, params)
    result.convergence = convergence(model, x_clean, y, by_step, result.deployed["hybrid"]["settings"][0], params, device=device)
    return result


def judge_adaptive(run: AttackRun, runs: Mapping[str, AttackRun], x_adv: np.ndarray, params: Mapping[str, Any],
                   reference: str = ADAPTIVE_REFERENCE) -> AdaptiveResult:
    """The adaptive set (already re-tuned, cross-fitted) judged also with the thresholds tuned on each attack of ``runs``."""
    fixed = {}
    for name, other in runs.items():
        fixed[name] = {}
        for method in detector.METHODS:
            # Thresholds as deployed: those tuned (fold 0's) on the non-adaptive attack.
            settings = other.evaluations[method]["settings"][0]
            flagged = detector.fixed_rule(method, settings, run.scores)
            fixed[name][method] = detector.summarize(detector.Evaluation(method, flagged, [settings]), run.scores, run.mixed)
    return AdaptiveResult(run, fixed, x_adv, reference, params["adaptive_eps"], params["adaptive_steps"], params["adaptive_eot"])


def pass_and_fool_rate(model, x_adv: np.ndarray, y: np.ndarray, settings: dict, params: Mapping[str, Any], device="cpu") -> float:
    """Fraction of ``x_adv`` the hybrid detector with fixed ``settings`` lets through and that are misclassified."""
    fixed = detector.prepare(model, x_adv, crop_size=params["crop_size"], device=device)
    scores = detector.score_with(model, fixed, passes=params["mc_passes"], device=device, seed=params["seed"], name="convergence")
    passed = ~detector.fixed_rule("hybrid", settings, scores)
    return float((passed & (scores.provisional != np.asarray(y))).mean())


def convergence(model, x_clean, y, by_step: Mapping[int, np.ndarray], settings: dict, params: Mapping[str, Any], device="cpu") -> Convergence:
    """The convergence curve of the adaptive attack on the first ``convergence_size`` digits: the default run's
    checkpoints (K masks), a run with twice the steps and twice the masks (its checkpoints), and runs with the
    other mask counts of ``convergence_eot`` at the default step count."""
    started = time.perf_counter()
    steps, eot = params["adaptive_steps"], params["adaptive_eot"]
    n = min(params["convergence_size"], len(y))
    x, y = np.asarray(x_clean)[:n], np.asarray(y)[:n]
    rate = lambda x_adv: pass_and_fool_rate(model, x_adv, y, settings, params, device=device)  # noqa: E731
    by_steps = {eot: {s: rate(x_adv[:n]) for s, x_adv in by_step.items()}}
    doubled = _adaptive(model, x, y, params, steps=2 * steps, eot=2 * eot, checkpoints=step_marks(steps), device=device,
                        seed=params["seed"] + 2)
    by_steps[2 * eot] = {s: rate(x_adv) for s, x_adv in doubled.items()}
    by_eot = {eot: by_steps[eot][steps], 2 * eot: by_steps[2 * eot][steps]}
    for k in params["convergence_eot"]:
        if k not in by_eot:
            by_eot[k] = rate(_adaptive(model, x, y, params, steps=steps, eot=k, device=device, seed=params["seed"] + 3)[steps])
    return Convergence(n, steps, eot, by_steps, dict(sorted(by_eot.items())), time.perf_counter() - started)


def attack_adaptively(trained: Trained, pool: Pool, runs: Mapping[str, AttackRun], params: Mapping[str, Any], device) -> AdaptiveResult:
    """The adaptive attack on its share of the pool, judged with the thresholds the defender tuned on BIM-A."""
    x, y = pool.clean("adaptive")
    return run_adaptive(trained.model, x, y, params, runs, device=device)


def with_adaptive(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> dict[str, AttackRun]:
    """The non-adaptive attacks' runs and the adaptive one, for the plots that show all of them."""
    return {**runs, "adaptive": adaptive.run}


# ---------------------------------------------------------------------------------------------------
# The robust reference


@dataclass
class RobustReference:
    """The PGD-adversarially-trained LeNet and, under the same white-box PGD, it and the natural LeNet."""

    history: list[dict]
    from_cache: bool
    robust: robust.RobustEvaluation
    natural: robust.RobustEvaluation
    epochs: int
    train_steps: int


def robust_reference(trained: Trained, data, params: Mapping[str, Any], device) -> RobustReference:
    """Adversarially train (or load) the LeNet at the detector's eps and attack it and the natural LeNet with
    PGD on ``robust_eval_size`` test digits."""
    eps = params["adaptive_eps"]
    model, history, from_cache = robust.train_robust_lenet(
        trained.model, data, natural_parts=trained.parts, epochs=params["robust_epochs"], batch_size=params["robust_batch_size"],
        learning_rate=params["learning_rate"], eps=eps, steps=params["robust_steps"],
        step_size=params["robust_step_size"], seed=params["seed"], device=device,
    )
    index = np.random.default_rng(params["seed"]).permutation(len(data.y_test))[:params["robust_eval_size"]]
    x, y = data.x_test[index].numpy(), data.y_test[index].numpy()
    options = dict(eps=eps, steps=params["robust_eval_steps"], restarts=params["robust_eval_restarts"], device=device)
    return RobustReference(history, from_cache, robust.evaluate_under_pgd("adversarially trained", model, x, y, **options),
                           robust.evaluate_under_pgd("natural", trained.model, x, y, **options),
                           params["robust_epochs"], params["robust_steps"])


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
