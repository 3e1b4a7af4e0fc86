"""What the quickstart's results say: tables, prose written from the measured numbers, the findings and the headline.

Accuracies are fractions of the attacked digits; every one that is compared with another carries its 95% Wilson
interval (``helpers.metrics.wilson_interval``), and a difference inside the intervals is reported as not shown.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from helpers import attacks
from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN, Outcome, all_of, at_most, exceeds, percent
from helpers.formatting import format_number, format_percent
from helpers.headline import Metric, metric
from helpers.metrics import Interval, wilson_interval
from helpers.tables import markdown_table

from .reference import FINDINGS, REFERENCE
from .study import Agreement, AttackSet, DefenseRow, SweepResult, Trained

# PGD counts as "at least as strong" as FGSM at a budget when its accuracy is not above FGSM's by more than this,
# intervals included (a non-inferiority margin: two accuracies that tie exactly are only "at least as strong" when
# their intervals are narrower than the margin, as near 0% on many digits).
NON_INFERIORITY_MARGIN = 0.02
# "Almost no correct answers" under PGD at eps 0.3.
NEAR_ZERO = 0.05
BREAKING_BUDGET = 0.3


def _show(markdown: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def wilson(fraction: float, size: int) -> Interval:
    """An accuracy measured on ``size`` digits, with its 95% Wilson interval."""
    return wilson_interval(int(round(fraction * size)), size)


# ---------------------------------------------------------------------------------------------------
# Tables and prose


def training_text(trained: Trained) -> str:
    how = "was loaded from the cache (these settings were trained before)" if trained.from_cache else "was trained now"
    return (f"The CNN {how}. Its accuracy on the {trained.test_size:,} held-out test digits is "
            f"**{format_percent(trained.clean_accuracy, 2)}**.")


def show_training(trained: Trained) -> None:
    _show(training_text(trained))


def attack_rows(sweep: SweepResult) -> list[list[str]]:
    return [[f"{eps:g}"] + [percent(wilson(sweep.accuracy[name][eps], sweep.size)) for name in sweep.accuracy]
            for eps in sweep.epsilons]


def show_attacks(sweep: SweepResult, target: AttackSet) -> None:
    """Accuracy per attack and budget (with 95% intervals), then what it shows."""
    columns = ["epsilon"] + [f"{attacks.attack_title(name)} accuracy" for name in sweep.accuracy]
    _show(markdown_table(attack_rows(sweep), columns, percent=False) + "\n\n" + sweep_summary(sweep, target.clean_accuracy))


def sweep_summary(sweep: SweepResult, clean_accuracy: float) -> str:
    """What the sweep shows, written from the measured numbers."""
    sentences = [f"On these {sweep.size:,} digits the model is {format_percent(clean_accuracy)} accurate without an attack."]
    for name, curve in sweep.accuracy.items():
        budgets = sorted(curve)
        low, high = budgets[0], budgets[-1]
        sentences.append(
            f"{attacks.attack_title(name)} leaves {format_percent(curve[low])} correct at eps {low:g}"
            + (f" and {format_percent(curve[high])} at eps {high:g}." if high != low else ".")
        )
    if {"fgsm", "pgd"} <= set(sweep.accuracy):
        stronger = [e for e in sweep.epsilons if exceeds(wilson(sweep.accuracy["fgsm"][e], sweep.size),
                                                         wilson(sweep.accuracy["pgd"][e], sweep.size)) == HOLDS]
        if stronger:
            sentences.append(
                "PGD is clearly stronger than FGSM (the intervals do not overlap) at eps "
                + ", ".join(f"{e:g}" for e in stronger) + ": iterating small projected steps finds perturbations "
                "that one large step misses.")
        else:
            sentences.append("At no budget do the intervals separate PGD from FGSM on this many digits.")
    return " ".join(sentences)


def agreement_rows(rows: Sequence[Agreement]) -> list[list[str]]:
    def accuracy(value: float | None, size: int) -> str:
        return "-" if value is None else percent(wilson(value, size))

    return [[r.method, f"`{r.readable}`", f"`{r.art}`", accuracy(r.readable_accuracy, r.size),
             accuracy(r.art_accuracy, r.size), format_number(r.max_difference),
             "-" if r.same_prediction is None else format_percent(r.same_prediction)] for r in rows]


def show_agreement(rows: Sequence[Agreement]) -> None:
    """The readable functions beside ART's path on the same digits, then what the comparison shows."""
    columns = ["method", "readable", "ART", "accuracy, readable", "accuracy, ART", "largest difference",
               "same prediction"]
    _show(markdown_table(agreement_rows(rows), columns, percent=False) + "\n\n" + agreement_summary(rows))


