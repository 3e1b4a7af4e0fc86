"""What study 3's results say: the study's three tables with its numbers beside ours (with 95% intervals over
dropout masks and fold splits), both BIM variants, the baselines and the hybrid's advantage over them, the
adaptive attack and its convergence curve, the robust reference, prose written from the measured numbers,
and the headline."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from helpers import metrics
from helpers.headline import Metric, metric
from helpers.tables import show_table

from . import detector
from .reference import (
    CARLINI_WAGNER_SUCCESS,
    MADRY_PGD_ACCURACY,
    MISSING,
    REFERENCE,
    REFERENCE_CLEAN_ACCURACY,
    REFERENCE_DETECTION,
    REFERENCE_LABELED_CLEAN,
    REFERENCE_UNDEFENDED,
)
from .study import (
    ADAPTIVE_REFERENCE,
    BASELINES,
    STUDY_ROW,
    TITLES,
    AdaptiveResult,
    AttackRun,
    RobustReference,
    Trained,
    end_to_end_success,
)

LABELED_CLEAN_KEYS = ("clean_correct", "clean_incorrect", "adv_correct", "adv_incorrect", "accuracy")
LABELED_CLEAN_COLUMNS = ["clean, correct", "clean, incorrect", "adv., correct", "adv., incorrect", "reclassification accuracy"]
#: The issue's targets at the default preset.
TARGET_BIM = 0.90
TARGET_PASS_AND_FOOL = 0.90
PLATEAU_POINTS = 0.02


def _title(name: str) -> str:
    return TITLES.get(name, name)


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _interval(interval: metrics.Interval) -> str:
    """"95.3% (94.8–95.9)", or the estimate alone when the interval is undefined (one repeat). A rate lies in
    [0, 1], so a t-interval reaching past either end (few repeats, large spread) is shown cut at it."""
    if math.isnan(interval.low):
        return _pct(interval.estimate)
    low, high = max(0.0, interval.low), min(1.0, interval.high)
    return f"{_pct(interval.estimate)} ({100 * low:.1f}–{100 * high:.1f})"


def _signed(interval: metrics.Interval) -> str:
    if math.isnan(interval.low):
        return f"{100 * interval.estimate:+.1f} pt"
    return f"{100 * interval.estimate:+.1f} pt ({100 * interval.low:+.1f} to {100 * interval.high:+.1f})"


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
              f"detector ({len(r.repeats)} repeats) {r.detector_seconds:.0f} s; the attack fools the undefended model "
              f"on {100 * r.attack_success:.1f}% of its images")
    show_table(*undefended_table(runs))


def show_bim_variants(runs: Mapping[str, AttackRun]) -> None:
    show_table(*bim_variants_table(runs))
    print(bim_variants_summary(runs))


def show_thresholds(runs: Mapping[str, AttackRun]) -> None:
    show_table(*thresholds_table(runs))


def show_detection(runs: Mapping[str, AttackRun]) -> None:
    show_table(*detection_table(runs))
    print(detection_summary(runs))


def show_labeled_clean(runs: Mapping[str, AttackRun]) -> None:
    show_table(*labeled_clean_table(runs))


def show_baselines(runs: Mapping[str, AttackRun]) -> None:
    show_table(*baseline_table(runs))
    show_table(*advantage_table(runs))
    print(advantage_summary(runs))


def show_adaptive(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> None:
    r = adaptive.run
    n = r.clean_count
    print(f"adaptive attack: {len(r.mixed)} images ({n} clean + {n} adversarial), {adaptive.steps} steps, "
          f"{adaptive.eot} dropout masks per step, eps={adaptive.eps:g}, {r.attack_seconds:.0f} s; it fools the "
          f"undefended model on {100 * r.attack_success:.1f}% of its images")
    show_table(*adaptive_table(runs, adaptive))
    print(adaptive_summary(runs, adaptive))


def show_convergence(adaptive: AdaptiveResult) -> None:
    show_table(*convergence_steps_table(adaptive))
    show_table(*convergence_eot_table(adaptive))
    print(convergence_summary(adaptive))


def show_robust(reference: RobustReference, adaptive: AdaptiveResult, trained: Trained) -> None:
    show_table(*robust_table(reference, adaptive, trained))
    print(robust_summary(reference, adaptive))


def show_roc(aucs: Mapping[str, float]) -> None:
    print(", ".join(f"{_title(name)}: AUC {auc:.3f}" for name, auc in aucs.items()))


def show_closing(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult, reference: RobustReference) -> None:
    from IPython.display import Markdown, display

    display(Markdown(closing_note(runs, adaptive, reference)))


# ---------------------------------------------------------------------------------------------------
# Tables (rows, columns) for helpers.tables.show_table


def _ref(table: dict, source: str, attack: str, key: str):
    value = table.get(source, {}).get(attack, {})
    value = value.get(key) if isinstance(value, dict) else value
    return MISSING if value is None else value


def undefended_table(runs: Mapping[str, AttackRun]):
    rows = []
    for n, r in runs.items():
        row = STUDY_ROW.get(n)
        rows.append([_title(n), len(r.mixed), r.undefended_accuracy,
                     REFERENCE_UNDEFENDED["study"][row] if row else MISSING, REFERENCE_UNDEFENDED["paper"][row] if row else MISSING])
    return rows, ["attack", "images", "undefended accuracy (ours)", "study", "paper"]


def bim_variants_table(runs: Mapping[str, AttackRun]):
    """BIM-A beside BIM-B: how often each fools the model, how unsure the model is about them, how well each
    detector catches them."""
    rows = []
    for name in ("bim_a", "bim_b"):
        if name not in runs:
            continue
        r = runs[name]
        u = r.scores.uncertainty
        adv = r.mixed.is_adversarial
        rows.append([_title(name), r.attack_success, f"{np.median(u[adv]):.4f}", f"{np.median(u[~adv]):.4f}",
                     _interval(r.spread("hybrid")), _interval(r.spread("uncertainty only")), _interval(r.spread("crops only"))])
    rows.append(["study (BIM)", MISSING, MISSING, MISSING,
                 _pct(REFERENCE_DETECTION["study"]["bim"]["accuracy"]), MISSING, MISSING])
    return rows, ["BIM variant", "fools the undefended model", "median uncertainty, adversarial", "median uncertainty, clean",
                  "hybrid detection accuracy (95% interval)", "uncertainty only", "crops only"]


def detection_table(runs: Mapping[str, AttackRun], method: str = "hybrid", with_reference: bool = True):
    rows = []
    for name, run in runs.items():
        e = run.evaluations[method]
        rows.append([_title(name), "ours", e["fn"], e["fp"], e["tn"], e["tp"], e["accuracy"], _interval(run.spread(method))])
        row = STUDY_ROW.get(name)
        if with_reference and row in REFERENCE_DETECTION["study"]:
            for source in ("study", "paper"):
                ref = REFERENCE_DETECTION[source][row]
                rows.append(["", source, ref["fn"], ref["fp"], ref["tn"], ref["tp"], ref["accuracy"], MISSING])
    return rows, ["attack", "source", "FN", "FP", "TN", "TP", "detection accuracy",
                  "mean over repeats (95% interval)"]


def labeled_clean_table(runs: Mapping[str, AttackRun], method: str = "hybrid", with_reference: bool = True):
    rows = []
    for name, run in runs.items():
        b = run.evaluations[method]["labeled_clean"]
        rows.append([_title(name), "ours", b["n"]] + [b[k] for k in LABELED_CLEAN_KEYS] + [_interval(run.spread(method, "reclassification"))])
        row = STUDY_ROW.get(name)
        if with_reference and row in REFERENCE_LABELED_CLEAN["study"]:
            for source in ("study", "paper"):
                rows.append(["", source, MISSING] + [_ref(REFERENCE_LABELED_CLEAN, source, row, k) for k in LABELED_CLEAN_KEYS] + [MISSING])
    return rows, ["attack", "source", "labeled clean"] + LABELED_CLEAN_COLUMNS + ["reclassification, mean over repeats (95% interval)"]


def baseline_table(runs: Mapping[str, AttackRun]):
    rows = []
    for name, run in runs.items():
        for i, method in enumerate(detector.METHODS):
            e = run.evaluations[method]
            rows.append([_title(name) if i == 0 else "", method, e["fn"], e["fp"], e["tn"], e["tp"], e["accuracy"],
                         _interval(run.spread(method)), e["labeled_clean"]["accuracy"]])
    return rows, ["attack", "detector", "FN", "FP", "TN", "TP", "detection accuracy",
                  "mean over repeats (95% interval)", "accuracy on labeled clean"]


def advantage_table(runs: Mapping[str, AttackRun]):
    """The hybrid's advantage in detection accuracy over each baseline: over the repeats (masks and folds),
    and over resampled digits (bootstrap, first repeat)."""
    rows = []
    for name, run in runs.items():
        for baseline in BASELINES:
            rows.append([_title(name), baseline, _signed(run.advantage("hybrid", baseline)),
                         _signed(run.advantage_over_digits("hybrid", baseline)), _verdict(run, baseline)])
    return rows, ["attack", "baseline", "hybrid minus baseline, over repeats (95% interval)",
                  "over resampled digits (95% interval)", "hybrid better?"]


def _verdict(run: AttackRun, baseline: str) -> str:
    seeds, digits = run.advantage("hybrid", baseline), run.advantage_over_digits("hybrid", baseline)
    if math.isnan(seeds.low):
        return "one repeat: no interval"
    if seeds.low > 0 and digits.low > 0:
        return "yes, beyond both intervals"
    if seeds.low > 0:
        return "beyond the seed interval only"
    if seeds.high < 0:
        return "no: the baseline is better"
    return "no: within the interval"


def _deployed_rows(adaptive: AdaptiveResult, runs: Mapping[str, AttackRun]):
    """(label, evaluation, run) for each threshold source against the adaptive set, the deployed one first."""
    order = [adaptive.reference] + [n for n in runs if n != adaptive.reference]
    rows = [(f"tuned on {_title(n)}" + (" (deployed)" if n == adaptive.reference else ""), adaptive.fixed[n]["hybrid"])
            for n in order if n in adaptive.fixed]
    rows.append(("re-tuned on the adaptive set (cross-fitted)", adaptive.run.evaluations["hybrid"]))
    return rows


def adaptive_table(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult):
    """The hybrid detector against the adaptive digits, with the thresholds tuned on each non-adaptive attack
    and re-tuned on the adaptive set: detection accuracy, clean digits let through, adversarials that pass and fool."""
    run = adaptive.run
    n = int(run.mixed.is_adversarial.sum())
    rows = []
    for label, e in _deployed_rows(adaptive, runs):
        passed = metrics.wilson_interval(round(end_to_end_success(e, run) * n), n)
        rows.append([label, e["accuracy"], e["tn"] / max(e["tn"] + e["fp"], 1), _interval(passed)])
    ref = runs[adaptive.reference].evaluations["hybrid"]
    rows.append([f"(non-adaptive {_title(adaptive.reference)}, its own thresholds)", ref["accuracy"],
                 ref["tn"] / max(ref["tn"] + ref["fp"], 1), _pct(end_to_end_success(ref, runs[adaptive.reference]))])
    return rows, ["hybrid detector thresholds", "detection accuracy", "clean digits let through",
                  "adversarials that pass and fool (95% interval)"]


def convergence_steps_table(adaptive: AdaptiveResult):
    c = adaptive.convergence
    masks = sorted(c.by_steps)
    steps = sorted({s for curve in c.by_steps.values() for s in curve})
    rows = [[s] + [_pct(c.by_steps[k][s]) if s in c.by_steps[k] else MISSING for k in masks] for s in steps]
    return rows, ["attack steps"] + [f"{k} dropout masks per step" for k in masks]


def convergence_eot_table(adaptive: AdaptiveResult):
    c = adaptive.convergence
    rows = [[k, _pct(rate)] for k, rate in c.by_eot.items()]
    return rows, ["dropout masks per step", f"pass and fool after {c.steps} steps"]


def robust_table(reference: RobustReference, adaptive: AdaptiveResult, trained: Trained):
    """What fraction of digits an attacker with eps can make wrong: against the natural LeNet, against the
    adversarially trained one, and against the natural LeNet behind the detector."""
    r, nat = reference.robust, reference.natural
    deployed = adaptive.pass_and_fool(adaptive.reference)
    return [
        ["natural LeNet, no defense", nat.n, _interval(nat.clean_accuracy), _interval(nat.pgd_accuracy),
         _interval(nat.made_wrong), f"PGD, {nat.steps} steps, {nat.restarts} start(s)"],
        [f"PGD-adversarially-trained LeNet ({reference.epochs} epoch(s), {reference.train_steps}-step PGD)", r.n,
         _interval(r.clean_accuracy), _interval(r.pgd_accuracy), _interval(r.made_wrong),
         f"PGD, {r.steps} steps, {r.restarts} start(s)"],
        [f"natural LeNet behind the hybrid detector ({_title(adaptive.reference)} thresholds)",
         int(adaptive.run.mixed.is_adversarial.sum()), _pct(trained.clean_accuracy), MISSING,
         _interval(deployed), "adaptive attack; correctly classified digits that pass and fool"],
    ], ["model", "digits", "clean accuracy", "accuracy under attack", "digits the attacker makes wrong (95% interval)", "attack"]


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


def bim_variants_summary(runs: Mapping[str, AttackRun]) -> str:
    if not {"bim_a", "bim_b"} <= set(runs):
        return ""
    a, b = runs["bim_a"].spread("hybrid"), runs["bim_b"].spread("hybrid")
    study = REFERENCE_DETECTION["study"]["bim"]["accuracy"]
    closer = "BIM-A" if abs(a.estimate - study) <= abs(b.estimate - study) else "BIM-B"
    return (
        f"BIM-A digits are caught {_interval(a)} of the time, BIM-B digits {_interval(b)}; the study reports "
        f"{_pct(study)} for its BIM, and {closer} is the closer. Both fool the undefended model about equally often "
        f"({_pct(runs['bim_a'].attack_success)} and {_pct(runs['bim_b'].attack_success)}), so what separates them is "
        "where they leave the digit: BIM-A just past the decision boundary, where the dropout passes disagree (higher "
        "uncertainty), BIM-B far beyond it, where they agree. The study's BIM fooled its model almost always and was "
        "caught more often than its FGSM: that is BIM-A's signature, which is why BIM-A stands for the study's BIM in "
        "Tables 2 and 3 and its thresholds are the ones the defender deploys against the adaptive attack below."
    )


def detection_summary(runs: Mapping[str, AttackRun]) -> str:
    sentences = []
    for name, run in runs.items():
        hybrid = run.spread("hybrid")
        best_baseline = max(BASELINES, key=lambda m: run.spread(m).estimate)
        row = STUDY_ROW.get(name)
        ref = REFERENCE_DETECTION["study"][row]["accuracy"] if row else None
        sentences.append(
            f"{_title(name)} ({len(run.mixed)} images): undefended accuracy {_pct(run.undefended_accuracy)}, "
            f"hybrid detection accuracy {_interval(hybrid)}" + (f" (study {_pct(ref)})" if ref is not None else "")
            + f"; better baseline: {best_baseline}, {_interval(run.spread(best_baseline))}."
        )
    repeats = len(next(iter(runs.values())).repeats) if runs else 0
    sentences.append(f"Intervals: 95% t-intervals over {repeats} repeats, each with other dropout masks and another "
                     "random split of the digits into the two cross-fitting folds (same model, same digits).")
    return " ".join(sentences)


def advantage_summary(runs: Mapping[str, AttackRun]) -> str:
    sentences = []
    for name, run in runs.items():
        parts = []
        for baseline in BASELINES:
            seeds, digits = run.advantage("hybrid", baseline), run.advantage_over_digits("hybrid", baseline)
            if math.isnan(seeds.low):
                parts.append(f"{_signed(seeds)} over {baseline} (one repeat, no interval)")
                continue
            if seeds.low > 0:
                beyond = "larger than its seed interval" + (" and than the digit interval" if digits.low > 0 else
                                                           f", but within the digit interval ({_signed(digits)})")
            elif seeds.high < 0:
                beyond = "the baseline is better, beyond the interval"
            else:
                beyond = "within its interval: no advantage shown"
            parts.append(f"{_signed(seeds)} over {baseline} ({beyond})")
        sentences.append(f"{_title(name)}: " + "; ".join(parts) + ".")
    return ("The hybrid's advantage in detection accuracy (same masks and folds, paired). " + " ".join(sentences)
            + " The seed interval holds the model and the digits fixed; the digit interval (bootstrap over source digits) "
            "says how far the advantage could move on other test digits. Model seeds: rerun with another seed "
            "(the headline keys stay the same across seeds).")


def adaptive_summary(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> str:
    reference = adaptive.reference
    ref = runs[reference].evaluations["hybrid"]
    deployed, retuned = adaptive.deployed["hybrid"], adaptive.run.evaluations["hybrid"]
    passed, passed_retuned = adaptive.pass_and_fool(reference), adaptive.pass_and_fool(None)
    clean_through = retuned["tn"] / max(retuned["tn"] + retuned["fp"], 1)
    strictest = min(adaptive.fixed, key=lambda n: end_to_end_success(adaptive.fixed[n]["hybrid"], adaptive.run))
    strict = adaptive.pass_and_fool(strictest)
    text = (
        f"Against non-adaptive {_title(reference)} the hybrid detector is {_pct(ref['accuracy'])} accurate; against the "
        f"adaptive attack with the same thresholds it is {_pct(deployed['accuracy'])}, and {_interval(passed)} of the "
        f"adaptive adversarials both pass it and are misclassified (Carlini and Wagner bypassed this kind of detector "
        f"about {100 * CARLINI_WAGNER_SUCCESS:.0f}% of the time). "
        f"Of all the non-adaptive attacks' thresholds, those tuned on {_title(strictest)} stop the most: {_interval(strict)} "
        f"still pass and fool. Re-tuning H, L and C on the adaptive digits themselves gives "
        f"{_pct(retuned['accuracy'])} detection accuracy (50% is chance on a 50/50 set): {_interval(passed_retuned)} pass "
        f"and fool, while {_pct(clean_through)} of the clean digits are let through. "
    )
    near_chance = abs(retuned["accuracy"] - 0.5) < 0.1
    if near_chance:
        text += ("The adaptive digits are about as certain as clean ones and their crops agree as well, so no choice of "
                 "thresholds separates them: a re-tuned detector stops adaptive digits only by rejecting clean digits "
                 "at nearly the same rate.")
    else:
        text += ("Re-tuned thresholds still separate some adaptive digits from clean ones: the attack leaves a trace "
                 "the detector can learn, at this budget and step count.")
    return text


def convergence_summary(adaptive: AdaptiveResult) -> str:
    c = adaptive.convergence
    gain = c.doubling_gain
    on_plateau = abs(gain) < PLATEAU_POINTS
    text = (
        f"On the first {c.n} adaptive digits: {_pct(c.default_rate)} pass and fool at the default "
        f"({c.steps} steps, {c.eot} masks per step) and {_pct(c.doubled_rate)} with twice both ({2 * c.steps} steps, "
        f"{2 * c.eot} masks), a change of {100 * gain:+.1f} points. "
    )
    if on_plateau:
        text += (f"That is less than {100 * PLATEAU_POINTS:.0f} points: the default sits on the plateau of its convergence "
                 "curve, and more effort would not change the verdict.")
    else:
        text += (f"That is {100 * PLATEAU_POINTS:.0f} points or more: the attack has not converged at the default, and the "
                 "rate above understates what an attacker who knows the detector achieves.")
    return text


def robust_summary(reference: RobustReference, adaptive: AdaptiveResult) -> str:
    r, nat = reference.robust, reference.natural
    deployed = adaptive.pass_and_fool(adaptive.reference)
    low, high = MADRY_PGD_ACCURACY
    return (
        f"Under white-box PGD at eps {r.eps:g} the natural LeNet keeps {_interval(nat.pgd_accuracy)} of the digits; "
        f"adversarially trained ({reference.epochs} epoch(s) of {reference.train_steps}-step PGD from the natural "
        f"weights) it keeps {_interval(r.pgd_accuracy)}, at {_interval(r.clean_accuracy)} clean accuracy "
        f"(Madry et al. report {100 * low:.0f}-{100 * high:.0f}% for a larger network trained far longer). "
        f"An attacker can make {_interval(r.made_wrong)} of the digits wrong against training-based robustness, "
        f"against {_interval(deployed)} of the correctly classified digits behind the detector (passing it and misclassified)."
    )


def closing_note(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult, reference: RobustReference) -> str:
    """The issue's targets at the default preset, each met or not from the measured numbers."""
    lines = ["**Targets of this study's issue, measured in this run**", ""]
    if "bim_a" in runs:
        a = runs["bim_a"].spread("hybrid")
        met = "met" if a.estimate >= TARGET_BIM else "not met"
        lines.append(f"- BIM (the study's variant, BIM-A) detection accuracy at least {_pct(TARGET_BIM)}: {_interval(a)}, {met}.")
    passed = adaptive.pass_and_fool(adaptive.reference)
    c = adaptive.convergence
    met = "met" if passed.estimate >= TARGET_PASS_AND_FOOL else "not met"
    lines.append(f"- Adaptive attack at least {_pct(TARGET_PASS_AND_FOOL)} pass and fool at eps {adaptive.eps:g} "
                 f"({_title(adaptive.reference)} thresholds): {_interval(passed)}, {met}.")
    if c is not None:
        met = "met" if abs(c.doubling_gain) < PLATEAU_POINTS else "not met"
        tried = ", ".join(f"{k} masks: {_pct(v)}" for k, v in c.by_eot.items())
        lines.append(f"- On the plateau (doubling steps and masks moves it by less than {100 * PLATEAU_POINTS:.0f} points): "
                     f"{100 * c.doubling_gain:+.1f} points, {met}. Tried on {c.n} digits at {c.steps} steps: {tried}.")
    retuned = adaptive.pass_and_fool(None)
    lines.append(f"- Against thresholds re-tuned on the adaptive digits: {_interval(retuned)} pass and fool "
                 f"(detection accuracy {_pct(adaptive.run.evaluations['hybrid']['accuracy'])}).")
    lines.append(f"- Robust reference: the PGD-trained LeNet keeps {_interval(reference.robust.pgd_accuracy)} under PGD "
                 f"(Madry et al.: {100 * MADRY_PGD_ACCURACY[0]:.0f}-{100 * MADRY_PGD_ACCURACY[1]:.0f}% for their larger model).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Headline and the detail that goes to metrics.json


def _attack_setting(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if name == "fgsm":
        return {"eps": params["fgsm_eps"]}
    if name == "bim_a":
        return {"eps": params["bim_eps"], "max_steps": params["bim_steps"], "step_size": params["bim_step_size"]}
    if name == "bim_b":
        return {"eps": params["bim_eps"], "steps": params["bim_steps"], "step_size": params["bim_step_size"]}
    if name == "jsma":
        return {"theta": params["jsma_theta"], "gamma": params["jsma_gamma"]}
    return {}


def _bounds(interval: metrics.Interval) -> list[float] | None:
    """An interval's bounds in percent, cut at 0 and 100, for a metric's detail (None when undefined)."""
    if math.isnan(interval.low):
        return None
    return [round(100 * max(0.0, interval.low), 1), round(100 * min(1.0, interval.high), 1)]


def _spread_detail(interval: metrics.Interval, repeats: int) -> dict[str, Any]:
    """The 95% interval of a metric over the repeats, for the metric's detail."""
    bounds = _bounds(interval)
    return {"repeats": repeats} if bounds is None else {"repeats": repeats, "interval_95": bounds}


def headline(trained: Trained, runs: Mapping[str, AttackRun], adaptive: AdaptiveResult, reference: RobustReference,
             params: Mapping[str, Any]) -> list[Metric]:
    """Stable keys at every preset: budgets, steps, set sizes and intervals are the metrics' detail.

    Detection and reclassification accuracies are the means over the repeats (masks and fold splits)."""
    metrics_ = [metric("clean_accuracy", "clean test accuracy (dropout off)", trained.clean_accuracy, unit="%",
                       reference=REFERENCE, digits=trained.test_size)]
    for name, run in runs.items():
        spread = run.spread("hybrid")
        metrics_.append(metric(f"{name}_detection_accuracy", f"{_title(name)}: hybrid detection accuracy", spread.estimate,
                               unit="%", reference=REFERENCE, images=len(run.mixed), **_attack_setting(name, params),
                               **_spread_detail(spread, len(run.repeats))))
    for name, run in runs.items():
        if name not in STUDY_ROW:
            continue
        spread = run.spread("hybrid", "reclassification")
        metrics_.append(metric(f"{name}_reclassification_accuracy", f"{_title(name)}: accuracy on images labeled clean",
                               spread.estimate, unit="%", reference=REFERENCE,
                               images=run.evaluations["hybrid"]["labeled_clean"]["n"], **_attack_setting(name, params),
                               **_spread_detail(spread, len(run.repeats))))
    at = {"eps": adaptive.eps, "steps": adaptive.steps, "eot": adaptive.eot, "images": len(adaptive.run.mixed)}
    deployed, retuned = adaptive.pass_and_fool(adaptive.reference), adaptive.pass_and_fool(None)
    c = adaptive.convergence
    metrics_ += [
        metric("adaptive_pass_and_fool", "adaptive adversarials that pass the detector and are misclassified",
               deployed.estimate, unit="%", reference=REFERENCE, thresholds=adaptive.reference, interval_95=_bounds(deployed),
               doubled_effort_change=round(100 * c.doubling_gain, 1) if c else None, **at),
        metric("adaptive_retuned_pass_and_fool", "adaptive adversarials that pass the re-tuned detector and are misclassified",
               retuned.estimate, unit="%", reference=REFERENCE, interval_95=_bounds(retuned),
               detection_accuracy=round(100 * adaptive.run.evaluations["hybrid"]["accuracy"], 1), **at),
        metric("robust_pgd_accuracy", "PGD-adversarially-trained LeNet: accuracy under PGD", reference.robust.pgd_accuracy.estimate,
               unit="%", reference=REFERENCE, interval_95=_bounds(reference.robust.pgd_accuracy),
               eps=reference.robust.eps, attack_steps=reference.robust.steps,
               restarts=reference.robust.restarts, digits=reference.robust.n, train_epochs=reference.epochs,
               train_steps=reference.train_steps),
    ]
    return metrics_


def details(trained: Trained, runs: Mapping[str, AttackRun], adaptive: AdaptiveResult, reference: RobustReference,
            aucs: Mapping[str, float]) -> dict[str, Any]:
    """What ``metrics.json`` keeps beyond the headline: set sizes, every detector's evaluation and repeats, the
    adaptive attack against every threshold source, its convergence curve, the robust reference, the ROC AUCs."""
    every = {**runs, "adaptive": adaptive.run}
    c = adaptive.convergence
    return {
        "model_from_cache": trained.from_cache,
        "mc_clean_accuracy": trained.mc_accuracy,
        "set_sizes": {name: len(r.mixed) for name, r in every.items()},
        "undefended_accuracy": {name: r.undefended_accuracy for name, r in every.items()},
        "detection": {name: {m: {k: v for k, v in e.items() if k != "method"} for m, e in r.evaluations.items()}
                      for name, r in runs.items()},
        "detection_repeats": {name: r.repeats for name, r in runs.items()},
        "hybrid_advantage": {name: {b: {"repeats": list(r.advantage("hybrid", b)), "digits": list(r.advantage_over_digits("hybrid", b))}
                                    for b in BASELINES} for name, r in runs.items()},
        "adaptive": {"fixed_thresholds": adaptive.fixed, "retuned": adaptive.run.evaluations, "deployed": adaptive.reference},
        "convergence": None if c is None else {"digits": c.n, "by_steps": {str(k): {str(s): v for s, v in curve.items()}
                                                                             for k, curve in c.by_steps.items()},
                                               "by_eot": {str(k): v for k, v in c.by_eot.items()}, "doubling_gain": c.doubling_gain},
        "robust": {"natural": vars(reference.natural), "adversarially_trained": vars(reference.robust),
                   "history": reference.history, "from_cache": reference.from_cache},
        "roc_auc": dict(aucs),
    }
