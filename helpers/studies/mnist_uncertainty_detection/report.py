"""What study 3's results say: the study's three tables with its numbers beside ours, the baselines, the
adaptive attack, prose written from the measured numbers, and the headline."""
from __future__ import annotations

from typing import Any, Mapping

from helpers import attacks
from helpers.headline import Metric, metric
from helpers.tables import show_table

from . import detector
from .reference import (
    MISSING,
    REFERENCE,
    REFERENCE_CLEAN_ACCURACY,
    REFERENCE_DETECTION,
    REFERENCE_LABELED_CLEAN,
    REFERENCE_UNDEFENDED,
)
from .study import AdaptiveResult, AttackRun, Trained, end_to_end_success

LABELED_CLEAN_KEYS = ("clean_correct", "clean_incorrect", "adv_correct", "adv_incorrect", "accuracy")
LABELED_CLEAN_COLUMNS = ["clean, correct", "clean, incorrect", "adv., correct", "adv., incorrect", "reclassification accuracy"]


def _title(name: str) -> str:
    return attacks.attack_title(name) if name in attacks.ATTACKS else name


# ---------------------------------------------------------------------------------------------------
# What the notebook shows


def show_training(trained: Trained) -> None:
    how = "loaded from cache" if trained.from_cache else "trained"
    print(f"{how}: test accuracy {100 * trained.clean_accuracy:.2f}% with dropout off, "
          f"{100 * trained.mc_accuracy:.2f}% with the MC-dropout mean of {trained.mc_passes} passes "
          f"(study: about {100 * REFERENCE_CLEAN_ACCURACY:.0f}%)")


def show_attacks(runs: Mapping[str, AttackRun]) -> None:
    """How many images each mixed set holds, how long it took, how often the attack fools the model; the study's first table."""
    for name, r in runs.items():
        n = r.clean_count
        print(f"{_title(name)}: {len(r.mixed)} images ({n} clean + {n} adversarial); attack {r.attack_seconds:.0f} s, "
              f"detector {r.detector_seconds:.0f} s; the attack fools the undefended model on {100 * r.attack_success:.1f}% of its images")
    show_table(*undefended_table(runs))


def show_thresholds(runs: Mapping[str, AttackRun]) -> None:
    show_table(*thresholds_table(runs))


def show_detection(runs: Mapping[str, AttackRun]) -> None:
    show_table(*detection_table(runs))
    print(detection_summary(runs))


def show_labeled_clean(runs: Mapping[str, AttackRun]) -> None:
    show_table(*labeled_clean_table(runs))


def show_baselines(runs: Mapping[str, AttackRun]) -> None:
    show_table(*baseline_table(runs))


