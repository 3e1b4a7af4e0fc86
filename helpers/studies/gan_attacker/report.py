"""What study 4's results say: tables, prose written from the measured numbers, and the headline.

The study's own values are approximate statements from its text (``reference.py``); they stand beside
ours in the final table and, where they are numbers, in the headline, at the intensity the study states
them for. Every learned-attacker number against a white-box target stands between its two ceilings
(``ceilings.py``): the universal perturbation and converged PGD, measured on the same digits.
"""
from __future__ import annotations

from typing import Any, Mapping

from helpers.headline import Metric, metric
from helpers.tables import show_table

from .ceilings import CONVERGED_POINTS
from .comparison import PER, SpeedComparison
from .reference import NEAR_CHANCE_INTENSITIES, REFERENCE, REFERENCE_INTENSITY, study_c1_percent, study_reference
from .study import ArchitectureComparison, Ceiling, PerturbationStats, Robust
from .training import AttackerRun

FINAL_COLUMNS = ["t", "mode", "C1 clean", "universal (ceiling)", "C1 under A", "converged PGD (ceiling)", "C1 under A, study",
                 "C2 clean", "C2 under A (transfer)", "C2 under A, study"]
CEILING_COLUMNS = ["target", "t", "clean", "universal", "learned attacker A", "PGD-{s}", "PGD-{d}", "PGD converged",
                   "C2: universal", "C2: A", "C2: PGD"]
CLASSIFIER_COLUMNS = ["classifier", "clean training", "from cache", "clean test accuracy"]
ARCHITECTURE_COLUMNS = ["A's architecture", "weights", "C1 under A", "C2 under A (transfer)", "spread of A(x) across digits (share of t)",
                        "training digits/s"]
ARCHITECTURE_NAMES = {"study": "the study's encoder-decoder", "skip": "with skip connections (U-Net)"}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _by_mode(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun]) -> dict[str, Mapping[float, AttackerRun]]:
    """The modes that ran, in the study's order."""
    return {mode: runs for mode, runs in (("consecutive", consecutive), ("alternating", alternating)) if runs}


def _not_run(mode: str) -> str:
    return f"The {mode} mode is not in this run's `modes`: nothing was trained, and its numbers are left out below."


def _find(ceilings: list[Ceiling], target: str, t: float) -> Ceiling | None:
    return next((c for c in ceilings if c.target == target and c.intensity == t), None)


# Tables and prose, in the order of the notebook


def show_classifiers(rows: list[tuple]) -> None:
    """The clean-trained classifiers (``study.classifier_rows``): epochs, cache, clean test accuracy."""
    show_table([[name.upper(), f"{epochs} epochs", cached, accuracy] for name, epochs, cached, accuracy in rows], CLASSIFIER_COLUMNS)


def show_mode(mode: str, runs: Mapping[float, AttackerRun]) -> None:
    print(mode_summary(runs) if runs else _not_run(mode))


def show_perturbations(stats: list[PerturbationStats]) -> None:
    print(perturbation_summary(stats) if stats else "No consecutive-mode attacker was trained, so there is no perturbation to measure.")


def show_modes_compared(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun]) -> None:
    if not (consecutive and alternating):
        print("Both modes must be in this run's `modes` to compare them.")
        return
    print(modes_summary(consecutive, alternating))


def show_ceilings(ceilings: list[Ceiling], pgd_steps: int) -> None:
    """Per target and intensity: universal, the learned attacker and PGD (S and 2S steps) on the same digits."""
    columns = [c.format(s=pgd_steps, d=2 * pgd_steps) for c in CEILING_COLUMNS]
    show_table([_ceiling_row(c) for c in ceilings], columns)
    print(ceilings_summary(ceilings))


def _ceiling_row(c: Ceiling) -> list:
    c2 = "c2" in c.pgd.transfer
    return [c.target.upper() if c.target == "c1" else c.target, f"{c.intensity:g}", c.clean, c.universal.accuracy,
            c.attacker.get(c.target, "-"), c.pgd.accuracy, c.pgd.accuracy_doubled, "yes" if c.pgd.converged else "no",
            c.universal.transfer["c2"] if c2 else "-", c.attacker.get("c2", "-"), c.pgd.transfer["c2"] if c2 else "-"]


