"""What study 4's results say: tables, prose written from the measured numbers, and the headline.

The study's own values are approximate statements from its text (``reference.py``); they stand beside
ours in the final table and, where they are numbers, in the headline, at the intensity the study states
them for.
"""
from __future__ import annotations

from typing import Any, Mapping

from helpers.headline import Metric, metric
from helpers.tables import show_table

from .reference import NEAR_CHANCE_INTENSITIES, REFERENCE, REFERENCE_INTENSITY, study_reference
from .study import PerturbationStats
from .training import AttackerRun

FINAL_COLUMNS = ["t", "mode", "C1 clean", "C1 attacked", "C1 attacked, study", "C2 clean", "C2 attacked (transfer)", "C2 attacked, study"]
CLASSIFIER_COLUMNS = ["classifier", "clean training", "from cache", "clean test accuracy"]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _by_mode(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun]) -> dict[str, Mapping[float, AttackerRun]]:
    """The modes that ran, in the study's order."""
    return {mode: runs for mode, runs in (("consecutive", consecutive), ("alternating", alternating)) if runs}


def _not_run(mode: str) -> str:
    return f"The {mode} mode is not in this run's `modes`: nothing was trained, and its numbers are left out below."


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


def show_final(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun]) -> None:
    show_table(final_rows(_by_mode(consecutive, alternating)), FINAL_COLUMNS)


def show_pgd(rows: list[dict], pgd_steps: int) -> None:
    show_table(
        [[f"{r['intensity']:g}", r["pgd_c1"], r["pgd_c2"], r.get("attacker_c1", "-"), r.get("attacker_c2", "-")] for r in rows],
        ["t = eps", f"PGD-{pgd_steps} on C1", "PGD transferred to C2", "attacker on C1", "attacker transferred to C2"],
    )
    print(pgd_summary(rows))


def show_ensemble(rows: list[dict], params: Mapping[str, Any]) -> None:
    size = params["ensemble_size"]
    show_table(
        [[r["network"], r["role"], r["clean"], r["single"], r["ensemble"]] for r in rows],
        ["network", "role", "clean", "attacker trained on C1 only", f"attacker trained on {size} classifiers"],
    )
    print(ensemble_summary(rows, params["ensemble_intensity"], size))


def final_rows(runs_by_mode: Mapping[str, Mapping[float, AttackerRun]]) -> list[list]:
    """The final table: per intensity and mode, C1 and C2 clean and attacked accuracy after the last
    epoch, with the study's approximate attacked accuracy beside ours."""
    rows = []
    intensities = sorted({t for runs in runs_by_mode.values() for t in runs})
    for t in intensities:
        for mode, runs in runs_by_mode.items():
            if t not in runs:
                continue
            run = runs[t]
            study_c1, study_c2 = study_reference(mode, t)
            rows.append([f"{t:g}", mode, run.final("c1_clean_accuracy"), run.final("c1_attacked_accuracy"), study_c1,
                         run.final("c2_clean_accuracy"), run.final("c2_attacked_accuracy"), study_c2])
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


def pgd_summary(rows: list[dict]) -> str:
    sentences = []
    for r in rows:
        text = f"t={r['intensity']:g}: PGD leaves C1 at {_pct(r['pgd_c1'])} (transfer to C2: {_pct(r['pgd_c2'])})"
        if "attacker_c1" in r:
            text += f", the attacker network at {_pct(r['attacker_c1'])} (C2: {_pct(r['attacker_c2'])})"
        sentences.append(text + ".")
    stronger = [r for r in rows if "attacker_c1" in r and r["pgd_c1"] < r["attacker_c1"] - 0.02]
    if rows and all("attacker_c1" in r for r in rows):
        sentences.append(f"PGD is clearly stronger on C1 at {len(stronger)} of {len(rows)} intensities: an optimisation per image "
                         "beats one forward pass of a network trained for all images, at the price of many gradient steps per image.")
    return "\n".join(sentences)


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


def headline(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun], pgd_rows: list[dict],
             ensemble_rows: list[dict], params: Mapping[str, Any]) -> list[Metric]:
    """The same eight keys at every preset: the attacker and PGD at the intensity nearest the study's 0.08
    (its value beside ours only when that is 0.08), C1 at the largest intensity (beside the study's "near
    chance" when that is 0.16 or more), and the ensemble attacker's transfer to the unseen C2. A mode that
    did not run gives no value (None) rather than a missing key."""
    t = headline_intensity(params["intensities"])
    strongest = max(params["intensities"])
    at_t = REFERENCE if round(t, 4) == REFERENCE_INTENSITY else None
    at_strongest = REFERENCE if round(strongest, 4) in NEAR_CHANCE_INTENSITIES else None
    pgd = next((r for r in pgd_rows if r["intensity"] == t), {})
    unseen = next((r for r in ensemble_rows if r["role"] == "unseen"), {})
    epochs, steps, t_ensemble = params["attacker_epochs"], params["pgd_steps"], params["ensemble_intensity"]
    return [
        metric("consecutive_c1_accuracy", "C1 under its attacker, consecutive mode", _final(consecutive, t, "c1_attacked_accuracy"),
               unit="%", reference=at_t, t=t, epochs=epochs),
        metric("consecutive_c2_accuracy", "C2 under C1's attacker (transfer), consecutive mode",
               _final(consecutive, t, "c2_attacked_accuracy"), unit="%", reference=at_t, t=t, epochs=epochs),
        metric("consecutive_c1_strongest_accuracy", "C1 under its attacker at the largest intensity, consecutive mode",
               _final(consecutive, strongest, "c1_attacked_accuracy"), unit="%", reference=at_strongest, t=strongest, epochs=epochs),
        metric("alternating_c1_accuracy", "C1 under its attacker, alternating mode", _final(alternating, t, "c1_attacked_accuracy"),
               unit="%", reference=at_t, t=t, epochs=epochs),
        metric("pgd_c1_accuracy", "C1 under PGD (white box), same budget", pgd.get("pgd_c1"), unit="%", reference=REFERENCE,
               eps=t, steps=steps),
        metric("pgd_c2_accuracy", "C2 under C1's PGD examples (transfer)", pgd.get("pgd_c2"), unit="%", reference=REFERENCE,
               eps=t, steps=steps),
        metric("single_attacker_unseen_accuracy", "unseen C2 under the attacker trained on C1 alone", unseen.get("single"),
               unit="%", reference=REFERENCE, t=t_ensemble, epochs=epochs),
        metric("ensemble_attacker_unseen_accuracy", "unseen C2 under the attacker trained on several classifiers",
               unseen.get("ensemble"), unit="%", reference=REFERENCE, t=t_ensemble, epochs=epochs, classifiers=params["ensemble_size"]),
    ]


def extra_metrics(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun], pgd_rows: list[dict],
                  ensemble_rows: list[dict]) -> dict:
    """Everything measured, for metrics.json: per-epoch histories per mode and intensity, PGD, ensemble."""
    runs_by_mode = _by_mode(consecutive, alternating)
    return {
        "histories": {mode: {f"{t:g}": run.history for t, run in runs.items()} for mode, runs in runs_by_mode.items()},
        "attacker_seconds": {mode: {f"{t:g}": round(run.seconds, 2) for t, run in runs.items()} for mode, runs in runs_by_mode.items()},
        "pgd": list(pgd_rows),
        "ensemble": list(ensemble_rows),
    }
