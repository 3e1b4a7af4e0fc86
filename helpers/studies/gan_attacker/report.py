"""What study 4's results say: tables, prose written from the measured numbers, the findings and the headline.

The study's own values are approximate statements from its text (``reference.py``); they stand beside
ours in the final table and, where they are numbers, in the headline, at the intensity the study states
them for. Every learned-attacker number against a white-box target stands between its two ceilings
(``ceilings.py``, ``universal.py``): the universal perturbation and converged PGD, measured on the same digits.
Where an attacker was trained with several attacker seeds, its number is the mean over seeds with the lowest
and highest seed beside it (tables, prose, headline), and the findings judge the mean's 95% interval over seeds.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from helpers import findings as checks
from helpers.findings import Outcome
from helpers.formatting import format_interval, format_percent
from helpers.headline import Metric, metric
from helpers.metrics import Interval, mean_interval, wilson_interval
from helpers.tables import show_table

from .ceilings import CONVERGED_POINTS, MAX_DOUBLINGS
from .comparison import PER, SpeedComparison
from .reference import FINDINGS, NEAR_CHANCE_INTENSITIES, REFERENCE, REFERENCE_INTENSITY, study_c1_percent, study_reference
from .study import ArchitectureComparison, Ceiling, Ensemble, PerturbationStats, Robust
from .training import SeededRuns

SEEDS_NOTE = "mean over attacker seeds (lowest-highest seed)"
FINAL_COLUMNS = ["t", "mode", "attacker seeds", "C1 clean", "universal (ceiling)", f"C1 under A, {SEEDS_NOTE}",
                 "converged PGD (ceiling)", "C1 under A, study", "C2 clean", f"C2 under A (transfer), {SEEDS_NOTE}", "C2 under A, study"]
PGD_LADDER_COLUMNS = [f"PGD-{{{k}}}" for k in range(MAX_DOUBLINGS + 1)]  # PGD-S, PGD-2S, ...: one per doubling
CEILING_COLUMNS = ["target", "t", "clean", "universal", f"learned attacker A, {SEEDS_NOTE}", *PGD_LADDER_COLUMNS, "PGD converged",
                   "C2: universal", "C2: A", "C2: PGD"]
CLASSIFIER_COLUMNS = ["classifier", "clean training", "from cache", "clean test accuracy"]
ARCHITECTURE_COLUMNS = ["A's architecture", "weights", "C1 under A", "C2 under A (transfer)", "spread of A(x) across digits (share of t)",
                        "training digits/s"]
ARCHITECTURE_NAMES = {"study": "the study's encoder-decoder", "skip": "with skip connections (U-Net)"}
FULL_PRESET_ADDS = {
    "architectures": "the study's architecture trained beside this run's A",
    "ensemble": "an attacker trained against several classifiers and tested on the unseen C2",
    "robust": "an attacker against a PGD-trained C1",
}


def _say(text: str) -> None:
    """Prose written from measured numbers, shown as Markdown."""
    from IPython.display import Markdown, display

    if text:
        display(Markdown(text))




def seeds_text(values: Sequence[float]) -> str:
    """Accuracies over attacker seeds for prose: ``30.2% (seeds 17.8-43.8%)``, or one value alone."""
    if len(values) == 1:
        return format_percent(values[0])
    return f"{format_percent(sum(values) / len(values))} (seeds {100 * min(values):.1f}-{100 * max(values):.1f}%)"


def seeds_cell(values: Sequence[float] | None) -> str:
    """Accuracies over attacker seeds for a table cell: ``30.2% (17.8-43.8)``; one seed: ``30.2%``; none: ``-``."""
    if not values:
        return "-"
    if len(values) == 1:
        return format_percent(values[0])
    return format_interval(Interval(sum(values) / len(values), min(values), max(values)), scale=100, unit="%")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def seed_interval(values: Sequence[float]) -> Interval:
    """The mean of accuracies over attacker seeds with its 95% Student-t interval, kept inside [0, 1]."""
    estimate, low, high = mean_interval(values)
    if low != low:  # one seed: no interval
        return Interval(estimate, estimate, estimate)
    return Interval(estimate, max(0.0, low), min(1.0, high))


def ceiling_interval(accuracy: float, digits: int) -> Interval:
    """A single-run accuracy on ``digits`` digits with its 95% Wilson interval (the digits are a sample)."""
    return wilson_interval(round(accuracy * digits), digits) if digits > 0 else Interval(accuracy, accuracy, accuracy)


def _interval_text(value: Interval, what: str) -> str:
    return f"{format_interval(value, scale=100, unit='%')} ({what})"


def _by_mode(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns]) -> dict[str, Mapping[float, SeededRuns]]:
    """The modes that ran, in the study's order."""
    return {mode: runs for mode, runs in (("consecutive", consecutive), ("alternating", alternating)) if runs}