def show_final(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun], ceilings: list[Ceiling]) -> None:
    show_table(final_rows(_by_mode(consecutive, alternating), ceilings), FINAL_COLUMNS)
    print(study_position_summary(ceilings))


def show_architectures(comparison: ArchitectureComparison | None, ceilings: list[Ceiling]) -> None:
    """Both architectures of A trained the same way at one intensity, beside the universal perturbation."""
    if comparison is None:
        print("No consecutive-mode attacker was trained, so the architectures are not compared.")
        return
    rows = []
    for name, run in comparison.runs.items():
        weights = sum(p.numel() for p in run.attacker.parameters())
        rows.append([ARCHITECTURE_NAMES[name] + (" (this run's A)" if name == comparison.chosen else ""), f"{weights / 1e6:.1f} M",
                     run.final("c1_attacked_accuracy"), run.final("c2_attacked_accuracy"), f"{comparison.spread[name]:.2f}",
                     f"{run.digits_per_second:.0f}"])
    show_table(rows, ARCHITECTURE_COLUMNS)
    print(architecture_summary(comparison, ceilings))


def architecture_summary(comparison: ArchitectureComparison, ceilings: list[Ceiling]) -> str:
    t = comparison.intensity
    study, skip = (comparison.runs[name].final("c1_attacked_accuracy") for name in ("study", "skip"))
    c = _find(ceilings, "c1", t)
    clean = comparison.runs["study"].final("c1_clean_accuracy")
    text = (f"At t={t:g}, trained on the same digits with the same seed and schedule, the study's encoder-decoder left C1 at "
            f"{_pct(study)} and the one with skip connections at {_pct(skip)} (clean {_pct(clean)}): "
            + (f"the skip connections take {100 * (study - skip):.1f} more points off C1." if skip < study
               else f"the skip connections did not help this time ({100 * (skip - study):.1f} points worse)."))
    if c is not None:
        universal = c.universal.accuracy
        near = abs(study - universal) <= 0.05
        text += (f" One universal perturbation, the same pattern for every digit, leaves C1 at {_pct(universal)}: the study's "
                 f"architecture does {'about as well as' if near else ('better than' if study < universal else 'worse than')} "
                 f"that input-independent pattern")
        text += (f", and its perturbation varies {comparison.spread['study']:.2f} t across digits against "
                 f"{comparison.spread['skip']:.2f} t with skip connections." )
    return text


def show_robust(robust: Robust) -> None:
    rows = [[name, c.clean, c.universal.accuracy, c.attacker.get(c.target, "-"), c.pgd.best]
            for name, c in (("C1 (clean training)", robust.standard), (f"robust C1 (PGD training, {robust.epochs} epochs)", robust.ceiling))
            if c is not None]
    show_table(rows, ["classifier", "clean", "universal", "learned attacker A", "converged PGD"])
    print(robust_summary(robust))


def show_speed(speed: SpeedComparison | None, runs: Mapping[str, Mapping[float, AttackerRun]]) -> None:
    rows = [[mode, f"{t:g}", run.digits, f"{run.train_seconds:.1f}", f"{run.digits_per_second:.0f}"]
            for mode, by_t in runs.items() for t, run in sorted(by_t.items())]
    show_table(rows, ["attacker", "t", "training digits (all epochs)", "training seconds", "digits per second"])
    print(speed_summary(speed, runs))


def show_ensemble(rows: list[dict], params: Mapping[str, Any]) -> None:
    size = params["ensemble_size"]
    show_table(
        [[r["network"], r["role"], r["clean"], r["single"], r["ensemble"]] for r in rows],
        ["network", "role", "clean", "attacker trained on C1 only", f"attacker trained on {size} classifiers"],
    )
    print(ensemble_summary(rows, params["ensemble_intensity"], size))


def show_targets(consecutive: Mapping[float, AttackerRun], ceilings: list[Ceiling]) -> None:
    print(targets_summary(consecutive, ceilings))


def runs_by_mode(consecutive, alternating, robust: Robust | None = None, ensemble: AttackerRun | None = None) -> dict:
    """Every attacker trained in this run, by mode, for the throughput table."""
    found = dict(_by_mode(consecutive, alternating))
    if robust is not None:
        found["against the robust C1"] = {robust.intensity: robust.run}
    if ensemble is not None:
        found["ensemble"] = {ensemble.intensity: ensemble}
    return found


