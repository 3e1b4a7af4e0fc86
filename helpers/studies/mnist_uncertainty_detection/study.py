"""Stages of study 3: the LeNet with dropout, the study's attacks on 50/50 mixed sets (FGSM, BIM in both of
Feinman et al.'s variants, JSMA), the hybrid detector and its baselines (cross-fitted, repeated over dropout
masks and fold splits for intervals), an adaptive attacker that knows the detector with its convergence
curve, and a PGD-adversarially-trained LeNet as a robust reference.

``METHODS`` maps each method the notebook puts on the page to its readable implementation. Where the study
runs a faster version (MC dropout and crop voting vectorized over passes and crops, the adaptive attack with
the dropout passes stacked), ``compare_fast_path`` and ``compare_margin_attack`` run both on a few digits.

The notebook ``notebooks/03_mnist_uncertainty_detection.ipynb`` calls these functions; ``report.py``
turns their results into tables, prose and the headline, ``figures.py`` into plots.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from helpers import attacks, gradient_attacks, metrics
from . import bim, detector, robust, thresholds
from .adaptive import adaptive_attack, margin_attack
from .crops import crop_vote
from .model import DropoutLeNet, train_lenet
from .uncertainty import mc_dropout, mc_predict

STUDY = "mnist_uncertainty_detection"
TITLE = "Detecting adversarial MNIST digits with MC-dropout uncertainty and crop-and-resize voting"
ATTACK_NAMES = ("fgsm", "bim_a", "bim_b", "jsma")
TITLES = {"fgsm": "FGSM", "bim_a": "BIM-A", "bim_b": "BIM-B", "jsma": "JSMA", "adaptive": "adaptive"}
#: The study's row each of our attacks is compared with: its BIM is most likely BIM-A (see reference.py).
STUDY_ROW = {"fgsm": "fgsm", "bim_a": "bim", "jsma": "jsma"}
CROPS = 5
ADAPTIVE_REFERENCE = "bim_a"  # the non-adaptive attack whose thresholds the defender deploys against the adaptive one
BASELINES = ("uncertainty only", "crops only")

#: Each method the notebook shows, by name: its readable implementation (``run.show_code(name)``).
METHODS: dict[str, Callable] = {
    "mc_dropout": mc_dropout,
    "crop_vote": crop_vote,
    "information_gain": thresholds.information_gain,
    "hybrid_rule": thresholds.decide,
    "fgsm": gradient_attacks.fgsm,
    "pgd": gradient_attacks.pgd,
    "bim_b": gradient_attacks.bim,
    "bim_a": bim.bim_a,
    "margin_attack": margin_attack,
}


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
# The detector's two ingredients, readable, and the fast path beside them


@dataclass
class CheckScores:
    """The readable MC dropout and crop voting on ``check_size`` test digits (all of them, right or wrong)."""

    x: np.ndarray
    y: np.ndarray
    passes: int
    mean: np.ndarray                      # (n, classes): mean softmax output
    uncertainty: np.ndarray               # (n,)
    votes: np.ndarray | None = None       # (n,): crops agreeing with the provisional class

    @property
    def provisional(self) -> np.ndarray:
        return self.mean.argmax(1)

    @property
    def correct(self) -> np.ndarray:
        return self.provisional == self.y


def run_mc_dropout(trained: Trained, data, params: Mapping[str, Any], device) -> CheckScores:
    """``mc_dropout`` (readable) on the first ``check_size`` test digits, with the masks of the run's seed."""
    n = min(params["check_size"], len(data.y_test))
    x = data.x_test[:n]
    model = trained.model.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params["seed"])
        mean, uncertainty = mc_dropout(model, x.to(device), params["mc_passes"])
    model.eval()
    return CheckScores(x.numpy(), data.y_test[:n].numpy(), params["mc_passes"], mean.cpu().numpy(), uncertainty.cpu().numpy())


def run_crop_vote(trained: Trained, scores: CheckScores, params: Mapping[str, Any], device) -> CheckScores:
    """``crop_vote`` (readable) on the same digits, against their readable provisional class."""
    model = trained.model.to(device)
    provisional = torch.as_tensor(scores.provisional).to(device)
    votes = crop_vote(model, torch.from_numpy(scores.x).to(device), provisional, params["crop_size"])
    model.eval()
    return CheckScores(scores.x, scores.y, scores.passes, scores.mean, scores.uncertainty, votes.numpy())


@dataclass
class FastPathAgreement:
    """The readable and the fast detector ingredients on the same digits (other dropout masks)."""

    n: int
    passes: int
    readable_accuracy: float          # provisional class right
    fast_accuracy: float
    provisional_agreement: float      # same provisional class both ways
    readable_uncertainty: float       # mean uncertainty
    fast_uncertainty: float
    votes_equal: float                # same vote count for the same provisional class (crop voting is deterministic)


def compare_fast_path(trained: Trained, scores: CheckScores, params: Mapping[str, Any], device) -> FastPathAgreement:
    """The study's fast MC dropout (features once, the head on stacked passes) and crop voting (all five crops of a
    batch in one call) on the digits of ``scores``, beside the readable results in it."""
    from .crops import count_votes

    fixed = detector.prepare(trained.model, scores.x, crop_size=params["crop_size"], device=device)
    fast = detector.score_with(trained.model, fixed, passes=params["mc_passes"], device=device, seed=params["seed"] + 1,
                               name="fast path")
    same_votes = count_votes(fixed.crop_predictions, scores.provisional) == scores.votes
    return FastPathAgreement(
        len(scores.y), scores.passes, float(scores.correct.mean()), float((fast.provisional == scores.y).mean()),
        float((fast.provisional == scores.provisional).mean()), float(scores.uncertainty.mean()),
        float(fast.uncertainty.mean()), float(same_votes.mean()),
    )