def agreement_summary(rows: Sequence[Agreement]) -> str:
    """One sentence per compared method, from the numbers."""
    sentences = []
    for r in rows:
        if r.readable_accuracy is None:
            how = ("are identical" if r.max_difference == 0 else
                   f"differ by at most {format_number(r.max_difference)} of the largest gradient entry")
            sentences.append(f"{r.method}: the two gradients {how}, so ART's pre-processor passes the gradient "
                             "straight through, as `bpda` does.")
            continue
        same = within_one_point(r)
        if r.same_random_start:
            outputs = ("the two outputs are identical" if r.max_difference == 0 else
                       f"the largest pixel difference between the two outputs is {format_number(r.max_difference)}")
            sentences.append(
                f"{r.method} on {r.size} digits: {outputs}, the model answers the same on "
                f"{format_percent(r.same_prediction)} of them, and the accuracies ({format_percent(r.readable_accuracy)} "
                f"and {format_percent(r.art_accuracy)}) "
                + ("are within one point of each other." if same else "differ by more than one point."))
        else:
            overlap = exceeds(wilson(r.readable_accuracy, r.size), wilson(r.art_accuracy, r.size)) != HOLDS and \
                exceeds(wilson(r.art_accuracy, r.size), wilson(r.readable_accuracy, r.size)) != HOLDS
            sentences.append(
                f"{r.method}: ART's NumPy PGD draws its own random start, so the digits differ; the accuracies "
                f"({percent(wilson(r.readable_accuracy, r.size))} and {percent(wilson(r.art_accuracy, r.size))}) "
                + ("agree within their intervals." if overlap else "are separated by their intervals."))
    return " ".join(sentences)


def within_one_point(row: Agreement) -> bool:
    """Whether the readable and ART accuracies of ``row`` lie within one percentage point."""
    return abs(row.readable_accuracy - row.art_accuracy) <= 0.01 + 1e-12


def defense_rows(rows: Sequence[DefenseRow]) -> list[list[str]]:
    return [[f"{r.epsilon:g}", percent(wilson(r.undefended, r.size)), percent(wilson(r.transfer, r.size)),
             "-" if r.adaptive is None else percent(wilson(r.adaptive, r.size))] for r in rows]


def show_defense(rows: Sequence[DefenseRow], bit_depth: int) -> None:
    columns = ["epsilon", "undefended, PGD", f"squeezed ({bit_depth} bit), transferred PGD",
               f"squeezed ({bit_depth} bit), adaptive PGD (BPDA)"]
    _show(markdown_table(defense_rows(rows), columns, percent=False) + "\n\n" + defense_summary(rows, bit_depth))


