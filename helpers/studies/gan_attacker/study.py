"""Stages of study 4: a generative attacker network against MNIST classifiers.

The notebook ``notebooks/04_gan_attacker.ipynb`` calls these functions; each returns plain results
(dataclasses, dicts of ``SeededRuns`` per intensity, lists of rows), and ``report.py`` turns them into
tables, prose and the headline. A training mode left out of ``modes`` gives an empty result, and a section
left out of ``extras`` gives None; the report and the figures state either as not run.

At the comparison intensities (``comparison_intensities``: the one nearest the study's t = 0.08 and the
largest) every attacker is trained once per attacker seed (``attacker_seeds``), against the same classifiers;
elsewhere once. The ceilings do not depend on an attacker seed and are measured once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from helpers.gradient_attacks import pgd
from helpers.data import load_mnist
from .ceilings import PGDCeiling, accuracy_of, pgd_ceiling, train_robust_classifier
from .comparison import SpeedComparison, attacker_on, time_attacks
from .ensemble import ensemble_rows, train_ensemble_attacker
from .networks import ARCHITECTURES, attacker_output
from .reference import REFERENCE_INTENSITY
from .training import (AttackerRun, Recipe, SeededRuns, alternating_round, attacker_loss, attacker_step, train_alternating,
                       train_classifier, train_consecutive)
from .universal import Universal, fit_universal, universal_perturbation

STUDY = "gan_attacker"
TITLE = "A generative attacker network against MNIST classifiers"
ROBUST_INDEX = 1
"""The robust C1 starts from C1's initialisation (its cache entry is its own)."""
SEED_STRIDE = 10_007
"""Attacker seed k of a run seeded s is s + k * SEED_STRIDE (k = 0 is the run's seed)."""
EXTRAS = ("architectures", "ensemble", "robust")
"""Sections beyond the study's own experiments, each run only when named in the ``extras`` parameter."""

METHODS = {
    "attacker_output": attacker_output,
    "attacker_loss": attacker_loss,
    "attacker_step": attacker_step,
    "alternating_training": alternating_round,
    "universal_perturbation": universal_perturbation,
    "pgd": pgd,
}
"""The methods the notebook shows, each in its one home: A's bounded output, its loss and update, one round of the
alternating mode, and the two ceilings (the universal perturbation and white-box PGD)."""


def load_data(params: Mapping[str, Any]):
    """A stratified random subset of MNIST as float tensors in [0, 1]."""
    return load_mnist(params["train_size"], params["test_size"], seed=params["seed"])


def fetch_data(params: Mapping[str, Any]) -> None:
    """Download MNIST into the data root when it is missing (``advlab fetch``)."""
    load_data(params)


def attacker_data(data, params: Mapping):
    """The stratified subset of the training digits the attacker trains on (test digits unchanged)."""
    if params["attacker_train_size"] >= len(data.x_train):
        return data
    return data.subset(params["attacker_train_size"], None, seed=params["seed"])


@dataclass
class Classifiers:
    """The clean-trained classifiers: C1, C2 (consecutive), their pre-trained versions (alternating)."""

    trained: dict[str, object] = field(default_factory=dict)
    pretrained: dict[str, object] = field(default_factory=dict)
    histories: dict[str, list] = field(default_factory=dict)
    from_cache: dict[str, bool] = field(default_factory=dict)


def train_classifiers(data, params: Mapping, device, *, indices=(1, 2)) -> Classifiers:
    """C1 and C2 (and any other index) trained ``classifier_epochs`` on clean data, and when the
    alternating mode runs, pre-trained ``pretrain_epochs``; all cached."""
    result = Classifiers()
    common = dict(batch_size=params["batch_size"], learning_rate=params["classifier_learning_rate"], seed=params["seed"], device=device)
    for index in indices:
        name = f"c{index}"
        model, history, cached = train_classifier(data, index=index, epochs=params["classifier_epochs"], **common)
        result.trained[name], result.histories[name], result.from_cache[name] = model, history, cached
        if "alternating" in params["modes"] and index in (1, 2):
            model, history, cached = train_classifier(data, index=index, epochs=params["pretrain_epochs"], **common)
            result.pretrained[name], result.from_cache[f"{name} pre-trained"] = model, cached
    return result