def final_rows(runs_by_mode: Mapping[str, Mapping[float, AttackerRun]], ceilings: list[Ceiling]) -> list[list]:
    """The final table: per intensity and mode, C1's clean accuracy, the universal perturbation, the learned
    attacker and converged PGD against that C1 (on the attack digits, where the ceilings were measured), C2's
    clean and transferred accuracy, and the study's approximate values beside ours."""
    rows = []
    intensities = sorted({t for runs in runs_by_mode.values() for t in runs})
    for t in intensities:
        for mode, runs in runs_by_mode.items():
            if t not in runs:
                continue
            run = runs[t]
            c = _find(ceilings, "c1" if mode == "consecutive" else "alternating c1", t)
            study_c1, study_c2 = study_reference(mode, t)
            if c is None:
                rows.append([f"{t:g}", mode, run.final("c1_clean_accuracy"), "-", run.final("c1_attacked_accuracy"), "-", study_c1,
                             run.final("c2_clean_accuracy"), run.final("c2_attacked_accuracy"), study_c2])
                continue
            rows.append([f"{t:g}", mode, c.clean, c.universal.accuracy, c.attacker.get(c.target, "-"), c.pgd.best, study_c1,
                         run.final("c2_clean_accuracy"), c.attacker.get("c2", run.final("c2_attacked_accuracy")), study_c2])
    return rows


def mode_summary(runs: Mapping[float, AttackerRun]) -> str:
    """What the per-epoch curves show, from the numbers: per intensity the drop on C1 and the transfer to C2."""
    sentences = []
    for t, run in sorted(runs.items()):
        first, last = run.history[0], run.history[-1]
        drop_c1 = last["c1_clean_accuracy"] - last["c1_attacked_accuracy"]
        drop_c2 = last["c2_clean_accuracy"] - last["c2_attacked_accuracy"]
        sentences.append(
            f"t={t:g}: C1 {_pct(last['c1_clean_accuracy'])} clean -> {_pct(last['c1_attacked_accuracy'])} attacked "
            f"(untrained A: {_pct(first['c1_attacked_accuracy'])}), C2 {_pct(last['c2_clean_accuracy'])} -> "
            f"{_pct(last['c2_attacked_accuracy'])}; transfer keeps {_transfer_share(drop_c1, drop_c2)} of the drop."
        )
    return "\n".join(sentences)


def _transfer_share(drop_c1: float, drop_c2: float) -> str:
    if drop_c1 <= 0.01:
        return "none (A does not hurt C1)"
    return f"{100 * max(drop_c2, 0.0) / drop_c1:.0f}%"


def perturbation_summary(stats: list[PerturbationStats]) -> str:
    """How much A's perturbation depends on its input, per intensity, as a share of t."""
    return "\n".join(
        f"t={s.intensity:g}: mean |A(x)| is {100 * s.mean_size:.0f}% of t; across digits each pixel varies by "
        f"{100 * s.spread:.0f}% of t ({'nearly one universal pattern' if s.spread < 0.1 else 'the perturbation depends on the digit'})."
        for s in stats
    )


def modes_summary(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun]) -> str:
    """Consecutive against alternating at each shared intensity: which one leaves C1 more accurate under attack."""
    sentences = []
    for t in sorted(set(consecutive) & set(alternating)):
        c, a = consecutive[t].final("c1_attacked_accuracy"), alternating[t].final("c1_attacked_accuracy")
        verdict = "more robust" if a > c + 0.02 else ("less robust" if a < c - 0.02 else "about as robust")
        sentences.append(f"t={t:g}: C1 under attack {_pct(c)} after consecutive training, {_pct(a)} after alternating "
                         f"training: the alternately trained C1 is {verdict} against its own attacker.")
    return "\n".join(sentences)


def position(c: Ceiling) -> float | None:
    """Where A lies from the universal ceiling (0) to converged PGD (1), on the accuracy scale."""
    a, u, p = c.attacker.get(c.target), c.universal.accuracy, c.pgd.best
    if a is None or u - p < 0.02:
        return None
    return (u - a) / (u - p)


