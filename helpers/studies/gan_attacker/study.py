"""Stages of study 4: a generative attacker network against MNIST classifiers.

The notebook ``notebooks/04_gan_attacker.ipynb`` calls these functions; each returns plain results
(dataclasses, dicts of ``AttackerRun`` per intensity, lists of rows), and ``report.py`` turns them into
tables, prose and the headline. A training mode left out of ``modes`` gives an empty result, which the
report and the figures state as not run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from helpers.data import load_mnist
from .ceilings import Universal, PGDCeiling, pgd_ceiling, train_robust_classifier, universal_perturbation
from .comparison import SpeedComparison, attacker_on, time_attacks
from .ensemble import ensemble_rows, train_ensemble_attacker
from .networks import ARCHITECTURES
from .training import AttackerRun, train_alternating, train_classifier, train_consecutive

STUDY = "gan_attacker"
TITLE = "A generative attacker network against MNIST classifiers"
ROBUST_INDEX = 1
"""The robust C1 starts from C1's initialisation (its cache entry is its own)."""


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


def attacker_settings(params: Mapping, device) -> dict:
    """The settings every attacker training shares."""
    return dict(output_mode=params["output_mode"], architecture=params["attacker_architecture"], epochs=params["attacker_epochs"], batch_size=params["batch_size"],
                learning_rate=params["attacker_learning_rate"], schedule=params["attacker_schedule"],
                evaluations_per_epoch=params["evaluations_per_epoch"], seed=params["seed"], device=device)


def mode_intensities(mode: str, params: Mapping) -> list[float]:
    """The intensities a mode trains at: all of ``intensities`` for consecutive, ``alternating_intensities`` else."""
    return list(params["intensities"] if mode == "consecutive" else params["alternating_intensities"])


def run_mode(mode: str, classifiers: Classifiers, data, params: Mapping, device) -> dict[float, AttackerRun]:
    """Train one attacker per intensity of ``mode``; returns intensity -> run."""
    runs = {}
    data = attacker_data(data, params)
    common = attacker_settings(params, device)
    for t in mode_intensities(mode, params):
        if mode == "consecutive":
            runs[t] = train_consecutive(classifiers.trained["c1"], classifiers.trained["c2"], data, intensity=t, **common)
        else:
            runs[t] = train_alternating(classifiers.pretrained["c1"], classifiers.pretrained["c2"], data, intensity=t,
                                        classifier_learning_rate=params["classifier_learning_rate"], **common)
    return runs


def train_mode(mode: str, classifiers: Classifiers, data, params: Mapping, device) -> dict[float, AttackerRun]:
    """``run_mode`` when ``mode`` is one of the chosen ``modes``, else no runs (an empty dict)."""
    if mode not in params["modes"]:
        return {}
    return run_mode(mode, classifiers, data, params, device)


@dataclass
class Ceiling:
    """Against one classifier at one intensity: the universal perturbation (lower ceiling), converged
    white-box PGD (upper ceiling) and the learned attacker on the same digits, with their transfer."""

    target: str
    intensity: float
    clean: float
    universal: Universal
    pgd: PGDCeiling
    attacker: dict[str, float] = field(default_factory=dict)  # network -> accuracy under A, same digits


def attack_digits(data, params: Mapping):
    """The first ``attack_size`` test digits: where the ceilings and the learned attacker meet."""
    n = params["attack_size"]
    return data.x_test[:n], data.y_test[:n]


def ceiling(target: str, model, others: Mapping, run: AttackerRun | None, data, params: Mapping, intensity: float, device) -> Ceiling:
    """Both ceilings against ``model`` at ``intensity`` (universal trained on the attacker's training digits),
    beside the learned attacker ``run`` when there is one; ``others`` are shown every attack (transfer)."""
    from .ceilings import accuracy_of

    x, y = attack_digits(data, params)
    train = attacker_data(data, params)
    universal = universal_perturbation(model, train.x_train, train.y_train, x, y, intensity=intensity, epochs=params["universal_epochs"],
                                       others=others, seed=params["seed"], device=device)
    pgd = pgd_ceiling(model, x, y, eps=intensity, steps=params["pgd_steps"], others=others, seed=params["seed"], device=device)
    learned = attacker_on(run.attacker, {target: model, **others}, x, y, device=device) if run is not None else {}
    return Ceiling(target, intensity, accuracy_of(model, x, y, device), universal, pgd, learned)


def run_ceilings(mode: str, classifiers: Classifiers, runs: Mapping[float, AttackerRun], data, params: Mapping, device) -> list[Ceiling]:
    """The ceilings beside every learned attacker of ``mode`` on its white-box target: for consecutive, the frozen
    C1 at every intensity (with transfer to C2); for alternating, each run's own C1 at its intensity. No runs,
    no ceilings (a mode left out of ``modes``)."""
    if not runs:
        return []
    if mode == "consecutive":
        c1, c2 = classifiers.trained["c1"], classifiers.trained["c2"]
        return [ceiling("c1", c1, {"c2": c2}, runs.get(t), data, params, t, device) for t in params["intensities"]]
    return [ceiling("alternating c1", run.classifiers["c1"], {}, run, data, params, t, device) for t, run in sorted(runs.items())]