def _not_run(mode: str) -> str:
    return f"The {mode} mode is not in this run's `modes`: nothing was trained, and its numbers are left out below."


def _find(ceilings: Sequence[Ceiling], target: str, t: float) -> Ceiling | None:
    return next((c for c in ceilings if c.target == target and c.intensity == t), None)


def _not_in_extras(section: str) -> str:
    return (f"This section is not in this run's `extras`, so {FULL_PRESET_ADDS[section]} was not trained here; the full preset "
            f"runs it (add `\"{section}\"` to `extras` to run it at this preset).")


# Tables and prose, in the order of the notebook


def show_classifiers(rows: list[tuple]) -> None:
    """The clean-trained classifiers (``study.classifier_rows``): epochs, cache, clean test accuracy."""
    show_table([[name.upper(), f"{epochs} epochs", cached, accuracy] for name, epochs, cached, accuracy in rows], CLASSIFIER_COLUMNS)


def show_mode(mode: str, runs: Mapping[float, SeededRuns]) -> None:
    _say(mode_summary(runs) if runs else _not_run(mode))


def show_perturbations(stats: list[PerturbationStats]) -> None:
    _say(perturbation_summary(stats) if stats else "No consecutive-mode attacker was trained, so there is no perturbation to measure.")


def show_modes_compared(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns]) -> None:
    _say(modes_summary(consecutive, alternating) if consecutive and alternating else "Both modes must be in this run's `modes` to compare them.")


def show_ceilings(ceilings: list[Ceiling], pgd_steps: int) -> None:
    """Per target and intensity: universal, the learned attacker and PGD (S, 2S and, where 2S still moved it, 4S
    steps) on the same digits."""
    if not ceilings:
        _say("No attacker was trained in this mode, so there are no ceilings to set it between.")
        return
    show_table([_ceiling_row(c) for c in ceilings], ceiling_columns(pgd_steps))
    _say(ceilings_summary(ceilings))


def ceiling_columns(pgd_steps: int) -> list[str]:
    """The ceilings table's columns, with the PGD runs' step counts (S, 2S, 4S) in their names."""
    return [c.format(*(pgd_steps * 2 ** k for k in range(MAX_DOUBLINGS + 1))) for c in CEILING_COLUMNS]


def _ceiling_row(c: Ceiling) -> list:
    c2 = "c2" in c.pgd.transfer
    ladder = [c.pgd.accuracy_at(c.pgd.steps * 2 ** k) for k in range(MAX_DOUBLINGS + 1)]  # None: that run was not needed
    return [c.target.upper() if c.target == "c1" else c.target, f"{c.intensity:g}", c.clean, c.universal.accuracy,
            seeds_cell(c.attacker.get(c.target)), *("-" if a is None else a for a in ladder), "yes" if c.pgd.converged else "no",
            c.universal.transfer["c2"] if c2 else "-", seeds_cell(c.attacker.get("c2")), c.pgd.transfer["c2"] if c2 else "-"]


def show_final(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns], ceilings: list[Ceiling]) -> None:
    show_table(final_rows(_by_mode(consecutive, alternating), ceilings), FINAL_COLUMNS)
    _say(study_position_summary(ceilings))


def show_architectures(comparison: ArchitectureComparison | None, ceilings: list[Ceiling]) -> None:
    """Both architectures of A trained the same way at one intensity, beside the universal perturbation."""
    if comparison is None:
        _say(_not_in_extras("architectures"))
        return
    rows = []
    for name, run in comparison.runs.items():
        weights = sum(p.numel() for p in run.attacker.parameters())
        rows.append([ARCHITECTURE_NAMES[name] + (" (this run's A)" if name == comparison.chosen else ""), f"{weights / 1e6:.2f} M",
                     run.final("c1_attacked_accuracy"), run.final("c2_attacked_accuracy"), f"{comparison.spread[name]:.2f}",
                     f"{run.digits_per_second:.0f}"])
    show_table(rows, ARCHITECTURE_COLUMNS)
    _say(architecture_summary(comparison, ceilings))