# ---------------------------------------------------------------------------------------------------
# Data and attacks


def correctly_classified(model, x: torch.Tensor, y: torch.Tensor, *, count: int, seed: int, device="cpu") -> np.ndarray:
    """Indices of up to ``count`` test digits the model (dropout off) classifies correctly, in a seeded random order."""
    from helpers.training import predict

    right = np.nonzero(predict(model, x, device=device).argmax(1).numpy() == y.numpy())[0]
    rng = np.random.default_rng(seed)
    return rng.permutation(right)[:count]


def generate(name: str, model, x: np.ndarray, y: np.ndarray, params: Mapping[str, Any], device="cpu") -> np.ndarray:
    """Adversarial copies of ``x`` under attack ``name``: FGSM, BIM-A and BIM-B through ``helpers.gradient_attacks``
    (``bim.py``), JSMA through ART (``helpers.attacks``)."""
    batch = dict(batch_size=params["batch_size"], device=device)
    if name == "fgsm":
        return bim.run_in_batches(bim.fgsm, model, x, y, eps=params["fgsm_eps"], **batch)
    if name in ("bim_a", "bim_b"):
        attack = bim.bim_a if name == "bim_a" else bim.bim_b
        return bim.run_in_batches(attack, model, x, y, eps=params["bim_eps"], steps=params["bim_steps"],
                                  step_size=params["bim_step_size"], **batch)
    if name == "jsma":
        classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10, device=device)
        attack = attacks.make_attack("jsma", classifier, theta=params["jsma_theta"], gamma=params["jsma_gamma"],
                                     batch_size=params["batch_size"])
        return attacks.generate(attack, x, y, desc=TITLES[name])
    raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACK_NAMES)}")


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


def attack_and_detect(name: str, model, x_clean: np.ndarray, y: np.ndarray, params: Mapping[str, Any], device="cpu") -> AttackRun:
    """Attack ``x_clean``, build the 50/50 mixed set, score it and evaluate the three detectors."""
    started = time.perf_counter()
    x_adv = generate(name, model, x_clean, y, params, device=device)
    attack_seconds = time.perf_counter() - started
    return evaluate_mixed(name, model, x_clean, x_adv, y, params, device=device, attack_seconds=attack_seconds)


def run_attack(name: str, trained: Trained, pool: "Pool", params: Mapping[str, Any], device) -> AttackRun:
    """Attack ``name`` on its share of the pool, then the detector and its baselines on the mixed set."""
    x, y = pool.clean(name)
    return attack_and_detect(name, trained.model, x, y, params, device=device)


def collect_runs(*runs: AttackRun) -> dict[str, AttackRun]:
    """The attacks' runs by name, for the tables that show all of them."""
    return {run.name: run for run in runs}


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
        return pass_and_fool_interval(evaluation)


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


@dataclass
class AttackAgreement:
    """The readable margin attack (``margin_attack``) and the fast one (``adaptive_attack``, one restart, no crop or
    uncertainty term) on the same digits, same budget, steps and masks per step."""

    n: int
    steps: int
    masks: int
    readable_fooled: float            # misclassified by the model with dropout off
    fast_fooled: float
    readable_pass_and_fool: float     # pass the deployed detector and are misclassified
    fast_pass_and_fool: float
    readable_distance: float          # largest L-infinity distance to the clean digit
    fast_distance: float


def compare_margin_attack(trained: Trained, pool: Pool, adaptive: AdaptiveResult, params: Mapping[str, Any], device) -> AttackAgreement:
    """Both versions of the adaptive attack on the first ``attack_check_size`` digits of its set, judged by the detector
    with the thresholds the defender deployed."""
    from helpers.training import predict

    x, y = pool.clean("adaptive")
    n = min(params["attack_check_size"], len(y))
    x, y = x[:n], y[:n]
    model, steps, masks = trained.model, params["adaptive_steps"], params["adaptive_eot"]
    budget = dict(eps=params["adaptive_eps"], steps=steps, step_size=params["adaptive_step_size"], kappa=params["adaptive_kappa"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params["seed"] + 4)
        readable = bim.run_in_batches(margin_attack, model, x, y, masks=masks, batch_size=params["batch_size"], device=device,
                                      **budget)
    fast = adaptive_attack(model, x, y, eot_samples=masks, crop_size=params["crop_size"], device=device,
                           seed=params["seed"] + 4, **budget)[steps]
    settings = adaptive.deployed["hybrid"]["settings"][0]

    def fooled(x_adv):
        return float((predict(model, torch.from_numpy(x_adv), device=device).argmax(1).numpy() != y).mean())

    def rate(x_adv):
        return pass_and_fool_rate(model, x_adv, y, settings, params, device=device)

    return AttackAgreement(n, steps, masks, fooled(readable), fooled(fast), rate(readable), rate(fast),
                           float(np.abs(readable - x).max()), float(np.abs(fast - x).max()))


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


def end_to_end_success(evaluation: dict, run: AttackRun | None = None) -> float:
    """Fraction of the adversarial images that the detector labels clean AND that are misclassified."""
    adversarial = evaluation["tp"] + evaluation["fn"]
    return evaluation["passed_and_wrong"] / adversarial if adversarial else float("nan")


def pass_and_fool_interval(evaluation: dict) -> metrics.Interval:
    """``end_to_end_success`` with its Wilson interval over the adversarial images."""
    return metrics.wilson_interval(evaluation["passed_and_wrong"], evaluation["tp"] + evaluation["fn"])


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
