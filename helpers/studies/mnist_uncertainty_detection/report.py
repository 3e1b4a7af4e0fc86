"""What study 3's results say: the study's three tables with its numbers beside ours (with 95% intervals over
dropout masks and fold splits), both BIM variants, the baselines and the hybrid's advantage over them, the
readable methods beside the fast ones, the adaptive attack and its convergence curve, the robust reference,
prose written from the measured numbers (shown as Markdown), the findings judged on this run's numbers and
the headline."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from helpers import metrics
from helpers.findings import DOES_NOT_HOLD, Outcome, all_of, at_least, at_most, exceeds, percent
from helpers.formatting import format_interval, format_percent
from helpers.headline import Metric, metric
from helpers.tables import show_table

from . import detector
from .reference import (
    ADAPTIVE_BOUND,
    CARLINI_WAGNER_SUCCESS,
    CLEAN_REJECTION_BOUND,
    FINDINGS,
    MADRY_PGD_ACCURACY,
    MISSING,
    REFERENCE,
    REFERENCE_CLEAN_ACCURACY,
    REFERENCE_DETECTION,
    REFERENCE_LABELED_CLEAN,
    REFERENCE_UNDEFENDED,
)
from .study import (
    BASELINES,
    STUDY_ROW,
    TITLES,
    AdaptiveResult,
    AttackAgreement,
    AttackRun,
    CheckScores,
    FastPathAgreement,
    RobustReference,
    Trained,
    end_to_end_success,
    pass_and_fool_interval,
)

LABELED_CLEAN_KEYS = ("clean_correct", "clean_incorrect", "adv_correct", "adv_incorrect", "accuracy")
LABELED_CLEAN_COLUMNS = ["clean, correct", "clean, incorrect", "adv., correct", "adv., incorrect", "reclassification accuracy"]
#: Doubling the adaptive attack's steps and masks moves its rate by less than this: it sits on its plateau.
PLATEAU_POINTS = 0.02


def _title(name: str) -> str:
    return TITLES.get(name, name)


def _pct(value: float | None) -> str:
    return format_percent(value)


def _interval(interval: metrics.Interval) -> str:
    """"95.3% (94.8-95.9)", or the estimate alone when the interval is undefined (one repeat). A rate lies in
    [0, 1], so a t-interval reaching past either end (few repeats, large spread) is shown cut at it."""
    low = max(0.0, interval.low) if math.isfinite(interval.low) else interval.low
    high = min(1.0, interval.high) if math.isfinite(interval.high) else interval.high
    return format_interval((interval.estimate, low, high), scale=100, unit="%")


def _points(interval: metrics.Interval) -> str:
    """A difference of two rates in percentage points, with its interval when it has one."""
    if math.isnan(interval.low):
        return f"{100 * interval.estimate:+.1f} pt"
    return f"{100 * interval.estimate:+.1f} pt ({100 * interval.low:+.1f} to {100 * interval.high:+.1f})"


def _markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


# ---------------------------------------------------------------------------------------------------
# What the notebook shows


def show_training(trained: Trained) -> None:
    how = "loaded from the cache" if trained.from_cache else "trained"
    _markdown(f"The LeNet ({how}) classifies {_pct(trained.clean_accuracy)} of the {trained.test_size:,} test digits "
              f"correctly with dropout off, and {_pct(trained.mc_accuracy)} with the mean of {trained.mc_passes} "
              f"MC-dropout passes (the study: about {100 * REFERENCE_CLEAN_ACCURACY:.0f}%).")


def show_mc_dropout(scores: CheckScores) -> None:
    _markdown(mc_dropout_summary(scores))


def show_crop_vote(scores: CheckScores) -> None:
    show_table(*crop_vote_table(scores))
    _markdown(crop_vote_summary(scores))


def show_fast_path(agreement: FastPathAgreement) -> None:
    show_table(*fast_path_table(agreement))
    _markdown(fast_path_summary(agreement))


def show_margin_agreement(agreement: AttackAgreement) -> None:
    show_table(*margin_agreement_table(agreement))
    _markdown(margin_agreement_summary(agreement))


def show_attacks(runs: Mapping[str, AttackRun]) -> None:
    """How many images each mixed set holds and how often the attack fools the model; the study's Table 1."""
    show_table(*undefended_table(runs))
    _markdown(" ".join(
        f"{_title(name)}: {len(r.mixed):,} images ({r.clean_count:,} clean and as many adversarial); the attack fools "
        f"the undefended model on {_pct(r.attack_success)} of its digits." for name, r in runs.items()))