def show_adaptive(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> None:
    r = adaptive.run
    n = r.clean_count
    print(f"adaptive attack: {len(r.mixed)} images ({n} clean + {n} adversarial), {adaptive.steps} steps, "
          f"eps={adaptive.eps:g}, {r.attack_seconds:.0f} s; it fools the undefended model on "
          f"{100 * r.attack_success:.1f}% of its images")
    show_table(*adaptive_table(runs, adaptive))
    print(adaptive_summary(runs, adaptive))


def show_roc(aucs: Mapping[str, float]) -> None:
    print(", ".join(f"{name}: AUC {auc:.3f}" for name, auc in aucs.items()))


# ---------------------------------------------------------------------------------------------------
# Tables (rows, columns) for helpers.tables.show_table


def _ref(table: dict, source: str, attack: str, key: str):
    value = table.get(source, {}).get(attack, {})
    value = value.get(key) if isinstance(value, dict) else value
    return MISSING if value is None else value


def undefended_table(runs: Mapping[str, AttackRun]):
    rows = [[_title(n), len(r.mixed), r.undefended_accuracy,
             REFERENCE_UNDEFENDED["study"][n], REFERENCE_UNDEFENDED["paper"][n]] for n, r in runs.items()]
    return rows, ["attack", "images", "undefended accuracy (ours)", "study", "paper"]


def detection_table(runs: Mapping[str, AttackRun], method: str = "hybrid", with_reference: bool = True):
    rows = []
    for name, run in runs.items():
        e = run.evaluations[method]
        rows.append([_title(name), "ours", e["fn"], e["fp"], e["tn"], e["tp"], e["accuracy"]])
        if with_reference and name in REFERENCE_DETECTION["study"]:
            for source in ("study", "paper"):
                ref = REFERENCE_DETECTION[source][name]
                rows.append(["", source, ref["fn"], ref["fp"], ref["tn"], ref["tp"], ref["accuracy"]])
    return rows, ["attack", "source", "FN", "FP", "TN", "TP", "detection accuracy"]


def labeled_clean_table(runs: Mapping[str, AttackRun], method: str = "hybrid", with_reference: bool = True):
    rows = []
    for name, run in runs.items():
        b = run.evaluations[method]["labeled_clean"]
        rows.append([_title(name), "ours", b["n"]] + [b[k] for k in LABELED_CLEAN_KEYS])
        if with_reference and name in REFERENCE_LABELED_CLEAN["study"]:
            for source in ("study", "paper"):
                rows.append(["", source, MISSING] + [_ref(REFERENCE_LABELED_CLEAN, source, name, k) for k in LABELED_CLEAN_KEYS])
    return rows, ["attack", "source", "labeled clean"] + LABELED_CLEAN_COLUMNS


def baseline_table(runs: Mapping[str, AttackRun]):
    rows = []
    for name, run in runs.items():
        for i, method in enumerate(detector.METHODS):
            e = run.evaluations[method]
            rows.append([_title(name) if i == 0 else "", method, e["fn"], e["fp"], e["tn"], e["tp"], e["accuracy"],
                         e["labeled_clean"]["accuracy"]])
    return rows, ["attack", "detector", "FN", "FP", "TN", "TP", "detection accuracy", "accuracy on labeled clean"]


def adaptive_table(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult):
    """Non-adaptive BIM beside the adaptive attack (thresholds from BIM, and re-tuned on the adaptive set)."""
    rows = []
    reference = adaptive.reference
    ref = runs[reference]
    adaptive_run = adaptive.run
    for method in detector.METHODS:
        settings = [
            (f"{_title(reference)} (non-adaptive)", ref.evaluations[method], ref),
            (f"adaptive, {_title(reference)} thresholds", adaptive.fixed[method], adaptive_run),
            ("adaptive, re-tuned thresholds", adaptive_run.evaluations[method], adaptive_run),
        ]
        for label, e, run in settings:
            passed = end_to_end_success(e, run)
            rows.append([method, label, e["fn"], e["fp"], e["accuracy"], e["labeled_clean"]["accuracy"], passed])
    return rows, ["detector", "attack / thresholds", "FN", "FP", "detection accuracy", "accuracy on labeled clean",
                  "adversarials that pass and fool"]


def thresholds_table(runs: Mapping[str, AttackRun]):
    rows = []
    for name, run in runs.items():
        for fold, s in enumerate(run.evaluations["hybrid"]["settings"]):
            rows.append([_title(name), f"tuned on fold {1 - fold}, applied to fold {fold}",
                         f"{s['ig_threshold']:.4f}", f"{s['information_gain']:.3f}", f"{s['low']:.4f}", f"{s['high']:.4f}",
                         s["votes_needed"], s["calibration_accuracy"]])
    return rows, ["attack", "folds", "information-gain threshold t", "gain (bits)", "L", "H", "C", "accuracy on the tuning fold"]


# ---------------------------------------------------------------------------------------------------
# Prose from the numbers


def detection_summary(runs: Mapping[str, AttackRun]) -> str:
    sentences = []
    for name, run in runs.items():
        hybrid = run.evaluations["hybrid"]
        best_baseline = max(("uncertainty only", "crops only"), key=lambda m: run.evaluations[m]["accuracy"])
        b = run.evaluations[best_baseline]["accuracy"]
        ref = REFERENCE_DETECTION["study"].get(name, {}).get("accuracy")
        cmp = "beats" if hybrid["accuracy"] > b else ("ties" if hybrid["accuracy"] == b else "does not beat")
        sentences.append(
            f"{_title(name)} ({len(run.mixed)} images): undefended accuracy {100 * run.undefended_accuracy:.1f}%, "
            f"hybrid detection accuracy {100 * hybrid['accuracy']:.1f}%"
            + (f" (study {100 * ref:.1f}%)" if ref is not None else "")
            + f"; it {cmp} the better baseline ({best_baseline}, {100 * b:.1f}%)."
        )
    return " ".join(sentences)


def adaptive_summary(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> str:
    reference = adaptive.reference
    ref = runs[reference].evaluations["hybrid"]
    fixed, retuned = adaptive.fixed["hybrid"], adaptive.run.evaluations["hybrid"]
    run = adaptive.run
    passed = end_to_end_success(fixed, run)
    text = (
        f"Against non-adaptive {_title(reference)} the hybrid detector is {100 * ref['accuracy']:.1f}% accurate; "
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


# ---------------------------------------------------------------------------------------------------
# Headline and the detail that goes to metrics.json


def _attack_setting(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if name == "fgsm":
        return {"eps": params["fgsm_eps"]}
    if name == "bim":
        return {"eps": params["bim_eps"], "steps": params["bim_steps"]}
    if name == "jsma":
        return {"theta": params["jsma_theta"], "gamma": params["jsma_gamma"]}
    return {}


def headline(trained: Trained, runs: Mapping[str, AttackRun], adaptive: AdaptiveResult, params: Mapping[str, Any]) -> list[Metric]:
    """Stable keys at every preset: budgets, steps and set sizes are the metrics' detail."""
    metrics = [metric("clean_accuracy", "clean test accuracy (dropout off)", trained.clean_accuracy, unit="%",
                      reference=REFERENCE, digits=trained.test_size)]
    for name, run in runs.items():
        metrics.append(metric(f"{name}_detection_accuracy", f"{_title(name)}: hybrid detection accuracy",
                              run.evaluations["hybrid"]["accuracy"], unit="%", reference=REFERENCE,
                              images=len(run.mixed), **_attack_setting(name, params)))
    for name, run in runs.items():
        metrics.append(metric(f"{name}_reclassification_accuracy", f"{_title(name)}: accuracy on images labeled clean",
                              run.evaluations["hybrid"]["labeled_clean"]["accuracy"], unit="%", reference=REFERENCE,
                              images=run.evaluations["hybrid"]["labeled_clean"]["n"], **_attack_setting(name, params)))
    at = {"eps": adaptive.eps, "steps": adaptive.steps, "eot": adaptive.eot, "images": len(adaptive.run.mixed)}
    fixed = adaptive.fixed["hybrid"]
    metrics += [
        metric("adaptive_detection_accuracy", f"adaptive attack: detection accuracy ({_title(adaptive.reference)} thresholds)",
               fixed["accuracy"], unit="%", reference=REFERENCE, thresholds=adaptive.reference, **at),
        metric("adaptive_retuned_detection_accuracy", "adaptive attack: detection accuracy (re-tuned thresholds)",
               adaptive.run.evaluations["hybrid"]["accuracy"], unit="%", reference=REFERENCE, **at),
        metric("adaptive_pass_and_fool", "adaptive adversarials that pass the detector and are misclassified",
               end_to_end_success(fixed, adaptive.run), unit="%", reference=REFERENCE, thresholds=adaptive.reference, **at),
    ]
    return metrics


def details(trained: Trained, runs: Mapping[str, AttackRun], adaptive: AdaptiveResult, aucs: Mapping[str, float]) -> dict[str, Any]:
    """What ``metrics.json`` keeps beyond the headline: set sizes, every detector's evaluation, the ROC AUCs."""
    every = {**runs, "adaptive": adaptive.run}
    return {
        "model_from_cache": trained.from_cache,
        "mc_clean_accuracy": trained.mc_accuracy,
        "set_sizes": {name: len(r.mixed) for name, r in every.items()},
        "undefended_accuracy": {name: r.undefended_accuracy for name, r in every.items()},
        "detection": {name: {m: {k: v for k, v in e.items() if k != "method"} for m, e in r.evaluations.items()}
                      for name, r in runs.items()},
        "adaptive": {"fixed_thresholds": adaptive.fixed, "retuned": adaptive.run.evaluations},
        "roc_auc": dict(aucs),
    }