def architecture_summary(comparison: ArchitectureComparison, ceilings: list[Ceiling]) -> str:
    t = comparison.intensity
    study, skip = (comparison.runs[name].final("c1_attacked_accuracy") for name in ("study", "skip"))
    c = _find(ceilings, "c1", t)
    clean = comparison.runs["study"].final("c1_clean_accuracy")
    seed = comparison.runs[comparison.chosen].seed
    text = (f"At t={t:g}, trained on the same digits with the same attacker seed ({seed}) and recipe, the study's encoder-decoder "
            f"left C1 at {format_percent(study)} and the one with skip connections at {format_percent(skip)} (clean {format_percent(clean)}): "
            + (f"the skip connections take {100 * (study - skip):.1f} more points off C1." if skip < study
               else f"the skip connections did not help this time ({100 * (skip - study):.1f} points worse)."))
    text += " One attacker seed each: the spread over seeds in the ceilings table is the yardstick for this gap."
    if c is not None:
        universal = c.universal.accuracy
        near = abs(study - universal) <= 0.05
        text += (f" One universal perturbation, the same pattern for every digit, leaves C1 at {format_percent(universal)}: the study's "
                 f"architecture does {'about as well as' if near else ('better than' if study < universal else 'worse than')} "
                 f"that input-independent pattern")
        text += (f", and its perturbation varies {comparison.spread['study']:.2f} t across digits against "
                 f"{comparison.spread['skip']:.2f} t with skip connections.")
    return text


def show_robust(robust: Robust | None) -> None:
    if robust is None:
        _say(_not_in_extras("robust"))
        return
    rows = [[name, c.clean, c.universal.accuracy, seeds_cell(c.attacker.get(c.target)), c.pgd.best]
            for name, c in (("C1 (clean training)", robust.standard), (f"robust C1 (PGD training, {robust.epochs} epochs)", robust.ceiling))
            if c is not None]
    show_table(rows, ["classifier", "clean", "universal", f"learned attacker A, {SEEDS_NOTE}", "converged PGD"])
    _say(robust_summary(robust))


def show_speed(speed: SpeedComparison | None, runs: Mapping[str, Mapping[float, SeededRuns]]) -> None:
    rows = [[mode, f"{t:g}", len(seeded.runs), seeded.digits, f"{seeded.train_seconds:.1f}",
             f"{seeded.digits / seeded.train_seconds:.0f}" if seeded.train_seconds > 0 else "-"]
            for mode, by_t in runs.items() for t, seeded in sorted(by_t.items())]
    show_table(rows, ["attacker", "t", "attacker seeds", "training digits (all epochs and seeds)", "training seconds", "digits per second"])
    _say(speed_summary(speed, runs))


def show_ensemble(ensemble: Ensemble | None) -> None:
    if ensemble is None:
        _say(_not_in_extras("ensemble"))
        return
    show_table(
        [[r["network"], r["role"], r["clean"], r["single"], r["ensemble"]] for r in ensemble.rows],
        ["network", "role", "clean", "attacker trained on C1 only", f"attacker trained on {ensemble.size} classifiers"],
    )
    _say(ensemble_summary(ensemble.rows, ensemble.intensity, ensemble.size))


def runs_by_mode(consecutive, alternating, robust: Robust | None = None, ensemble: Ensemble | None = None,
                 architectures: ArchitectureComparison | None = None) -> dict[str, dict[float, SeededRuns]]:
    """Every attacker trained in this run, by mode, for the throughput table."""
    found = dict(_by_mode(consecutive, alternating))
    if architectures is not None:
        other = next(name for name in architectures.runs if name != architectures.chosen)
        found[f"consecutive, {ARCHITECTURE_NAMES[other]}"] = {architectures.intensity: SeededRuns("consecutive", architectures.intensity,
                                                                                                  [architectures.runs[other]])}
    if robust is not None:
        found["against the robust C1"] = {robust.intensity: SeededRuns("robust", robust.intensity, [robust.run])}
    if ensemble is not None:
        found["ensemble"] = {ensemble.intensity: SeededRuns("ensemble", ensemble.intensity, [ensemble.ensemble])}
    return found


def final_rows(runs_by_mode: Mapping[str, Mapping[float, SeededRuns]], ceilings: Sequence[Ceiling]) -> list[list]:
    """The final table: per intensity and mode, C1's clean accuracy, the universal perturbation, the learned
    attacker (over its seeds) and converged PGD against that C1 (on the attack digits, where the ceilings were
    measured), C2's clean and transferred accuracy, and the study's approximate values beside ours.

    In the alternating mode each seed trains its own C1; the ceilings are measured against the first seed's."""
    rows = []
    intensities = sorted({t for runs in runs_by_mode.values() for t in runs})
    for t in intensities:
        for mode, runs in runs_by_mode.items():
            if t not in runs:
                continue
            seeded = runs[t]
            study_c1, study_c2 = study_reference(mode, t)
            c = _find(ceilings, "c1", t) if mode == "consecutive" else None
            if c is not None:
                rows.append([f"{t:g}", mode, len(seeded.runs), c.clean, c.universal.accuracy, seeds_cell(c.attacker.get("c1")), c.pgd.best,
                             study_c1, c.clean_others.get("c2", seeded.first.final("c2_clean_accuracy")), seeds_cell(c.attacker.get("c2")),
                             study_c2])
                continue
            own = _find(ceilings, "alternating c1", t)
            rows.append([f"{t:g}", mode, len(seeded.runs), seeds_cell(seeded.finals("c1_clean_accuracy")),
                         own.universal.accuracy if own else "-", seeds_cell(seeded.finals("c1_attacked_accuracy")),
                         own.pgd.best if own else "-", study_c1, seeds_cell(seeded.finals("c2_clean_accuracy")),
                         seeds_cell(seeded.finals("c2_attacked_accuracy")), study_c2])
    return rows