def _convergence(c: Ceiling) -> str:
    moved = c.pgd.moved_points
    if c.pgd.converged:
        return f"converged: doubling the steps moved it {moved:.1f} points (< {CONVERGED_POINTS:g})"
    return f"NOT converged: doubling the steps moved it {moved:.1f} points, so the PGD ceiling may be lower still"


def ceilings_summary(ceilings: list[Ceiling]) -> str:
    """Per row, where the learned attacker falls between its two ceilings, and whether PGD converged."""
    sentences = []
    for c in ceilings:
        text = (f"{c.target}, t={c.intensity:g}: clean {_pct(c.clean)}, universal {_pct(c.universal.accuracy)}, "
                f"PGD {_pct(c.pgd.best)} ({_convergence(c)})")
        a = c.attacker.get(c.target)
        where = position(c)
        if a is None:
            pass
        elif abs(a - c.universal.accuracy) <= 0.02:
            text += (f"; A {_pct(a)} matches the universal perturbation (within 2 points): what it learned works like one "
                     "pattern for all digits")
        elif where is None:
            text += f"; A {_pct(a)} (the two ceilings are too close to place it between them)"
        elif where < 0:
            text += f"; A {_pct(a)} is weaker than the universal perturbation"
        elif where > 1:
            text += f"; A {_pct(a)} is stronger than PGD here"
        else:
            text += f"; A {_pct(a)} covers {100 * where:.0f}% of the way from the universal perturbation to PGD"
        sentences.append(text + ".")
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
        mine = f"; our A reaches {_pct(ours)}" if ours is not None else ""
        sentences.append(f"t={c.intensity:g}: the study's ~{study:g}% for C1 lies {where}{mine}.")
    return "\n".join(sentences)


def targets_summary(consecutive: Mapping[float, AttackerRun], ceilings: list[Ceiling]) -> str:
    """Issue 11's targets for the consecutive mode, checked against this run's numbers."""
    sentences = []
    for t, limit, text in ((0.16, None, "at most 50%"), (0.08, 0.10, "at least 10 points below clean")):
        c = _find(ceilings, "c1", t)
        if c is None or c.attacker.get("c1") is None:
            sentences.append(f"t={t:g} was not run in consecutive mode: its target ({text}) is not checked.")
            continue
        a = c.attacker["c1"]
        met = a <= 0.5 if limit is None else c.clean - a >= limit
        run = consecutive.get(t)
        if run is not None and len(run.history) > 2:
            early = run.history[1]
            sentences.append(f"t={t:g}: after {early['epoch']:g} epochs A already left C1 at {_pct(early['c1_attacked_accuracy'])}, "
                             f"at the end at {_pct(run.final('c1_attacked_accuracy'))}.")
        sentences.append(f"Target at t={t:g}, C1 under A {text}: measured {_pct(a)} (clean {_pct(c.clean)}, universal "
                         f"{_pct(c.universal.accuracy)}, converged PGD {_pct(c.pgd.best)}): "
                         + ("reached." if met else "NOT reached with this preset's budget (the recipes tried are listed at the end)."))
    return "\n".join(sentences)


def robust_summary(robust: Robust) -> str:
    c, s = robust.ceiling, robust.standard
    a = c.attacker.get(c.target)
    text = (f"At t={robust.intensity:g} the robust C1 (PGD-{robust.pgd_steps} adversarial training, {robust.epochs} epochs) is "
            f"{_pct(c.clean)} accurate on clean digits; under its own learned attacker {_pct(a)}, under the universal "
            f"perturbation {_pct(c.universal.accuracy)}, under converged PGD {_pct(c.pgd.best)}")
    if s is None or s.attacker.get("c1") is None or a is None:
        return text + "."
    gain_a, gain_pgd = a - s.attacker["c1"], c.pgd.best - s.pgd.best
    return text + (
        f". Against the clean-trained C1 at the same t the same attacks leave {_pct(s.attacker['c1'])} (A) and {_pct(s.pgd.best)} (PGD): "
        f"adversarial training moves C1's accuracy under a learned attacker by {100 * gain_a:+.1f} points and under PGD by "
        f"{100 * gain_pgd:+.1f} points.")


