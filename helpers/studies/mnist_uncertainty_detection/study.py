"""Study 3 orchestration: parameters, the study's and the paper's reference numbers, and the functions
the notebook ``notebooks/03_mnist_uncertainty_detection.ipynb`` calls.

Source: a reproduction ("study") of Alshemali, Graham and Kalita, "Toward robust image classification"
(2019) ("paper"). Reference numbers below are quoted from that reproduction; the paper's values are
those it reports in parentheses. They are shown only in columns labelled "study" / "paper".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from helpers import attacks, metrics
from helpers.params import RUN_PARAMETERS, Param
from . import detector
from .adaptive import adaptive_attack

STUDY = "mnist_uncertainty_detection"
TITLE = "Detecting adversarial MNIST digits with MC-dropout uncertainty and crop-and-resize voting"
ATTACK_NAMES = ("fgsm", "bim", "jsma")
CROPS = 5

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=500, high=60_000, help="training digits"),
    "test_size": Param(int, low=100, high=10_000, help="test digits the mixed sets are drawn from"),
    "epochs": Param(int, low=1, high=100),
    "batch_size": Param(int, low=8, high=4096),
    "learning_rate": Param(float, low=1e-6, high=1.0),
    "dropout": Param(float, low=0.05, high=0.9, help="dropout rate of the dense head (study: 0.5)"),
    "mixed_size": Param(int, low=20, high=20_000, help="images per FGSM / BIM mixed set, half clean, half adversarial"),
    "jsma_size": Param(int, low=20, high=20_000, help="images in the JSMA mixed set (JSMA is slow on a CPU)"),
    "fgsm_eps": Param(float, low=0.0, high=1.0, help="FGSM L-infinity budget"),
    "bim_eps": Param(float, low=0.0, high=1.0, help="BIM L-infinity budget"),
    "bim_steps": Param(int, low=1, high=1000),
    "bim_step_size": Param(float, low=1e-4, high=1.0),
    "jsma_theta": Param(float, low=-1.0, high=1.0, help="JSMA change per selected pixel"),
    "jsma_gamma": Param(float, low=0.001, high=1.0, help="JSMA: largest fraction of pixels changed"),
    "mc_passes": Param(int, low=2, high=1000, help="stochastic forward passes per image (N)"),
    "crop_size": Param(int, low=14, high=27, help="side of the five crops, resized back to 28"),
    "adaptive_size": Param(int, low=20, high=20_000, help="images in the adaptive-attack mixed set"),
    "adaptive_eps": Param(float, low=0.0, high=1.0, help="adaptive attack L-infinity budget"),
    "adaptive_steps": Param(int, low=1, high=1000),
    "adaptive_step_size": Param(float, low=1e-4, high=1.0),
    "adaptive_eot": Param(int, low=1, high=200, help="dropout masks averaged per adaptive step"),
    "adaptive_uncertainty_weight": Param(float, low=0.0, high=1e4, help="weight of the uncertainty penalty"),
    "adaptive_crop_weight": Param(float, low=0.0, high=1e4, help="weight of the crop-agreement term"),
}

# ---------------------------------------------------------------------------------------------------
# Reference numbers: "study" = the reproduction the issue summarizes, "paper" = Alshemali et al. 2019.
# Not measured here; shown beside our measured numbers only.

#: Undefended accuracy on the 50/50 mixed sets.
REFERENCE_UNDEFENDED = {
    "study": {"fgsm": 0.585, "bim": 0.496, "jsma": 0.511},
    "paper": {"fgsm": 0.590, "bim": 0.500, "jsma": 0.520},
}
#: Hybrid detector confusion counts and accuracy on the mixed sets.
REFERENCE_DETECTION = {
    "study": {
        "fgsm": {"fn": 515, "fp": 194, "tn": 4766, "tp": 4445, "accuracy": 0.929},
        "bim": {"fn": 323, "fp": 28, "tn": 4928, "tp": 4633, "accuracy": 0.965},
        "jsma": {"fn": 116, "fp": 66, "tn": 4893, "tp": 4843, "accuracy": 0.982},
    },
    "paper": {
        "fgsm": {"fn": 252, "fp": 134, "tn": 4796, "tp": 4725, "accuracy": 0.961},
        "bim": {"fn": 249, "fp": 104, "tn": 4826, "tp": 4728, "accuracy": 0.964},
        "jsma": {"fn": 85, "fp": 74, "tn": 4856, "tp": 4892, "accuracy": 0.983},
    },
}
#: Among images labeled clean: fractions clean-correct / clean-incorrect / adv-correct / adv-incorrect
#: and reclassification accuracy. The paper reports only the accuracy.
REFERENCE_LABELED_CLEAN = {
    "study": {
        "fgsm": {"clean_correct": 0.958, "clean_incorrect": 0.0, "adv_correct": 0.002, "adv_incorrect": 0.039, "accuracy": 0.961},
        "bim": {"clean_correct": 0.993, "clean_incorrect": 0.0, "adv_correct": 0.0, "adv_incorrect": 0.006, "accuracy": 0.994},
        "jsma": {"clean_correct": 0.986, "clean_incorrect": 0.0, "adv_correct": 0.011, "adv_incorrect": 0.002, "accuracy": 0.998},
    },
    "paper": {"fgsm": {"accuracy": 0.990}, "bim": {"accuracy": 0.990}, "jsma": {"accuracy": 0.999}},
}
MISSING = "–"


# ---------------------------------------------------------------------------------------------------
# Data and attacks


def correctly_classified(model, x: torch.Tensor, y: torch.Tensor, *, count: int, seed: int, device="cpu") -> np.ndarray:
    """Indices of up to ``count`` test digits the model (dropout off) classifies correctly, in a seeded random order."""
    from helpers.training import predict

    right = np.nonzero(predict(model, x, device=device).argmax(1).numpy() == y.numpy())[0]
    rng = np.random.default_rng(seed)
    return rng.permutation(right)[:count]


def make_attack(name: str, classifier, params: dict):
    """The study's three attacks through ART, with this run's settings."""
    if name == "fgsm":
        return attacks.make_attack("fgsm", classifier, eps=params["fgsm_eps"], batch_size=params["batch_size"])
    if name == "bim":
        return attacks.make_attack("bim", classifier, eps=params["bim_eps"], max_iter=params["bim_steps"],
                                   eps_step=params["bim_step_size"], batch_size=params["batch_size"])
    if name == "jsma":
        return attacks.make_attack("jsma", classifier, theta=params["jsma_theta"], gamma=params["jsma_gamma"], batch_size=params["batch_size"])
    raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACK_NAMES)}")


def set_sizes(params: dict, available: int) -> dict[str, int]:
    """Clean digits per attack (half of each mixed set), limited by the correctly classified digits."""
    sizes = {"fgsm": params["mixed_size"] // 2, "bim": params["mixed_size"] // 2, "jsma": params["jsma_size"] // 2,
             "adaptive": params["adaptive_size"] // 2}
    return {name: min(n, available) for name, n in sizes.items()}


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


def run_attack(name: str, model, classifier, x_clean: np.ndarray, y: np.ndarray, params: dict, device="cpu") -> AttackRun:
    """Attack ``x_clean`` through ART, build the 50/50 mixed set, score it and evaluate the three detectors."""
    started = time.perf_counter()
    attack = make_attack(name, classifier, params)
    x_adv = attacks.generate(attack, x_clean, y, desc=attacks.attack_title(name))
    attack_seconds = time.perf_counter() - started
    return evaluate_mixed(name, model, x_clean, x_adv, y, params, device=device, attack_seconds=attack_seconds)


def evaluate_mixed(name: str, model, x_clean, x_adv, y, params: dict, device="cpu", attack_seconds: float = 0.0) -> AttackRun:
    """Score a mixed set and cross-fit the three detectors on it."""
    started = time.perf_counter()
    mixed = detector.make_mixed(x_clean, x_adv, y)
    scores = detector.score(model, mixed, passes=params["mc_passes"], crop_size=params["crop_size"], device=device,
                            seed=params["seed"], name=name)
    run = AttackRun(name, mixed, scores, attack_seconds=attack_seconds)
    for method in detector.METHODS:
        run.evaluations[method] = detector.summarize(detector.cross_fit(method, scores, mixed), scores, mixed)
    run.detector_seconds = time.perf_counter() - started
    return run


def run_adaptive(model, x_clean, y, params: dict, reference: AttackRun, device="cpu") -> dict:
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
    fixed = {}
    for method in detector.METHODS:
        # Thresholds as deployed: those tuned (fold 0's) on the non-adaptive reference attack.
        settings = reference.evaluations[method]["settings"][0]
        flagged = detector.fixed_rule(method, settings, run.scores)
        fixed[method] = detector.summarize(detector.Evaluation(method, flagged, [settings]), run.scores, run.mixed)
    return {"run": run, "fixed": fixed, "x_adv": x_adv}


# ---------------------------------------------------------------------------------------------------
# Tables (rows, columns) for helpers.tables.show_table


def _ref(table: dict, source: str, attack: str, key: str):
    value = table.get(source, {}).get(attack, {})
    value = value.get(key) if isinstance(value, dict) else value
    return MISSING if value is None else value


def undefended_table(runs: dict[str, AttackRun]):
    rows = [[attacks.attack_title(n), len(r.mixed), r.undefended_accuracy,
             REFERENCE_UNDEFENDED["study"][n], REFERENCE_UNDEFENDED["paper"][n]] for n, r in runs.items()]
    return rows, ["attack", "images", "undefended accuracy (ours)", "study", "paper"]


def detection_table(runs: dict[str, AttackRun], method: str = "hybrid", with_reference: bool = True):
    rows = []
    for name, run in runs.items():
        e = run.evaluations[method]
        rows.append([attacks.attack_title(name), "ours", e["fn"], e["fp"], e["tn"], e["tp"], e["accuracy"]])
        if with_reference and name in REFERENCE_DETECTION["study"]:
            for source in ("study", "paper"):
                ref = REFERENCE_DETECTION[source][name]
                rows.append(["", source, ref["fn"], ref["fp"], ref["tn"], ref["tp"], ref["accuracy"]])
    return rows, ["attack", "source", "FN", "FP", "TN", "TP", "detection accuracy"]


LABELED_CLEAN_KEYS = ("clean_correct", "clean_incorrect", "adv_correct", "adv_incorrect", "accuracy")
LABELED_CLEAN_COLUMNS = ["clean, correct", "clean, incorrect", "adv., correct", "adv., incorrect", "reclassification accuracy"]


def labeled_clean_table(runs: dict[str, AttackRun], method: str = "hybrid", with_reference: bool = True):
    rows = []
    for name, run in runs.items():
        b = run.evaluations[method]["labeled_clean"]
        rows.append([attacks.attack_title(name), "ours", b["n"]] + [b[k] for k in LABELED_CLEAN_KEYS])
        if with_reference and name in REFERENCE_LABELED_CLEAN["study"]:
            for source in ("study", "paper"):
                rows.append(["", source, MISSING] + [_ref(REFERENCE_LABELED_CLEAN, source, name, k) for k in LABELED_CLEAN_KEYS])
    return rows, ["attack", "source", "labeled clean"] + LABELED_CLEAN_COLUMNS


def baseline_table(runs: dict[str, AttackRun]):
    rows = []
    for name, run in runs.items():
        for i, method in enumerate(detector.METHODS):
            e = run.evaluations[method]
            rows.append([attacks.attack_title(name) if i == 0 else "", method, e["fn"], e["fp"], e["tn"], e["tp"], e["accuracy"],
                         e["labeled_clean"]["accuracy"]])
    return rows, ["attack", "detector", "FN", "FP", "TN", "TP", "detection accuracy", "accuracy on labeled clean"]


def adaptive_table(runs: dict[str, AttackRun], adaptive: dict, reference: str = "bim"):
    """Non-adaptive BIM beside the adaptive attack (thresholds from BIM, and re-tuned on the adaptive set)."""
    rows = []
    ref = runs[reference]
    adaptive_run = adaptive["run"]
    for method in detector.METHODS:
        settings = [
            (f"{attacks.attack_title(reference)} (non-adaptive)", ref.evaluations[method], ref),
            (f"adaptive, {attacks.attack_title(reference)} thresholds", adaptive["fixed"][method], adaptive_run),
            ("adaptive, re-tuned thresholds", adaptive_run.evaluations[method], adaptive_run),
        ]
        for label, e, run in settings:
            passed = end_to_end_success(e, run)
            rows.append([method, label, e["fn"], e["fp"], e["accuracy"], e["labeled_clean"]["accuracy"], passed])
    return rows, ["detector", "attack / thresholds", "FN", "FP", "detection accuracy", "accuracy on labeled clean",
                  "adversarials that pass and fool"]


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


def thresholds_table(runs: dict[str, AttackRun]):
    rows = []
    for name, run in runs.items():
        for fold, s in enumerate(run.evaluations["hybrid"]["settings"]):
            rows.append([attacks.attack_title(name), f"tuned on fold {1 - fold}, applied to fold {fold}",
                         f"{s['ig_threshold']:.4f}", f"{s['information_gain']:.3f}", f"{s['low']:.4f}", f"{s['high']:.4f}",
                         s["votes_needed"], s["calibration_accuracy"]])
    return rows, ["attack", "folds", "information-gain threshold t", "gain (bits)", "L", "H", "C", "accuracy on the tuning fold"]


# ---------------------------------------------------------------------------------------------------
# Figures


def plot_uncertainty_histograms(runs: dict[str, AttackRun], bins: int = 50):
    """The study's Figure 1: uncertainty of clean versus adversarial images, one panel per attack."""
    import matplotlib.pyplot as plt

    from helpers.plots import use_style

    use_style()
    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.2), squeeze=False)
    for ax, (name, run) in zip(axes[0], runs.items()):
        u, adv = run.scores.uncertainty, run.mixed.is_adversarial
        edges = np.linspace(0, max(u.max(), 1e-6), bins + 1)
        ax.hist(u[~adv], bins=edges, alpha=0.6, label="clean", color="#1f77b4")
        ax.hist(u[adv], bins=edges, alpha=0.6, label="adversarial", color="#d62728")
        chosen = run.evaluations["hybrid"]["settings"][0]
        for value, style in ((chosen["low"], ":"), (chosen["high"], "--")):
            if edges[0] <= value <= edges[-1]:
                ax.axvline(value, color="k", linestyle=style, linewidth=1)
        ax.set(title=attacks.attack_title(name) if name in attacks.ATTACKS else name, xlabel="MC-dropout uncertainty", yscale="log")
    axes[0][0].set_ylabel("images (log scale)")
    axes[0][0].legend()
    fig.suptitle("Uncertainty of clean and adversarial digits (dotted: L, dashed: H, fold 0)")
    fig.tight_layout()
    return fig