def mode_summary(runs: Mapping[float, SeededRuns]) -> str:
    """What the per-epoch curves show, from the numbers: per intensity the drop on C1 and the transfer to C2."""
    sentences = []
    for t, seeded in sorted(runs.items()):
        first = seeded.first.history[0]
        c1, c2 = seeded.finals("c1_attacked_accuracy"), seeded.finals("c2_attacked_accuracy")
        c1_clean, c2_clean = _mean(seeded.finals("c1_clean_accuracy")), _mean(seeded.finals("c2_clean_accuracy"))
        seeds = len(seeded.runs)
        sentences.append(
            f"- t={t:g} ({seeds} attacker seed{'s' if seeds > 1 else ''}): C1 {format_percent(c1_clean)} clean, {seeds_text(c1)} attacked "
            f"(untrained A: {format_percent(first['c1_attacked_accuracy'])}); C2 {format_percent(c2_clean)} clean, {seeds_text(c2)} attacked; "
            f"transfer keeps {_transfer_share(c1_clean - _mean(c1), c2_clean - _mean(c2))} of C1's drop."
        )
    return "\n".join(sentences)


def _transfer_share(drop_c1: float, drop_c2: float) -> str:
    if drop_c1 <= 0.01:
        return "none (A does not hurt C1)"
    return f"{100 * max(drop_c2, 0.0) / drop_c1:.0f}%"


def perturbation_summary(stats: list[PerturbationStats]) -> str:
    """How much A's perturbation depends on its input, per intensity, as a share of t (mean over seeds)."""
    lines = []
    for s in stats:
        size, spread = _mean(s.mean_size), _mean(s.spread)
        lines.append(f"- t={s.intensity:g}: mean |A(x)| is {100 * size:.0f}% of t; across digits each pixel varies by "
                     f"{100 * spread:.0f}% of t ({'nearly one universal pattern' if spread < 0.1 else 'the perturbation depends on the digit'})"
                     + (f", seeds {100 * min(s.spread):.0f}-{100 * max(s.spread):.0f}%." if len(s.spread) > 1 else "."))
    return "\n".join(lines)


def modes_summary(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns]) -> str:
    """Consecutive against alternating at each shared intensity: which one leaves C1 more accurate under attack,
    judged on the two means' 95% intervals over attacker seeds."""
    sentences = []
    for t in sorted(set(consecutive) & set(alternating)):
        c, a = consecutive[t].finals("c1_attacked_accuracy"), alternating[t].finals("c1_attacked_accuracy")
        status = checks.exceeds(seed_interval(a), seed_interval(c))
        verdict = {checks.HOLDS: "more robust against its own attacker than the frozen C1 against its",
                   checks.DOES_NOT_HOLD: "not more robust against its own attacker than the frozen C1 against its",
                   checks.NOT_SHOWN: "not separated from the frozen C1 by the spread over attacker seeds"}[status]
        sentences.append(f"- t={t:g}: C1 under attack {seeds_text(c)} after consecutive training, {seeds_text(a)} after alternating "
                         f"training: the alternately trained C1 is {verdict}.")
    return "\n".join(sentences)


def position(c: Ceiling) -> float | None:
    """Where A (mean over seeds) lies from the universal ceiling (0) to converged PGD (1), on the accuracy scale."""
    values, u, p = c.attacker.get(c.target), c.universal.accuracy, c.pgd.best
    if not values or u - p < 0.02:
        return None
    return (u - _mean(values)) / (u - p)


def _convergence(c: Ceiling) -> str:
    moved = c.pgd.moved_points
    if c.pgd.converged:
        return f"converged: doubling the steps to {c.pgd.longest_steps} moved it {moved:.1f} points (< {CONVERGED_POINTS:g})"
    return (f"not converged: doubling the steps to {c.pgd.longest_steps} still moved it {moved:.1f} points, so the PGD ceiling "
            "may be lower still")