def speed_summary(speed: SpeedComparison | None, runs: Mapping[str, Mapping[float, AttackerRun]]) -> str:
    consecutive = runs.get("consecutive", {})
    rates = [run.digits_per_second for run in consecutive.values()]
    text = ""
    if rates:
        text = (f"Attacker training in consecutive mode (A forward and backward, through the frozen C1) ran at "
                f"{pooled_rate(consecutive):.0f} digits per second over all its runs ({min(rates):.0f} to {max(rates):.0f} per run) "
                f"on this machine ({runs_device_note()}).\n")
    if speed is None:
        return text + "No consecutive attacker at the largest intensity: no timing of A against PGD."
    return text + (
        f"Attacking {speed.digits} digits at t={speed.intensity:g}: A's forward pass took {speed.attacker_seconds:.2f} s "
        f"({speed.per(speed.attacker_seconds):.1f} s per {PER:,} digits), PGD-{speed.pgd_steps} took {speed.pgd_seconds:.2f} s "
        f"({speed.per(speed.pgd_seconds):.1f} s per {PER:,}): once trained, A attacks {speed.ratio:.1f} times faster "
        f"(C1 accuracy {_pct(speed.attacker_accuracy)} under A, {_pct(speed.pgd_accuracy)} under PGD).")


def pooled_rate(runs: Mapping[float, AttackerRun]) -> float | None:
    """Training digits over training seconds, summed over ``runs``: the throughput of a mode."""
    seconds = sum(run.train_seconds for run in runs.values())
    return sum(run.digits for run in runs.values()) / seconds if seconds > 0 else None


def runs_device_note() -> str:
    import torch

    return f"{torch.get_num_threads()} CPU threads" if not torch.cuda.is_available() else "GPU"


def ensemble_summary(rows: list[dict], intensity: float, size: int) -> str:
    unseen = [r for r in rows if r["role"] == "unseen"]
    if not unseen:
        return ""
    r = unseen[0]
    better = r["ensemble"] < r["single"] - 0.02
    return (f"At t={intensity:g}, the attacker trained on C1 alone leaves the unseen {r['network']} at {_pct(r['single'])}; "
            f"trained against the average loss of {size} classifiers it leaves it at {_pct(r['ensemble'])} "
            f"(clean {_pct(r['clean'])}). " + ("Averaging over classifiers improves transfer here." if better else
            "Here averaging over classifiers does not improve transfer by more than two points."))


# The headline and what else goes into metrics.json


def headline_intensity(intensities) -> float:
    """The run's intensity nearest to the study's reference intensity (0.08): the headline's t."""
    return min(intensities, key=lambda t: abs(t - REFERENCE_INTENSITY))


def _final(runs: Mapping[float, AttackerRun], t: float, key: str) -> float | None:
    return runs[t].final(key) if t in runs else None