@dataclass
class ArchitectureComparison:
    """A in both architectures, trained the same way (digits, seed, schedule, epochs) against C1 at one intensity."""

    intensity: float
    chosen: str
    runs: dict[str, AttackerRun]  # architecture -> run
    spread: dict[str, float]      # architecture -> per-pixel spread of A(x) across digits, as a share of t


def compare_architectures(classifiers: Classifiers, consecutive: Mapping[float, AttackerRun], data, params: Mapping, device) -> ArchitectureComparison | None:
    """Train the architecture this run did not choose at the largest consecutive intensity, exactly as the chosen
    one was trained, so the run measures what the skip connections change; None without a consecutive run."""
    if not consecutive:
        return None
    t = max(consecutive)
    chosen = params["attacker_architecture"]
    other = next(a for a in ARCHITECTURES if a != chosen)
    settings = {**attacker_settings(params, device), "architecture": other}
    run = train_consecutive(classifiers.trained["c1"], classifiers.trained["c2"], attacker_data(data, params), intensity=t,
                            desc=f"A ({other} architecture), consecutive, t={t:g}", **settings)
    runs = {chosen: consecutive[t], other: run}
    spread = {name: perturbation_stats({t: r}, data, device=device)[0].spread for name, r in runs.items()}
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


def run_robust(classifiers: Classifiers, consecutive: Mapping[float, AttackerRun], ceilings: list[Ceiling], data, params: Mapping, device) -> Robust:
    """C1's architecture trained only on PGD examples at the largest intensity (``robust_epochs`` epochs, PGD with
    ``robust_pgd_steps`` steps), then a fresh attacker trained against it (consecutive mode) and both ceilings."""
    t = max(params["intensities"])
    model, history, cached = train_robust_classifier(
        data, index=ROBUST_INDEX, intensity=t, epochs=params["robust_epochs"], pgd_steps=params["robust_pgd_steps"],
        batch_size=params["batch_size"], learning_rate=params["classifier_learning_rate"], seed=params["seed"], device=device)
    run = train_consecutive(model, classifiers.trained["c2"], attacker_data(data, params), intensity=t,
                            desc=f"A against the robust C1, t={t:g}", **attacker_settings(params, device))
    run.mode = "robust"
    standard = next((c for c in ceilings if c.target == "c1" and c.intensity == t), None)
    top = ceiling("robust c1", model, {"c2": classifiers.trained["c2"]}, run, data, params, t, device)
    return Robust(t, params["robust_epochs"], params["robust_pgd_steps"], cached, top.clean, run, top, standard)


def run_speed(consecutive: Mapping[float, AttackerRun], classifiers: Classifiers, data, params: Mapping, device) -> SpeedComparison | None:
    """Wall time of the trained attacker (one forward pass) and of PGD (``pgd_steps`` steps) on the same attack
    digits at the largest intensity, and the ratio; None when no consecutive attacker was trained."""
    t = max(params["intensities"])
    if t not in consecutive:
        return None
    x, y = attack_digits(data, params)
    return time_attacks(consecutive[t].attacker, classifiers.trained["c1"], x, y, intensity=t, steps=params["pgd_steps"], device=device)


@dataclass
class PerturbationStats:
    """How large A's perturbation is and how much it varies across digits, both as a share of t."""

    intensity: float
    mean_size: float  # mean |A(x)| / t
    spread: float     # per-pixel standard deviation across digits, averaged over pixels, / t


def perturbation_stats(runs: Mapping[float, AttackerRun], data, *, digits: int = 200, device="cpu") -> list[PerturbationStats]:
    """Per intensity, A's perturbation on the first ``digits`` test digits: its size and its spread.

    A spread near 0 means A has learned one input-independent pattern (a universal perturbation); a
    large spread means it tailors the perturbation to each digit."""
    x = data.x_test[:digits]
    stats = []
    for t, run in sorted(runs.items()):
        with torch.no_grad():
            run.attacker.eval()
            delta = run.attacker.perturbation(x.to(device)).cpu()
        stats.append(PerturbationStats(t, delta.abs().mean().item() / t, delta.std(0).mean().item() / t))
    return stats


def run_ensemble(classifiers: Classifiers, consecutive: Mapping[float, AttackerRun], data, params: Mapping, device) -> tuple[AttackerRun, AttackerRun, list[dict]]:
    """The attacker trained against the average loss of C1, C3, ... (``ensemble_size`` classifiers, trained
    like C1 on clean data), and the single-target attacker at the same intensity (the consecutive-mode run
    when there is one, else trained here), both evaluated on the members and on the unseen C2."""
    t = params["ensemble_intensity"]
    common = attacker_settings(params, device)
    extra = tuple(range(3, params["ensemble_size"] + 2))
    more = train_classifiers(data, {**params, "modes": []}, device, indices=extra)
    classifiers.trained.update(more.trained)
    classifiers.from_cache.update(more.from_cache)
    data = attacker_data(data, params)
    members = {"c1": classifiers.trained["c1"], **more.trained}
    unseen = {"c2": classifiers.trained["c2"]}
    single = consecutive.get(t) or train_consecutive(classifiers.trained["c1"], classifiers.trained["c2"], data, intensity=t, **common)
    ensemble = train_ensemble_attacker(members, unseen, data, intensity=t, **common)
    return single, ensemble, ensemble_rows(single, ensemble, members, unseen, data, device=device)