def ceilings_summary(ceilings: list[Ceiling]) -> str:
    """Per row, where the learned attacker falls between its two ceilings, and whether PGD converged."""
    sentences = []
    for c in ceilings:
        text = (f"- {c.target}, t={c.intensity:g}: clean {format_percent(c.clean)}, universal {format_percent(c.universal.accuracy)}, "
                f"PGD {format_percent(c.pgd.best)} ({_convergence(c)})")
        values = c.attacker.get(c.target)
        where = position(c)
        if not values:
            pass
        elif abs(_mean(values) - c.universal.accuracy) <= 0.02:
            text += (f"; A {seeds_text(values)} matches the universal perturbation (within 2 points): what it learned works like one "
                     "pattern for all digits")
        elif where is None:
            text += f"; A {seeds_text(values)} (the two ceilings are too close to place it between them)"
        elif where < 0:
            text += f"; A {seeds_text(values)} is weaker than the universal perturbation"
        elif where > 1:
            text += f"; A {seeds_text(values)} is stronger than PGD here"
        else:
            text += f"; A {seeds_text(values)} covers {100 * where:.0f}% of the way from the universal perturbation to PGD"
        sentences.append(text + ".")
    sentences.append("\nThe universal perturbation and PGD are one run each: neither depends on an attacker seed.")
    return "\n".join(sentences)


def study_position_summary(ceilings: list[Ceiling]) -> str:
    """Where the study's own C1 numbers fall relative to the two ceilings measured on our C1."""
    sentences = []
    for c in ceilings:
        study = study_c1_percent("consecutive", c.intensity) if c.target == "c1" else None
        if study is None:
            continue
        pgd, universal = 100 * c.pgd.best, 100 * c.universal.accuracy
        if study < pgd - CONVERGED_POINTS:
            where = (f"below converged white-box PGD on our C1 ({pgd:.1f}%): no attack with this budget measured here gets there, "
                     "so on our classifier the study's number is stronger than per-image PGD")
        elif study > universal:
            where = f"above our universal perturbation ({universal:.1f}%): one pattern for all digits already does that well on our C1"
        else:
            where = f"between our universal perturbation ({universal:.1f}%) and converged PGD ({pgd:.1f}%)"
        ours = c.attacker.get("c1")
        mine = f"; our A reaches {seeds_text(ours)}" if ours else ""
        sentences.append(f"- t={c.intensity:g}: the study's ~{study:g}% for C1 lies {where}{mine}.")
    return "\n".join(sentences)


def robust_summary(robust: Robust) -> str:
    c, s = robust.ceiling, robust.standard
    values = c.attacker.get(c.target)
    a = _mean(values) if values else None
    text = (f"At t={robust.intensity:g} the robust C1 (PGD-{robust.pgd_steps} adversarial training, {robust.epochs} epochs) is "
            f"{format_percent(c.clean)} accurate on clean digits; under its own learned attacker (one attacker seed) {format_percent(a)}, under the universal "
            f"perturbation {format_percent(c.universal.accuracy)}, under converged PGD {format_percent(c.pgd.best)}")
    if s is None or not s.attacker.get("c1") or a is None:
        return text + "."
    standard = s.attacker["c1"]
    gain_a, gain_pgd = a - _mean(standard), c.pgd.best - s.pgd.best
    return text + (
        f". Against the clean-trained C1 at the same t the same attacks leave {seeds_text(standard)} (A) and {format_percent(s.pgd.best)} (PGD): "
        f"adversarial training moves C1's accuracy under a learned attacker by {100 * gain_a:+.1f} points and under PGD by "
        f"{100 * gain_pgd:+.1f} points.")


def speed_summary(speed: SpeedComparison | None, runs: Mapping[str, Mapping[float, SeededRuns]]) -> str:
    consecutive = runs.get("consecutive", {})
    text = ""
    rate = pooled_rate(consecutive)
    if rate:
        text = (f"Attacker training in consecutive mode (A forward and backward, through the frozen C1) ran at "
                f"{rate:.0f} digits per second over all its runs on this machine ({runs_device_note()}).\n\n")
    if speed is None:
        return text + "No consecutive attacker at the largest intensity: no timing of A against PGD."
    return text + (
        f"Attacking {speed.digits} digits at t={speed.intensity:g}: A's forward pass took {speed.attacker_seconds:.2f} s "
        f"({speed.per(speed.attacker_seconds):.1f} s per {PER:,} digits), PGD-{speed.pgd_steps} took {speed.pgd_seconds:.2f} s "
        f"({speed.per(speed.pgd_seconds):.1f} s per {PER:,}): once trained, A attacks {speed.ratio:.1f} times faster "
        f"(C1 accuracy {format_percent(speed.attacker_accuracy)} under the first seed's A, {format_percent(speed.pgd_accuracy)} under PGD).")


def pooled_rate(runs: Mapping[float, SeededRuns]) -> float | None:
    """Training digits over training seconds, summed over ``runs`` and their seeds: the throughput of a mode."""
    seconds = sum(seeded.train_seconds for seeded in runs.values())
    return sum(seeded.digits for seeded in runs.values()) / seconds if seconds > 0 else None


def runs_device_note() -> str:
    import torch

    return f"{torch.get_num_threads()} CPU threads" if not torch.cuda.is_available() else "GPU"