def classifier_rows(classifiers: Classifiers, data, params: Mapping, device) -> list[tuple]:
    """(name, epochs of clean training, from cache, clean test accuracy) per classifier."""
    from helpers.training import evaluate

    rows = []
    for group, epochs, suffix in ((classifiers.trained, params["classifier_epochs"], ""),
                                  (classifiers.pretrained, params["pretrain_epochs"], " pre-trained")):
        for name, model in group.items():
            _, accuracy = evaluate(model, data.x_test, data.y_test, device=device)
            rows.append((name + suffix, epochs, classifiers.from_cache.get(name + suffix, False), accuracy))
    return rows


def attacker_recipe(params: Mapping, **change) -> Recipe:
    """How every attacker of the run is built and trained (``change`` overrides a field, e.g. the architecture)."""
    recipe = Recipe(epochs=params["attacker_epochs"], batch_size=params["batch_size"], learning_rate=params["attacker_learning_rate"],
                    schedule=params["attacker_schedule"], beta1=params["attacker_beta1"], architecture=params["attacker_architecture"],
                    width=params["attacker_width"], output_mode=params["output_mode"], evaluations_per_epoch=params["evaluations_per_epoch"],
                    objective=params["attacker_objective"])
    return Recipe(**{**recipe.__dict__, **change})


def comparison_intensities(intensities) -> list[float]:
    """The intensities whose attackers are trained once per attacker seed: the one nearest the study's 0.08
    (where it states its sharpest numbers and compares the modes) and the largest."""
    nearest = min(intensities, key=lambda t: abs(t - REFERENCE_INTENSITY))
    return sorted({nearest, max(intensities)})


def attacker_seeds(t: float, params: Mapping) -> list[int]:
    """The attacker seeds at intensity ``t``: ``attacker_seeds`` of them at a comparison intensity, else the first."""
    count = params["attacker_seeds"] if t in comparison_intensities(params["intensities"]) else 1
    return [params["seed"] + k * SEED_STRIDE for k in range(count)]


def mode_intensities(mode: str, params: Mapping) -> list[float]:
    """The intensities a mode trains at: all of ``intensities`` for consecutive, ``alternating_intensities`` else."""
    return list(params["intensities"] if mode == "consecutive" else params["alternating_intensities"])


def run_mode(mode: str, classifiers: Classifiers, data, params: Mapping, device) -> dict[float, SeededRuns]:
    """Train the attackers of ``mode``, one per intensity and attacker seed; returns intensity -> runs over seeds."""
    runs = {}
    data = attacker_data(data, params)
    recipe = attacker_recipe(params, epochs=params["attacker_epochs" if mode == "consecutive" else "alternating_epochs"])
    for t in mode_intensities(mode, params):
        runs[t] = SeededRuns(mode, t)
        for seed in attacker_seeds(t, params):
            if mode == "consecutive":
                run = train_consecutive(classifiers.trained["c1"], classifiers.trained["c2"], data, intensity=t, recipe=recipe,
                                        seed=seed, device=device)
            else:
                run = train_alternating(classifiers.pretrained["c1"], classifiers.pretrained["c2"], data, intensity=t, recipe=recipe,
                                        classifier_learning_rate=params["classifier_learning_rate"], seed=seed, device=device)
            runs[t].runs.append(run)
    return runs


def train_mode(mode: str, classifiers: Classifiers, data, params: Mapping, device) -> dict[float, SeededRuns]:
    """``run_mode`` when ``mode`` is one of the chosen ``modes``, else no runs (an empty dict)."""
    if mode not in params["modes"]:
        return {}
    return run_mode(mode, classifiers, data, params, device)


@dataclass
class Ceiling:
    """Against one classifier at one intensity: the universal perturbation (lower ceiling), converged white-box
    PGD (upper ceiling), both one run (they depend on no attacker seed), and the learned attacker on the same digits
    with every attacker seed, with their transfer."""

    target: str
    intensity: float
    clean: float
    universal: Universal
    pgd: PGDCeiling
    attacker: dict[str, list[float]] = field(default_factory=dict)  # network -> accuracy under A, one value per seed
    clean_others: dict[str, float] = field(default_factory=dict)    # the other networks' clean accuracy on the same digits

    @property
    def digits(self) -> int:
        return self.pgd.digits


def attack_digits(data, params: Mapping):
    """The first ``attack_size`` test digits: where the ceilings and the learned attacker meet."""
    n = params["attack_size"]
    return data.x_test[:n], data.y_test[:n]


