"""What the quickstart's results say: tables, prose written from the measured numbers, the headline."""
from __future__ import annotations

from typing import Any, Mapping

from helpers import attacks
from helpers.headline import Metric, metric
from helpers.tables import show_table

from .reference import REFERENCE
from .study import AttackSet, SweepResult, Trained


def show_training(trained: Trained) -> None:
    how = "loaded from the cache" if trained.from_cache else "trained now"
    print(f"CNN {how}: clean test accuracy {100 * trained.clean_accuracy:.2f}% on {trained.test_size} digits")


def show_attacks(sweep: SweepResult, target: AttackSet) -> None:
    """Accuracy per attack and budget, then what it shows."""
    show_table(
        [[f"{eps:g}"] + [sweep.accuracy[name][eps] for name in sweep.accuracy] for eps in sweep.epsilons],
        ["epsilon"] + [attacks.attack_title(name) for name in sweep.accuracy],
    )
    print(sweep_summary(sweep, target.clean_accuracy))


def show_defense(rows: list[dict], bit_depth: int) -> None:
    show_table(
        [[f"{r['epsilon']:g}", r["undefended"], r["squeezed, transfer"],
          "-" if r["squeezed, adaptive"] is None else r["squeezed, adaptive"]] for r in rows],
        ["epsilon", "undefended", f"squeezed ({bit_depth} bit), transfer", f"squeezed ({bit_depth} bit), adaptive PGD"],
    )
    print(defense_summary(rows))


def headline(trained: Trained, sweep: SweepResult, defense: list[dict], params: Mapping[str, Any]) -> list[Metric]:
    """Stable keys at every preset: the budget and steps are the metrics' detail."""
    eps = max(sweep.epsilons)
    last = defense[-1]
    at = {"eps": eps}
    return [
        metric("clean_accuracy", "clean accuracy", trained.clean_accuracy, unit="%", reference=REFERENCE, digits=trained.test_size),
        metric("fgsm_accuracy", "FGSM accuracy", sweep.accuracy["fgsm"][eps], unit="%", reference=REFERENCE, **at),
        metric("pgd_accuracy", "PGD accuracy", sweep.accuracy["pgd"][eps], unit="%", reference=REFERENCE,
               steps=params["pgd_steps"], **at),
        metric("squeezed_transfer_accuracy", "feature squeezing, transferred PGD", last["squeezed, transfer"], unit="%",
               reference=REFERENCE, bits=params["squeeze_bit_depth"], **at),
        metric("squeezed_adaptive_accuracy", "feature squeezing, adaptive (BPDA) PGD", last["squeezed, adaptive"],
               unit="%", reference=REFERENCE, bits=params["squeeze_bit_depth"], **at),
        metric("model_from_cache", "model loaded from cache", trained.from_cache),
    ]


def sweep_summary(sweep: SweepResult, clean_accuracy: float) -> str:
    """One sentence per attack, written from the measured numbers."""
    sentences = []
    for name, curve in sweep.accuracy.items():
        eps_sorted = sorted(curve)
        worst = eps_sorted[-1]
        sentences.append(
            f"{attacks.attack_title(name)} lowers accuracy from {100 * clean_accuracy:.1f}% to "
            f"{100 * curve[eps_sorted[0]]:.1f}% at eps={eps_sorted[0]:g} and {100 * curve[worst]:.1f}% at eps={worst:g}."
        )
    if {"fgsm", "pgd"} <= set(sweep.accuracy):
        stronger = sum(sweep.accuracy["pgd"][e] <= sweep.accuracy["fgsm"][e] for e in sweep.accuracy["pgd"])
        sentences.append(
            f"PGD is at least as strong as FGSM at {stronger} of {len(sweep.accuracy['pgd'])} budgets: "
            "iterating small projected steps finds better perturbations than one big step."
        )
    return " ".join(sentences)


def defense_summary(rows: list[dict]) -> str:
    """What the defense table shows, from its numbers: the gap between transfer and adaptive attacks."""
    attacked = [r for r in rows if r["squeezed, adaptive"] is not None]
    if not attacked:
        return "No attacked budgets were evaluated."
    gaps = [r["squeezed, transfer"] - r["squeezed, adaptive"] for r in attacked]
    worst = max(range(len(gaps)), key=gaps.__getitem__)
    row = attacked[worst]
    clean = (
        f"With feature squeezing, accuracy on clean digits is {100 * rows[0]['squeezed, transfer']:.1f}% "
        f"(undefended {100 * rows[0]['undefended']:.1f}%). "
    )
    numbers = (
        f"At eps={row['epsilon']:g} the squeezed model keeps {100 * row['squeezed, transfer']:.1f}% against the "
        f"transferred PGD examples and {100 * row['squeezed, adaptive']:.1f}% when PGD attacks through the squeezer "
        f"(undefended: {100 * row['undefended']:.1f}%). "
    )
    if gaps[worst] > 0.02:
        verdict = (
            "The transfer number overstates the defense: the adaptive attack is the one a deployed defense would face, "
            "and it is the number to report."
        )
    else:
        verdict = (
            "Here the adaptive attack does no better than the transferred one. At a low bit depth a pixel must cross a "
            "rounding threshold to change what the model sees, which a small budget cannot do for most MNIST pixels "
            "(they are near 0 or 1), so against this budget the squeezer holds up (a known result for binarised MNIST). That is specific to near-binary images: "
            "rerun with a higher squeeze_bit_depth, or on natural images, and the picture changes."
        )
    return clean + numbers + verdict