def ensemble_summary(rows: list[dict], intensity: float, size: int) -> str:
    unseen = [r for r in rows if r["role"] == "unseen"]
    if not unseen:
        return ""
    r = unseen[0]
    better = r["ensemble"] < r["single"] - 0.02
    return (f"At t={intensity:g}, the attacker trained on C1 alone leaves the unseen {r['network']} at {format_percent(r['single'])}; "
            f"trained against the average loss of {size} classifiers it leaves it at {format_percent(r['ensemble'])} "
            f"(clean {format_percent(r['clean'])}; one attacker seed each). " + ("Averaging over classifiers improves transfer here." if better else
            "Here averaging over classifiers does not improve transfer by more than two points."))


# Findings: the study's claims and ours, judged on this run's numbers


def headline_intensity(intensities) -> float:
    """The run's intensity nearest to the study's reference intensity (0.08): the headline's t."""
    return min(intensities, key=lambda t: abs(t - REFERENCE_INTENSITY))


def _finding(key: str):
    return next(f for f in FINDINGS if f.key == key)


def _ceilings_evidence(c: Ceiling) -> str:
    return (f"universal perturbation {_interval_text(ceiling_interval(c.universal.accuracy, c.digits), 'one run, 95% Wilson')}, "
            f"converged PGD {_interval_text(ceiling_interval(c.pgd.best, c.digits), 'one run, 95% Wilson')}, "
            f"clean {format_percent(c.clean)}, {c.digits} digits")


def _attacker_evidence(values: Sequence[float], name: str = "C1 under A") -> str:
    n = len(values)
    return f"{name} {_interval_text(seed_interval(values), f'mean, 95% interval over {n} attacker seed' + ('s' if n > 1 else ''))}"


def findings(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns], ceilings: Sequence[Ceiling],
             params: Mapping[str, Any]) -> list[Outcome]:
    """Each of ``reference.FINDINGS`` judged on this run: learned-attacker numbers as means with their 95% interval
    over attacker seeds, the ceilings (one run each) with their Wilson interval over the attack digits."""
    t = headline_intensity(params["intensities"])
    strongest = max(params["intensities"])
    return [_fall_at_008(ceilings, t), _alternating_resists(consecutive, alternating, t), _little_transfer(ceilings, strongest),
            _between_ceilings(ceilings, strongest)]


def _fall_at_008(ceilings: Sequence[Ceiling], t: float) -> Outcome:
    finding = _finding("c1_falls_at_008")
    c = _find(ceilings, "c1", t)
    if c is None or not c.attacker.get("c1") or round(t, 4) != REFERENCE_INTENSITY:
        return finding.judge(checks.NOT_SHOWN, "no consecutive attacker at t = 0.08 in this run")
    values = c.attacker["c1"]
    status = checks.within(seed_interval(values), 0.20, tolerance=0.10)
    evidence = f"t = 0.08: {_attacker_evidence(values)}; {_ceilings_evidence(c)}"
    measured = ""
    if status == checks.DOES_NOT_HOLD:
        measured = f"C1 at {seeds_text(values)} under A; converged white-box PGD with the same budget leaves {format_percent(c.pgd.best)}"
    return finding.judge(status, evidence, measured=measured)


def _alternating_resists(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns], t: float) -> Outcome:
    finding = _finding("alternating_resists")
    shared = sorted(set(consecutive) & set(alternating), key=lambda s: abs(s - t))
    if not shared:
        return finding.judge(checks.NOT_SHOWN, "the two modes share no intensity in this run")
    at = shared[0]
    a, c = alternating[at].finals("c1_attacked_accuracy"), consecutive[at].finals("c1_attacked_accuracy")
    status = checks.exceeds(seed_interval(a), seed_interval(c))
    evidence = (f"t = {at:g}: alternating {_attacker_evidence(a, 'C1 under its A')}; consecutive "
                f"{_attacker_evidence(c, 'C1 under its A')}")
    measured = f"alternating C1 {seeds_text(a)} against consecutive {seeds_text(c)} under attack" if status == checks.DOES_NOT_HOLD else ""
    return finding.judge(status, evidence, measured=measured)


def transfer_shares(c: Ceiling) -> list[float]:
    """Per attacker seed, the share of C1's accuracy drop under A that C2 also suffers on the same attacked digits."""
    c2_clean = c.clean_others.get("c2")
    pairs = zip(c.attacker.get("c1", []), c.attacker.get("c2", []))
    return [max(c2_clean - c2, 0.0) / (c.clean - c1) for c1, c2 in pairs if c.clean - c1 > 0.01 and c2_clean is not None]