def ceiling(target: str, model, others: Mapping, runs: SeededRuns | None, data, params: Mapping, intensity: float, device) -> Ceiling:
    """Both ceilings against ``model`` at ``intensity`` (universal trained on the attacker's training digits),
    beside the learned attackers ``runs`` (one per seed) when there are some; ``others`` are shown every attack
    (transfer)."""
    x, y = attack_digits(data, params)
    train = attacker_data(data, params)
    universal = fit_universal(model, train.x_train, train.y_train, x, y, intensity=intensity, epochs=params["universal_epochs"],
                              others=others, seed=params["seed"], device=device)
    top = pgd_ceiling(model, x, y, eps=intensity, steps=params["pgd_steps"], others=others, seed=params["seed"], device=device)
    learned: dict[str, list[float]] = {}
    for run in (runs.runs if runs is not None else []):
        for name, accuracy in attacker_on(run.attacker, {target: model, **others}, x, y, device=device).items():
            learned.setdefault(name, []).append(accuracy)
    clean_others = {name: accuracy_of(other, x, y, device) for name, other in others.items()}
    return Ceiling(target, intensity, accuracy_of(model, x, y, device), universal, top, learned, clean_others)


def run_ceilings(mode: str, classifiers: Classifiers, runs: Mapping[float, SeededRuns], data, params: Mapping, device) -> list[Ceiling]:
    """The ceilings beside every learned attacker of ``mode`` on its white-box target: for consecutive, the frozen
    C1 at every intensity (with transfer to C2); for alternating, the first seed's C1 at each intensity (each seed
    trains its own C1; the ceilings are measured on one of them). No runs, no ceilings (a mode left out of ``modes``)."""
    if not runs:
        return []
    if mode == "consecutive":
        c1, c2 = classifiers.trained["c1"], classifiers.trained["c2"]
        return [ceiling("c1", c1, {"c2": c2}, runs.get(t), data, params, t, device) for t in params["intensities"]]
    return [ceiling("alternating c1", seeded.first.classifiers["c1"], {}, SeededRuns(mode, t, [seeded.first]), data, params, t, device)
            for t, seeded in sorted(runs.items())]


@dataclass
class ArchitectureComparison:
    """A in both architectures, trained the same way (digits, seed, recipe) against C1 at one intensity."""

    intensity: float
    chosen: str
    runs: dict[str, AttackerRun]  # architecture -> run
    spread: dict[str, float]      # architecture -> per-pixel spread of A(x) across digits, as a share of t


def compare_architectures(classifiers: Classifiers, consecutive: Mapping[float, SeededRuns], data, params: Mapping, device) -> ArchitectureComparison | None:
    """Train the architecture this run did not choose at the largest consecutive intensity, exactly as the chosen
    one's first seed was trained, so the run measures what the skip connections change; None without a consecutive
    run or when ``extras`` leaves this section out."""
    if not consecutive or "architectures" not in params["extras"]:
        return None
    t = max(consecutive)
    chosen = params["attacker_architecture"]
    other = next(a for a in ARCHITECTURES if a != chosen)
    first = consecutive[t].first
    run = train_consecutive(classifiers.trained["c1"], classifiers.trained["c2"], attacker_data(data, params), intensity=t,
                            recipe=attacker_recipe(params, architecture=other), seed=first.seed, device=device,
                            desc=f"A ({other} architecture), consecutive, t={t:g}")
    runs = {chosen: first, other: run}
    spread = {name: perturbation_spread(r, data, device=device)[1] for name, r in runs.items()}
    return ArchitectureComparison(t, chosen, runs, spread)


@dataclass
class Robust:
    """C1 adversarially trained with PGD, and the learned attacker and both ceilings against it."""

    intensity: float
    epochs: int
    pgd_steps: int
    from_cache: bool
    clean: float
    run: AttackerRun
    ceiling: Ceiling
    standard: Ceiling | None  # the same attacks against the clean-trained C1, for comparison


def run_robust(classifiers: Classifiers, ceilings: list[Ceiling], data, params: Mapping, device) -> Robust | None:
    """C1's architecture trained only on PGD examples at the largest intensity (``robust_epochs`` epochs, PGD with
    ``robust_pgd_steps`` steps), then a fresh attacker trained against it (consecutive mode, the run's seed) and
    both ceilings; None when ``extras`` leaves this section out."""
    if "robust" not in params["extras"]:
        return None
    t = max(params["intensities"])
    model, history, cached = train_robust_classifier(
        data, index=ROBUST_INDEX, intensity=t, epochs=params["robust_epochs"], pgd_steps=params["robust_pgd_steps"],
        batch_size=params["batch_size"], learning_rate=params["classifier_learning_rate"], seed=params["seed"], device=device)
    run = train_consecutive(model, classifiers.trained["c2"], attacker_data(data, params), intensity=t, recipe=attacker_recipe(params),
                            seed=params["seed"], device=device, desc=f"A against the robust C1, t={t:g}")
    run.mode = "robust"
    standard = next((c for c in ceilings if c.target == "c1" and c.intensity == t), None)
    top = ceiling("robust c1", model, {"c2": classifiers.trained["c2"]}, SeededRuns("robust", t, [run]), data, params, t, device)
    return Robust(t, params["robust_epochs"], params["robust_pgd_steps"], cached, top.clean, run, top, standard)