def headline(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun], ceilings: list[Ceiling],
             ensemble_rows: list[dict], robust: Robust | None, speed: SpeedComparison | None, params: Mapping[str, Any]) -> list[Metric]:
    """The same ten keys at every preset: the attacker and its two ceilings at the intensity nearest the study's
    0.08 (the study's value beside ours only when that is 0.08), C1 at the largest intensity (beside the study's
    "near chance" when that is 0.16 or more), the ensemble attacker's transfer to the unseen C2, the robust C1
    under its attacker, the attacker's training throughput and its speed against PGD. Something that did not
    run gives no value (None) rather than a missing key."""
    t = headline_intensity(params["intensities"])
    strongest = max(params["intensities"])
    at_t = REFERENCE if round(t, 4) == REFERENCE_INTENSITY else None
    at_strongest = REFERENCE if round(strongest, 4) in NEAR_CHANCE_INTENSITIES else None
    c = _find(ceilings, "c1", t)
    unseen = next((r for r in ensemble_rows if r["role"] == "unseen"), {})
    rate = pooled_rate(consecutive)
    epochs, steps, t_ensemble = params["attacker_epochs"], params["pgd_steps"], params["ensemble_intensity"]
    digits = params["attacker_train_size"]
    return [
        metric("consecutive_c1_accuracy", "C1 under its attacker, consecutive mode", _final(consecutive, t, "c1_attacked_accuracy"),
               unit="%", reference=at_t, t=t, epochs=epochs, digits=digits),
        metric("consecutive_c2_accuracy", "C2 under C1's attacker (transfer), consecutive mode",
               _final(consecutive, t, "c2_attacked_accuracy"), unit="%", reference=at_t, t=t, epochs=epochs, digits=digits),
        metric("consecutive_c1_strongest_accuracy", "C1 under its attacker at the largest intensity, consecutive mode",
               _final(consecutive, strongest, "c1_attacked_accuracy"), unit="%", reference=at_strongest, t=strongest, epochs=epochs, digits=digits),
        metric("alternating_c1_accuracy", "C1 under its attacker, alternating mode", _final(alternating, t, "c1_attacked_accuracy"),
               unit="%", reference=at_t, t=t, epochs=epochs, digits=digits),
        metric("universal_c1_accuracy", "C1 under the best universal perturbation (lower ceiling), same budget",
               c.universal.accuracy if c else None, unit="%", reference=REFERENCE, t=t),
        metric("pgd_c1_accuracy", "C1 under converged white-box PGD (upper ceiling), same budget", c.pgd.best if c else None,
               unit="%", reference=REFERENCE, eps=t, steps=2 * steps, converged=bool(c and c.pgd.converged)),
        metric("ensemble_attacker_unseen_accuracy", "unseen C2 under the attacker trained on several classifiers",
               unseen.get("ensemble"), unit="%", reference=REFERENCE, t=t_ensemble, epochs=epochs, classifiers=params["ensemble_size"]),
        metric("robust_c1_attacker_accuracy", "PGD-trained C1 under its learned attacker",
               robust.ceiling.attacker.get("robust c1") if robust else None, unit="%", reference=REFERENCE,
               t=robust.intensity if robust else strongest, epochs=epochs),
        metric("attacker_digits_per_second", "attacker training throughput, consecutive mode (digits per second)",
               round(rate, 1) if rate else None, unit="digits/s", reference=REFERENCE, batch_size=params["batch_size"]),
        metric("attacker_speedup", "time of PGD over time of the trained attacker, same digits and budget",
               round(speed.ratio, 2) if speed else None, unit="x", reference=REFERENCE,
               t=speed.intensity if speed else strongest, steps=steps, digits=speed.digits if speed else 0),
    ]


def extra_metrics(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun], ceilings: list[Ceiling],
                  ensemble_rows: list[dict], robust: Robust | None, speed: SpeedComparison | None) -> dict:
    """Everything measured, for metrics.json: per-evaluation histories, throughput, ceilings, robust C1, speed."""
    every = runs_by_mode(consecutive, alternating, robust)
    return {
        "histories": {mode: {f"{t:g}": run.history for t, run in runs.items()} for mode, runs in every.items()},
        "attacker_seconds": {mode: {f"{t:g}": round(run.seconds, 2) for t, run in runs.items()} for mode, runs in every.items()},
        "attacker_digits_per_second": {mode: {f"{t:g}": round(run.digits_per_second, 1) for t, run in runs.items()}
                                       for mode, runs in every.items()},
        "ceilings": [{"target": c.target, "t": c.intensity, "clean": c.clean, "universal": c.universal.accuracy,
                      "universal_transfer": c.universal.transfer, "attacker": c.attacker, "pgd_steps": c.pgd.steps,
                      "pgd": c.pgd.accuracy, "pgd_doubled": c.pgd.accuracy_doubled, "pgd_converged": c.pgd.converged,
                      "pgd_transfer": c.pgd.transfer} for c in ceilings],
        "speed": None if speed is None else {"t": speed.intensity, "digits": speed.digits, "pgd_steps": speed.pgd_steps,
                                             "attacker_seconds": speed.attacker_seconds, "pgd_seconds": speed.pgd_seconds,
                                             "ratio": speed.ratio},
        "robust": None if robust is None else {"t": robust.intensity, "epochs": robust.epochs, "pgd_steps": robust.pgd_steps,
                                               "clean": robust.clean, "attacker": robust.ceiling.attacker,
                                               "universal": robust.ceiling.universal.accuracy, "pgd": robust.ceiling.pgd.best},
        "ensemble": list(ensemble_rows),
    }