def _little_transfer(ceilings: Sequence[Ceiling], t: float) -> Outcome:
    finding = _finding("little_transfer")
    c = _find(ceilings, "c1", t)
    if c is None or not c.attacker.get("c1") or "c2" not in c.clean_others:
        return finding.judge(checks.NOT_SHOWN, f"no consecutive attacker with C2 beside it at t = {t:g}")
    shares = transfer_shares(c)
    if len(shares) < len(c.attacker["c1"]):
        return finding.judge(checks.NOT_SHOWN, f"t = {t:g}: A takes less than a point off C1 for some seed, so there is no drop to transfer")
    share = seed_interval(shares)
    status = checks.at_most(share, 0.5)
    evidence = (f"t = {t:g}: C2 loses {_interval_text(share, f'mean, 95% interval over {len(shares)} attacker seeds')} of C1's drop "
                f"(C1 {format_percent(c.clean)} clean, {seeds_text(c.attacker['c1'])} under A; C2 {format_percent(c.clean_others['c2'])} clean, "
                f"{seeds_text(c.attacker['c2'])} under A)")
    measured = f"C2 loses {format_percent(share.estimate)} of C1's drop" if status == checks.DOES_NOT_HOLD else ""
    return finding.judge(status, evidence, measured=measured)


def _between_ceilings(ceilings: Sequence[Ceiling], t: float) -> Outcome:
    finding = _finding("between_ceilings")
    c = _find(ceilings, "c1", t)
    if c is None or not c.attacker.get("c1"):
        return finding.judge(checks.NOT_SHOWN, f"no consecutive attacker at t = {t:g}")
    a = seed_interval(c.attacker["c1"])
    universal, top = ceiling_interval(c.universal.accuracy, c.digits), ceiling_interval(c.pgd.best, c.digits)
    status = checks.all_of(checks.exceeds(universal, a), checks.exceeds(a, top))
    evidence = f"t = {t:g}: {_attacker_evidence(c.attacker['c1'])}; {_ceilings_evidence(c)}"
    measured = ""
    if status == checks.DOES_NOT_HOLD:
        measured = (f"A ({format_percent(a.estimate)}) is not stronger than the universal perturbation ({format_percent(c.universal.accuracy)})"
                    if checks.exceeds(universal, a) == checks.DOES_NOT_HOLD else
                    f"A ({format_percent(a.estimate)}) is at least as strong as converged PGD ({format_percent(c.pgd.best)})")
    return finding.judge(status, evidence, measured=measured)


# The headline and what else goes into metrics.json


def _seeded(runs: Mapping[float, SeededRuns], ceilings: Sequence[Ceiling], target: str, t: float, network: str) -> list[float] | None:
    """Per-seed accuracies of ``network`` under A at ``t``: on the attack digits when the ceilings measured them,
    else the last evaluation of each run."""
    c = _find(ceilings, target, t)
    if c is not None and c.attacker.get(network):
        return c.attacker[network]
    return runs[t].finals(f"{network}_attacked_accuracy") if t in runs else None


def _seed_detail(values: Sequence[float] | None) -> dict:
    if not values:
        return {"seeds": 0}
    detail = {"seeds": len(values)}
    if len(values) > 1:
        detail["spread"] = f"{100 * min(values):.1f}-{100 * max(values):.1f}%"
    return detail