def show_bim_variants(runs: Mapping[str, AttackRun]) -> None:
    show_table(*bim_variants_table(runs))
    _markdown(bim_variants_summary(runs))


def show_thresholds(runs: Mapping[str, AttackRun]) -> None:
    show_table(*thresholds_table(runs))


def show_detection(runs: Mapping[str, AttackRun]) -> None:
    show_table(*detection_table(runs))
    _markdown(detection_summary(runs))


def show_labeled_clean(runs: Mapping[str, AttackRun]) -> None:
    show_table(*labeled_clean_table(runs))


def show_baselines(runs: Mapping[str, AttackRun]) -> None:
    show_table(*baseline_table(runs))
    show_table(*advantage_table(runs))
    _markdown(advantage_summary(runs))


def show_adaptive(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> None:
    r = adaptive.run
    _markdown(f"The adaptive attack ran on {len(r.mixed):,} images ({r.clean_count:,} clean and as many adversarial) "
              f"with {adaptive.steps} steps, {adaptive.eot} dropout masks per step and eps {adaptive.eps:g}; it fools the "
              f"undefended model on {_pct(r.attack_success)} of its digits.")
    show_table(*adaptive_table(runs, adaptive))
    _markdown(adaptive_summary(runs, adaptive))


def show_convergence(adaptive: AdaptiveResult) -> None:
    show_table(*convergence_steps_table(adaptive))
    show_table(*convergence_eot_table(adaptive))
    _markdown(convergence_summary(adaptive))


def show_robust(reference: RobustReference, adaptive: AdaptiveResult, trained: Trained) -> None:
    show_table(*robust_table(reference, adaptive, trained))
    _markdown(robust_summary(reference, adaptive))


def show_roc(aucs: Mapping[str, float]) -> None:
    show_table([[_title(name), f"{auc:.3f}"] for name, auc in aucs.items()], ["mixed set", "ROC AUC of the uncertainty"])


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
            rows.append([_title(name), baseline, _points(run.advantage("hybrid", baseline)),
                         _points(run.advantage_over_digits("hybrid", baseline)), _verdict(run, baseline)])
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
    rows = []
    for label, e in _deployed_rows(adaptive, runs):
        passed = pass_and_fool_interval(e)
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


def crop_vote_table(scores: CheckScores):
    """How many of the checked test digits have 0..5 crops agreeing with their provisional class."""
    counts = np.bincount(scores.votes, minlength=6)
    rows = [[v, int(counts[v]), counts[v] / len(scores.votes)] for v in range(6)]
    return rows, ["crops agreeing with the provisional class", "test digits", "share"]


def fast_path_table(agreement: FastPathAgreement):
    a = agreement
    return [
        ["provisional class right", a.readable_accuracy, a.fast_accuracy],
        ["mean uncertainty", f"{a.readable_uncertainty:.4f}", f"{a.fast_uncertainty:.4f}"],
        ["same provisional class both ways", a.provisional_agreement, a.provisional_agreement],
        ["same crop votes for the same provisional class", a.votes_equal, a.votes_equal],
    ], ["on the checked test digits", "readable (`mc_dropout`, `crop_vote`)", "fast (the study's)"]


def margin_agreement_table(agreement: AttackAgreement):
    a = agreement
    return [
        ["readable `margin_attack`", a.readable_fooled, a.readable_pass_and_fool, f"{a.readable_distance:.3f}"],
        ["fast (stacked dropout passes)", a.fast_fooled, a.fast_pass_and_fool, f"{a.fast_distance:.3f}"],
    ], ["version", "misclassified (dropout off)", "pass the deployed detector and fool", "largest change of a pixel"]


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


def mc_dropout_summary(scores: CheckScores) -> str:
    right, wrong = scores.uncertainty[scores.correct], scores.uncertainty[~scores.correct]
    text = (f"On the first {len(scores.y):,} test digits the provisional class of {scores.passes} dropout passes is right "
            f"for {_pct(scores.correct.mean())}.")
    if not right.size or not wrong.size:
        return text + " With all of them on one side there is no comparison between right and wrong digits to make."
    relation = "higher" if np.median(wrong) > np.median(right) else "not higher"
    return (text + f" The median uncertainty of the digits it gets right is {np.median(right):.4f}; of the {wrong.size} it "
            f"gets wrong, {np.median(wrong):.4f}: {relation}. The detector relies on the passes disagreeing more where "
            "the model is wrong.")


def crop_vote_summary(scores: CheckScores) -> str:
    all_five = float((scores.votes == 5).mean())
    return (f"{_pct(all_five)} of these test digits keep all five crops in their provisional class. A rule that "
            "requires all five to agree (the study's C = 5, Section 5) would reject the others whenever their uncertainty "
            "falls in the band between L and H; the threshold search below is free to pick a smaller C.")


def fast_path_summary(agreement: FastPathAgreement) -> str:
    a = agreement
    gap = abs(a.readable_accuracy - a.fast_accuracy)
    votes = ("The crop votes agree on every digit, as they must: crop voting has no randomness."
             if a.votes_equal == 1.0 else
             f"The crop votes differ on {_pct(1 - a.votes_equal)} of the digits, which deterministic code should not do.")
    return (f"On {a.n:,} test digits the two versions of MC dropout ({a.passes} passes, other dropout masks) put "
            f"{_pct(a.provisional_agreement)} of the digits in the same class, and their accuracies differ by "
            f"{100 * gap:.1f} points; their mean uncertainties are {a.readable_uncertainty:.4f} and "
            f"{a.fast_uncertainty:.4f}, apart by Monte Carlo noise alone. {votes}")


def margin_agreement_summary(agreement: AttackAgreement) -> str:
    a = agreement
    gap = a.readable_pass_and_fool - a.fast_pass_and_fool
    return (f"On {a.n:,} digits ({a.steps} steps, {a.masks} masks per step) the readable attack gets "
            f"{_pct(a.readable_pass_and_fool)} past the deployed detector and misclassified, the fast one "
            f"{_pct(a.fast_pass_and_fool)} ({100 * gap:+.1f} points). They differ in where the masks come from and in "
            "one detail: each readable pass picks its own wrong class, while the fast attack's passes share the one "
            "that is most likely on average. Both stay inside the budget (largest pixel change "
            f"{a.readable_distance:.3f} and {a.fast_distance:.3f}).")


def bim_variants_summary(runs: Mapping[str, AttackRun]) -> str:
    if not {"bim_a", "bim_b"} <= set(runs):
        return ""
    a, b = runs["bim_a"].spread("hybrid"), runs["bim_b"].spread("hybrid")
    study = REFERENCE_DETECTION["study"]["bim"]["accuracy"]
    closer = "BIM-A" if abs(a.estimate - study) <= abs(b.estimate - study) else "BIM-B"
    fooled_a, fooled_b = runs["bim_a"].attack_success, runs["bim_b"].attack_success
    median = {name: float(np.median(runs[name].scores.uncertainty[runs[name].mixed.is_adversarial])) for name in ("bim_a", "bim_b")}
    text = (f"BIM-A digits are caught {_interval(a)} of the time, BIM-B digits {_interval(b)}; the study reports "
            f"{_pct(study)} for its BIM, and {closer} is the closer. They fool the undefended model on "
            f"{_pct(fooled_a)} and {_pct(fooled_b)} of their digits. ")
    if median["bim_a"] > median["bim_b"]:
        text += ("BIM-A's digits are the more uncertain (median in the table): it leaves them just past the decision "
                 "boundary, where the dropout passes disagree, while BIM-B pushes them further, where the passes agree "
                 "on the wrong class. ")
    else:
        text += ("Here BIM-A's digits are not the more uncertain of the two: at this budget and step count the variants "
                 "do not leave their digits in visibly different places. ")
    return text + ("The study's BIM fooled its model almost always and was caught more often than its FGSM, which is what "
                   "BIM-A is expected to do; BIM-A therefore stands for the study's BIM in Tables 2 and 3, and its "
                   "thresholds are the ones the defender deploys against the adaptive attack below.")


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
                parts.append(f"{_points(seeds)} over {baseline} (one repeat, no interval)")
                continue
            if seeds.low > 0:
                beyond = "larger than its seed interval" + (" and than the digit interval" if digits.low > 0 else
                                                           f", but within the digit interval ({_points(digits)})")
            elif seeds.high < 0:
                beyond = "the baseline is better, beyond the interval"
            else:
                beyond = "within its interval: no advantage shown"
            parts.append(f"{_points(seeds)} over {baseline} ({beyond})")
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


# ---------------------------------------------------------------------------------------------------
# Findings: the study's claims and ours, judged on this run's numbers with Wilson intervals over the images


def _detection_accuracy(run: AttackRun, method: str) -> metrics.Interval:
    e = run.evaluations[method]
    return metrics.wilson_interval(e["tp"] + e["tn"], e["tp"] + e["tn"] + e["fp"] + e["fn"])


def _flag_rates(run: AttackRun, method: str) -> tuple[metrics.Interval, metrics.Interval]:
    """(adversarial digits flagged, clean digits flagged) by ``method``, each with its Wilson interval."""
    e = run.evaluations[method]
    return metrics.wilson_interval(e["tp"], e["tp"] + e["fn"]), metrics.wilson_interval(e["fp"], e["fp"] + e["tn"])


def _pass_and_fool(run: AttackRun) -> metrics.Interval:
    """Adversarial digits of ``run`` that pass the hybrid detector (cross-fitted thresholds) and are misclassified."""
    return pass_and_fool_interval(run.evaluations["hybrid"])


def findings(runs: Mapping[str, AttackRun], adaptive: AdaptiveResult) -> list[Outcome]:
    """Each of ``reference.FINDINGS`` judged on this run: a difference inside its 95% interval is not shown."""
    claims = {f.key: f for f in FINDINGS}
    outcomes = []

    bim = runs["bim_a"]
    hybrid, crops = _detection_accuracy(bim, "hybrid"), _detection_accuracy(bim, "crops only")
    status = exceeds(hybrid, crops)
    outcomes.append(claims["hybrid_beats_crops_on_bim"].judge(
        status, f"BIM-A, {len(bim.mixed):,} images: detection accuracy {percent(hybrid)} hybrid, {percent(crops)} crops only",
        measured=f"crops only {percent(crops)}, hybrid {percent(hybrid)}" if status == DOES_NOT_HOLD else ""))

    fgsm = runs["fgsm"]
    flagged, clean_flagged = _flag_rates(fgsm, "uncertainty only")
    status = all_of(at_least(flagged, 0.5), exceeds(flagged, clean_flagged))
    outcomes.append(claims["uncertainty_flags_fgsm"].judge(
        status, f"uncertainty alone flags {percent(flagged)} of {fgsm.clean_count:,} FGSM digits and "
                f"{percent(clean_flagged)} of as many clean ones",
        measured=f"{percent(flagged)} of FGSM digits flagged, {percent(clean_flagged)} of clean ones"
        if status == DOES_NOT_HOLD else ""))

    rejected = {name: _flag_rates(runs[name], "hybrid")[1] for name in STUDY_ROW if name in runs}
    status = all_of(*(at_most(rate, CLEAN_REJECTION_BOUND) for rate in rejected.values()))
    listed = ", ".join(f"{_title(name)} {percent(rate)}" for name, rate in rejected.items())
    outcomes.append(claims["few_clean_rejected"].judge(
        status, f"clean digits rejected by the hybrid: {listed}",
        measured=listed if status == DOES_NOT_HOLD else ""))

    passed, non_adaptive = adaptive.pass_and_fool(adaptive.reference), _pass_and_fool(runs[adaptive.reference])
    status = all_of(at_least(passed, ADAPTIVE_BOUND), exceeds(passed, non_adaptive))
    outcomes.append(claims["falls_to_adaptive_attack"].judge(
        status, f"pass and fool, {_title(adaptive.reference)} thresholds: adaptive attack {percent(passed)} of "
                f"{adaptive.run.clean_count:,} digits, {_title(adaptive.reference)} itself {percent(non_adaptive)}",
        measured=f"{percent(passed)} of the adaptive digits pass and fool" if status == DOES_NOT_HOLD else ""))
    return outcomes


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