def roc_points(uncertainty, is_adversarial):
    """ROC curve of the uncertainty as an adversarial score: (false positive rates, true positive rates, AUC)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(is_adversarial, uncertainty)
    return fpr, tpr, float(roc_auc_score(is_adversarial, uncertainty))


def plot_roc(runs: dict[str, AttackRun]):
    import matplotlib.pyplot as plt

    from helpers.plots import use_style

    use_style()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    aucs = {}
    for name, run in runs.items():
        fpr, tpr, auc = roc_points(run.scores.uncertainty, run.mixed.is_adversarial)
        aucs[name] = auc
        label = attacks.attack_title(name) if name in attacks.ATTACKS else name
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="false positive rate (clean flagged)", ylabel="true positive rate (adversarial flagged)",
           title="Uncertainty alone as a detector", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return fig, aucs


def example_rows(runs: dict[str, AttackRun], count: int = 8):
    """Images for ``plots.image_grid``: the first ``count`` source digits, clean and per attack, with captions."""
    first = next(iter(runs.values()))
    n_clean = int((~first.mixed.is_adversarial).sum())
    count = min(count, n_clean)
    rows, labels, captions, correct = [], [], [], []

    def add(label, run, offset):
        idx = np.arange(offset, offset + count)
        rows.append(run.mixed.x[idx])
        labels.append(label)
        captions.append([f"{run.scores.provisional[i]} u={run.scores.uncertainty[i]:.3f} v={run.scores.votes[i]}" for i in idx])
        correct.append(list(run.scores.provisional[idx] == run.mixed.y[idx]))

    add("clean", first, 0)
    for name, run in runs.items():
        n = int((~run.mixed.is_adversarial).sum())
        if n >= count:
            add(attacks.attack_title(name) if name in attacks.ATTACKS else name, run, n)
    return rows, labels, captions, correct


# ---------------------------------------------------------------------------------------------------
# Prose from the numbers


def detection_summary(runs: dict[str, AttackRun]) -> str:
    sentences = []
    for name, run in runs.items():
        hybrid = run.evaluations["hybrid"]
        best_baseline = max(("uncertainty only", "crops only"), key=lambda m: run.evaluations[m]["accuracy"])
        b = run.evaluations[best_baseline]["accuracy"]
        ref = REFERENCE_DETECTION["study"].get(name, {}).get("accuracy")
        cmp = "beats" if hybrid["accuracy"] > b else ("ties" if hybrid["accuracy"] == b else "does not beat")
        sentences.append(
            f"{attacks.attack_title(name)} ({len(run.mixed)} images): undefended accuracy {100 * run.undefended_accuracy:.1f}%, "
            f"hybrid detection accuracy {100 * hybrid['accuracy']:.1f}%"
            + (f" (study {100 * ref:.1f}%)" if ref is not None else "")
            + f"; it {cmp} the better baseline ({best_baseline}, {100 * b:.1f}%)."
        )
    return " ".join(sentences)


def adaptive_summary(runs: dict[str, AttackRun], adaptive: dict, reference: str = "bim") -> str:
    ref = runs[reference].evaluations["hybrid"]
    fixed, retuned = adaptive["fixed"]["hybrid"], adaptive["run"].evaluations["hybrid"]
    run = adaptive["run"]
    passed = end_to_end_success(fixed, run)
    text = (
        f"Against non-adaptive {attacks.attack_title(reference)} the hybrid detector is {100 * ref['accuracy']:.1f}% accurate; "
        f"against the adaptive attack with the same thresholds it is {100 * fixed['accuracy']:.1f}% "
        f"({fixed['fn']} of {int(run.mixed.is_adversarial.sum())} adversarials labeled clean), and "
        f"{100 * retuned['accuracy']:.1f}% even when the defender re-tunes H, L and C on the adaptive examples. "
        f"{100 * passed:.1f}% of the adaptive adversarials both pass the detector and are misclassified "
        f"(accuracy on images labeled clean: {100 * fixed['labeled_clean']['accuracy']:.1f}%). "
    )
    if fixed["accuracy"] < ref["accuracy"] - 0.05:
        text += ("As Carlini and Wagner found for uncertainty-based detectors, an attacker who optimizes through the "
                 "dropout masks and the crops largely evades a detector that looked strong against attacks that ignore it.")
    else:
        text += ("At this budget and step count the adaptive attack does not evade the detector much more than the "
                 "non-adaptive one; a stronger attack (more steps, larger penalty weights) is the next thing to try before trusting it.")
    return text