def defense_summary(rows: Sequence[DefenseRow], bit_depth: int) -> str:
    """What the defense table shows, from its numbers: does squeezing help, and does the adaptive attack find more?"""
    clean = rows[0]
    text = (f"On clean digits the squeezed model is {format_percent(clean.transfer)} accurate "
            f"(undefended {format_percent(clean.undefended)}). ")
    attacked = [r for r in rows if r.adaptive is not None]
    if not attacked:
        return text + "No budget was attacked."
    last = attacked[-1]
    undefended, transfer, adaptive = (wilson(v, last.size) for v in (last.undefended, last.transfer, last.adaptive))
    text += (f"At eps {last.epsilon:g} the undefended model keeps {percent(undefended)} under PGD; with the squeezer in front "
             f"it keeps {percent(transfer)} of the transferred digits and {percent(adaptive)} when PGD attacks through the "
             "squeezer. ")
    threshold = threshold_text(bit_depth)
    helps = exceeds(transfer, undefended) == HOLDS
    adaptive_lower = exceeds(transfer, adaptive) == HOLDS
    if not helps:
        return text + threshold + (
            "Here squeezing does not clearly help even against the digits made without it: when the budget exceeds half the "
            "level spacing, a perturbed background pixel rounds up to the next level, and the squeezer can enlarge "
            "the perturbation instead of removing it.")
    if adaptive_lower:
        return text + (
            "The transferred number overstates the defense: the adaptive attack, the one a deployed defense would "
            "face, finds errors the transferred digits miss, and it is the number to report.")
    return text + threshold + (
        "The adaptive attack finds no more than the transferred digits do (the difference lies inside the intervals). "
        "On near-binary MNIST digits few pixels lie close enough to a threshold to cross it within this budget, so "
        "the squeezer leaves the attacker little to work with, whichever way the attack is aimed. That is a property "
        "of these digits and this budget, not a general guarantee: the exercises below change both.")


def threshold_text(bit_depth: int) -> str:
    """How far a pixel must move to change after squeezing to ``bit_depth`` bits (from the parameter, not measured)."""
    if bit_depth == 1:
        return ("With one bit a pixel becomes 0 or 1, so it changes after squeezing only if it crosses 0.5: a pixel at "
                "0 or 1 would need a budget above 0.5. ")
    spacing = 1 / (2 ** bit_depth - 1)
    return (f"With {bit_depth} bits the levels lie {spacing:.3g} apart, so a pixel sitting on a level changes after "
            f"squeezing as soon as it moves by more than {spacing / 2:.3g}. ")


# ---------------------------------------------------------------------------------------------------
# Findings and headline


def _finding(key: str):
    return next(f for f in FINDINGS if f.key == key)


def findings(sweep: SweepResult, defense: Sequence[DefenseRow], params: Mapping[str, Any]) -> list[Outcome]:
    """Each claim of ``reference.FINDINGS`` judged on this run's accuracies, with 95% Wilson intervals."""
    return [
        pgd_at_least_as_strong_as_fgsm(sweep),
        pgd_breaks_an_undefended_mnist_cnn(sweep),
        squeezing_looks_robust_to_transfer(defense),
        squeezing_falls_to_bpda(defense),
    ]


def pgd_at_least_as_strong_as_fgsm(sweep: SweepResult) -> Outcome:
    """At every budget, PGD's accuracy is not above FGSM's by more than ``NON_INFERIORITY_MARGIN`` (intervals
    included); it fails where PGD's accuracy is above FGSM's by more than that beyond the intervals."""
    finding = _finding("pgd_at_least_as_strong_as_fgsm")
    per_budget, parts, weaker = [], [], []
    for eps in sweep.epsilons:
        pgd, fgsm = wilson(sweep.accuracy["pgd"][eps], sweep.size), wilson(sweep.accuracy["fgsm"][eps], sweep.size)
        status = exceeds(fgsm, pgd, by=-NON_INFERIORITY_MARGIN)
        per_budget.append(status)
        parts.append(f"eps {eps:g}: PGD {percent(pgd)}, FGSM {percent(fgsm)}")
        if status == DOES_NOT_HOLD:
            weaker.append(f"{eps:g}")
    evidence = f"{sweep.size} digits; " + "; ".join(parts)
    measured = f"PGD left more digits correct than FGSM at eps {', '.join(weaker)}" if weaker else ""
    return finding.judge(all_of(*per_budget), evidence, measured=measured)


