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
from .comparison import pgd_comparison
from .ensemble import ensemble_rows, train_ensemble_attacker
from .training import AttackerRun, train_alternating, train_classifier, train_consecutive

STUDY = "gan_attacker"
TITLE = "A generative attacker network against MNIST classifiers"
PGD_BATCH_SIZE = 128


def load_data(params: Mapping[str, Any]):
    """A stratified random subset of MNIST as float tensors in [0, 1]."""
    return load_mnist(params["train_size"], params["test_size"], seed=params["seed"])


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


def run_mode(mode: str, classifiers: Classifiers, data, params: Mapping, device) -> dict[float, AttackerRun]:
    """Train one attacker per intensity in ``mode``; returns intensity -> run."""
    runs = {}
    data = attacker_data(data, params)
    common = dict(output_mode=params["output_mode"], epochs=params["attacker_epochs"], batch_size=params["batch_size"],
                  learning_rate=params["attacker_learning_rate"], seed=params["seed"], device=device)
    for t in params["intensities"]:
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


def run_pgd(classifiers: Classifiers, consecutive: Mapping[float, AttackerRun], data, params: Mapping, device) -> list[dict]:
    """PGD with budget eps = t on the first ``attack_size`` test digits, white box on C1 and transferred
    to C2, beside the consecutive-mode attacker on the same digits (see ``comparison.pgd_comparison``)."""
    n = params["attack_size"]
    return pgd_comparison(
        classifiers.trained["c1"], classifiers.trained["c2"], consecutive, data.x_test[:n], data.y_test[:n],
        intensities=params["intensities"], steps=params["pgd_steps"], batch_size=PGD_BATCH_SIZE, device=device,
    )


def run_ensemble(classifiers: Classifiers, consecutive: Mapping[float, AttackerRun], data, params: Mapping, device) -> tuple[AttackerRun, AttackerRun, list[dict]]:
    """The attacker trained against the average loss of C1, C3, ... (``ensemble_size`` classifiers, trained
    like C1 on clean data), and the single-target attacker at the same intensity (the consecutive-mode run
    when there is one, else trained here), both evaluated on the members and on the unseen C2."""
    t = params["ensemble_intensity"]
    common = dict(output_mode=params["output_mode"], epochs=params["attacker_epochs"], batch_size=params["batch_size"],
                  learning_rate=params["attacker_learning_rate"], seed=params["seed"], device=device)
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