def run_speed(consecutive: Mapping[float, SeededRuns], classifiers: Classifiers, data, params: Mapping, device) -> SpeedComparison | None:
    """Wall time of the trained attacker (one forward pass, first seed) and of PGD (``pgd_steps`` steps) on the same
    attack digits at the largest intensity, and the ratio; None when no consecutive attacker was trained."""
    t = max(params["intensities"])
    if t not in consecutive:
        return None
    x, y = attack_digits(data, params)
    return time_attacks(consecutive[t].first.attacker, classifiers.trained["c1"], x, y, intensity=t, steps=params["pgd_steps"], device=device)


@dataclass
class PerturbationStats:
    """How large A's perturbation is and how much it varies across digits, both as a share of t, over seeds."""

    intensity: float
    mean_size: list[float]  # mean |A(x)| / t, one per attacker seed
    spread: list[float]     # per-pixel standard deviation across digits, averaged over pixels, / t, one per seed


def perturbation_spread(run: AttackerRun, data, *, digits: int = 200, device="cpu") -> tuple[float, float]:
    """A's perturbation on the first ``digits`` test digits: its mean size and its spread across digits, / t."""
    x = data.x_test[:digits]
    with torch.no_grad():
        run.attacker.eval()
        delta = run.attacker.perturbation(x.to(device)).cpu()
    t = run.intensity
    return delta.abs().mean().item() / t, delta.std(0).mean().item() / t


def perturbation_stats(runs: Mapping[float, SeededRuns], data, *, digits: int = 200, device="cpu") -> list[PerturbationStats]:
    """Per intensity and attacker seed, A's perturbation: its size and its spread across digits.

    A spread near 0 means A has learned one input-independent pattern (a universal perturbation); a
    large spread means it tailors the perturbation to each digit."""
    stats = []
    for t, seeded in sorted(runs.items()):
        measured = [perturbation_spread(run, data, digits=digits, device=device) for run in seeded.runs]
        stats.append(PerturbationStats(t, [m[0] for m in measured], [m[1] for m in measured]))
    return stats


@dataclass
class Ensemble:
    """The attacker trained against several classifiers and the single-target one, on the members and the unseen C2."""

    intensity: float
    size: int
    single: AttackerRun
    ensemble: AttackerRun
    rows: list[dict]


def run_ensemble(classifiers: Classifiers, consecutive: Mapping[float, SeededRuns], data, params: Mapping, device) -> Ensemble | None:
    """The attacker trained against the average loss of C1, C3, ... (``ensemble_size`` classifiers, trained
    like C1 on clean data), and the single-target attacker at the same intensity (the consecutive-mode run of
    the first seed when there is one, else trained here), both evaluated on the members and on the unseen C2;
    None when ``extras`` leaves this section out."""
    if "ensemble" not in params["extras"]:
        return None
    t = params["ensemble_intensity"]
    recipe = attacker_recipe(params)
    extra = tuple(range(3, params["ensemble_size"] + 2))
    more = train_classifiers(data, {**params, "modes": []}, device, indices=extra)
    classifiers.trained.update(more.trained)
    classifiers.from_cache.update(more.from_cache)
    data = attacker_data(data, params)
    members = {"c1": classifiers.trained["c1"], **more.trained}
    unseen = {"c2": classifiers.trained["c2"]}
    single = consecutive[t].first if t in consecutive else train_consecutive(
        classifiers.trained["c1"], classifiers.trained["c2"], data, intensity=t, recipe=recipe, seed=params["seed"], device=device)
    ensemble = train_ensemble_attacker(members, unseen, data, intensity=t, recipe=recipe, seed=params["seed"], device=device)
    return Ensemble(t, params["ensemble_size"], single, ensemble, ensemble_rows(single, ensemble, members, unseen, data, device=device))