def pgd_breaks_an_undefended_mnist_cnn(sweep: SweepResult) -> Outcome:
    finding = _finding("pgd_breaks_an_undefended_mnist_cnn")
    budget = next((e for e in sweep.epsilons if abs(e - BREAKING_BUDGET) < 1e-9), None)
    if budget is None:
        budgets = ", ".join(f"{e:g}" for e in sweep.epsilons)
        return finding.judge(NOT_SHOWN, f"this run attacked no digit at eps {BREAKING_BUDGET:g} (budgets: {budgets})")
    pgd = wilson(sweep.accuracy["pgd"][budget], sweep.size)
    status = at_most(pgd, NEAR_ZERO)
    measured = f"PGD left {percent(pgd)} correct at eps {budget:g}" if status == DOES_NOT_HOLD else ""
    return finding.judge(status, f"{sweep.size} digits; PGD accuracy at eps {budget:g}: {percent(pgd)}", measured=measured)


def _largest_budget(defense: Sequence[DefenseRow]) -> DefenseRow | None:
    attacked = [r for r in defense if r.adaptive is not None]
    return max(attacked, key=lambda r: r.epsilon) if attacked else None


def squeezing_looks_robust_to_transfer(defense: Sequence[DefenseRow]) -> Outcome:
    finding = _finding("squeezing_looks_robust_to_transfer")
    row = _largest_budget(defense)
    if row is None:
        return finding.judge(NOT_SHOWN, "no budget was attacked")
    transfer, undefended = wilson(row.transfer, row.size), wilson(row.undefended, row.size)
    status = exceeds(transfer, undefended)
    measured = (f"the squeezed model kept {percent(transfer)} of the transferred digits, the undefended model "
                f"{percent(undefended)}" if status == DOES_NOT_HOLD else "")
    evidence = (f"{row.size} digits at eps {row.epsilon:g}: squeezed, transferred PGD {percent(transfer)}; "
                f"undefended, PGD {percent(undefended)}")
    return finding.judge(status, evidence, measured=measured)


def squeezing_falls_to_bpda(defense: Sequence[DefenseRow]) -> Outcome:
    finding = _finding("squeezing_falls_to_bpda")
    row = _largest_budget(defense)
    if row is None:
        return finding.judge(NOT_SHOWN, "no budget was attacked")
    transfer, adaptive = wilson(row.transfer, row.size), wilson(row.adaptive, row.size)
    status = exceeds(transfer, adaptive)
    measured = (f"the adaptive attack left {percent(adaptive)} correct, the transferred digits {percent(transfer)}"
                if status == DOES_NOT_HOLD else "")
    evidence = (f"{row.size} digits at eps {row.epsilon:g}: squeezed, transferred PGD {percent(transfer)}; "
                f"squeezed, adaptive PGD {percent(adaptive)}")
    return finding.judge(status, evidence, measured=measured)


def headline(trained: Trained, sweep: SweepResult, defense: Sequence[DefenseRow], params: Mapping[str, Any]) -> list[Metric]:
    """Stable keys at every preset: the budget and steps are the metrics' detail."""
    eps = max(sweep.epsilons)
    last = _largest_budget(defense)
    at = {"eps": eps}
    return [
        metric("clean_accuracy", "clean accuracy", trained.clean_accuracy, unit="%", reference=REFERENCE, digits=trained.test_size),
        metric("fgsm_accuracy", "FGSM accuracy", sweep.accuracy["fgsm"][eps], unit="%", reference=REFERENCE, **at),
        metric("pgd_accuracy", "PGD accuracy", sweep.accuracy["pgd"][eps], unit="%", reference=REFERENCE,
               steps=params["pgd_steps"], **at),
        metric("squeezed_transfer_accuracy", "feature squeezing, transferred PGD", last.transfer, unit="%",
               reference=REFERENCE, bits=params["squeeze_bit_depth"], **at),
        metric("squeezed_adaptive_accuracy", "feature squeezing, adaptive (BPDA) PGD", last.adaptive,
               unit="%", reference=REFERENCE, bits=params["squeeze_bit_depth"], **at),
        metric("model_from_cache", "model loaded from cache", trained.from_cache),
    ]