def headline(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns], ceilings: list[Ceiling],
             ensemble: Ensemble | None, robust: Robust | None, speed: SpeedComparison | None, params: Mapping[str, Any]) -> list[Metric]:
    """The same ten keys at every preset: the attacker (mean over its seeds, with the lowest-highest seed in the
    detail) and its two ceilings at the intensity nearest the study's 0.08, C1 at the largest intensity, the
    ensemble attacker's transfer to the unseen C2, the robust C1 under its attacker, the attacker's training
    throughput and its speed against PGD. Something that did not run gives no value (None) rather than a
    missing key."""
    t = headline_intensity(params["intensities"])
    strongest = max(params["intensities"])
    at_t = REFERENCE if round(t, 4) == REFERENCE_INTENSITY else None
    at_strongest = REFERENCE if round(strongest, 4) in NEAR_CHANCE_INTENSITIES else None
    c = _find(ceilings, "c1", t)
    unseen = next((r for r in ensemble.rows if r["role"] == "unseen"), {}) if ensemble else {}
    rate = pooled_rate(consecutive)
    epochs, steps = params["attacker_epochs"], params["pgd_steps"]
    digits, width = params["attacker_train_size"], params["attacker_width"]
    mean = lambda values: _mean(values) if values else None  # noqa: E731
    c1 = _seeded(consecutive, ceilings, "c1", t, "c1")
    c2 = _seeded(consecutive, ceilings, "c1", t, "c2")
    top = _seeded(consecutive, ceilings, "c1", strongest, "c1")
    alt = alternating[t].finals("c1_attacked_accuracy") if t in alternating else None
    return [
        metric("consecutive_c1_accuracy", "C1 under its attacker, consecutive mode (mean over attacker seeds)", mean(c1),
               unit="%", reference=at_t, t=t, epochs=epochs, digits=digits, width=width, **_seed_detail(c1)),
        metric("consecutive_c2_accuracy", "C2 under C1's attacker (transfer), consecutive mode (mean over attacker seeds)", mean(c2),
               unit="%", reference=at_t, t=t, epochs=epochs, digits=digits, width=width, **_seed_detail(c2)),
        metric("consecutive_c1_strongest_accuracy", "C1 under its attacker at the largest intensity, consecutive mode (mean over attacker seeds)",
               mean(top), unit="%", reference=at_strongest, t=strongest, epochs=epochs, digits=digits, width=width, **_seed_detail(top)),
        metric("alternating_c1_accuracy", "C1 under its attacker, alternating mode (mean over attacker seeds)", mean(alt),
               unit="%", reference=at_t, t=t, epochs=params["alternating_epochs"], digits=digits, width=width, **_seed_detail(alt)),
        metric("universal_c1_accuracy", "C1 under the best universal perturbation (lower ceiling, one run), same budget",
               c.universal.accuracy if c else None, unit="%", reference=REFERENCE, t=t),
        metric("pgd_c1_accuracy", "C1 under converged white-box PGD (upper ceiling, one run), same budget", c.pgd.best if c else None,
               unit="%", reference=REFERENCE, eps=t, steps=c.pgd.longest_steps if c else 2 * steps,
               converged=bool(c and c.pgd.converged)),
        metric("ensemble_attacker_unseen_accuracy", "unseen C2 under the attacker trained on several classifiers (one attacker seed)",
               unseen.get("ensemble"), unit="%", reference=REFERENCE, t=params["ensemble_intensity"], epochs=epochs,
               classifiers=params["ensemble_size"]),
        metric("robust_c1_attacker_accuracy", "PGD-trained C1 under its learned attacker (one attacker seed)",
               _mean(robust.ceiling.attacker["robust c1"]) if robust and robust.ceiling.attacker.get("robust c1") else None,
               unit="%", reference=REFERENCE, t=robust.intensity if robust else strongest, epochs=epochs),
        metric("attacker_digits_per_second", "attacker training throughput, consecutive mode (digits per second)",
               round(rate, 1) if rate else None, unit="digits/s", reference=REFERENCE, batch_size=params["batch_size"], width=width),
        metric("attacker_speedup", "time of PGD over time of the trained attacker, same digits and budget",
               round(speed.ratio, 2) if speed else None, unit="x", reference=REFERENCE,
               t=speed.intensity if speed else strongest, steps=steps, digits=speed.digits if speed else 0),
    ]


def _runs_record(every: Mapping[str, Mapping[float, SeededRuns]], value) -> dict:
    return {mode: {f"{t:g}": [value(run) for run in seeded.runs] for t, seeded in runs.items()} for mode, runs in every.items()}


def extra_metrics(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns], ceilings: list[Ceiling],
                  ensemble: Ensemble | None, robust: Robust | None, speed: SpeedComparison | None,
                  architectures: ArchitectureComparison | None = None) -> dict:
    """Everything measured, for metrics.json: per-evaluation histories per seed, throughput, ceilings, robust C1, speed."""
    every = runs_by_mode(consecutive, alternating, robust, ensemble, architectures)
    return {
        "attacker_seeds": _runs_record(every, lambda run: run.seed),
        "histories": _runs_record(every, lambda run: run.history),
        "attacker_seconds": _runs_record(every, lambda run: round(run.seconds, 2)),
        "attacker_digits_per_second": _runs_record(every, lambda run: round(run.digits_per_second, 1)),
        "ceilings": [{"target": c.target, "t": c.intensity, "clean": c.clean, "clean_others": c.clean_others,
                      "universal": c.universal.accuracy, "universal_transfer": c.universal.transfer, "attacker": c.attacker,
                      "pgd_steps": c.pgd.steps, "pgd": c.pgd.accuracy, "pgd_ladder": c.pgd.ladder,
                      "pgd_converged": c.pgd.converged, "pgd_transfer": c.pgd.transfer} for c in ceilings],
        "speed": None if speed is None else {"t": speed.intensity, "digits": speed.digits, "pgd_steps": speed.pgd_steps,
                                             "attacker_seconds": speed.attacker_seconds, "pgd_seconds": speed.pgd_seconds,
                                             "ratio": speed.ratio},
        "robust": None if robust is None else {"t": robust.intensity, "epochs": robust.epochs, "pgd_steps": robust.pgd_steps,
                                               "clean": robust.clean, "attacker": robust.ceiling.attacker,
                                               "universal": robust.ceiling.universal.accuracy, "pgd": robust.ceiling.pgd.best},
        "ensemble": list(ensemble.rows) if ensemble else [],
    }
