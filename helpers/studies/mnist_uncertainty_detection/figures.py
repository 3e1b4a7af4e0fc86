"""Figures of study 3: training curves, the study's Figure 1 (uncertainty histograms), ROC curves of the
uncertainty alone, the adaptive attack's convergence curve, and a grid of clean and adversarial digits."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from helpers import plots

from .study import TITLES, AdaptiveResult, AttackRun, roc_points

KEY_FIGURE = "roc_uncertainty"


def _title(name: str) -> str:
    return TITLES.get(name, name)


def training_history(history):
    return plots.plot_training_history(history, title="LeNet with dropout")


def uncertainty_histograms(runs: Mapping[str, AttackRun], bins: int = 50):
    """The study's Figure 1: uncertainty of clean versus adversarial images, one panel per attack."""
    import matplotlib.pyplot as plt

    plots.use_style()
    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.2), squeeze=False)
    for ax, (name, run) in zip(axes[0], runs.items()):
        u, adv = run.scores.uncertainty, run.mixed.is_adversarial
        edges = np.linspace(0, max(u.max(), 1e-6), bins + 1)
        ax.hist(u[~adv], bins=edges, alpha=0.6, label="clean", color="#1f77b4")
        ax.hist(u[adv], bins=edges, alpha=0.6, label="adversarial", color="#d62728")
        chosen = run.evaluations["hybrid"]["settings"][0]
        for value, style in ((chosen["low"], ":"), (chosen["high"], "--")):
            if edges[0] <= value <= edges[-1]:
                ax.axvline(value, color="k", linestyle=style, linewidth=1)
        ax.set(title=_title(name), xlabel="MC-dropout uncertainty", yscale="log")
    axes[0][0].set_ylabel("images (log scale)")
    axes[0][0].legend()
    fig.suptitle("Uncertainty of clean and adversarial digits (dotted: L, dashed: H, fold 0)")
    fig.tight_layout()
    return fig


def roc_uncertainty(runs: Mapping[str, AttackRun]):
    """ROC curve of the uncertainty alone as a detector, one line per mixed set, with its AUC."""
    import matplotlib.pyplot as plt

    plots.use_style()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, run in runs.items():
        fpr, tpr, auc = roc_points(run.scores.uncertainty, run.mixed.is_adversarial)
        ax.plot(fpr, tpr, label=f"{_title(name)} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="false positive rate (clean flagged)", ylabel="true positive rate (adversarial flagged)",
           title="Uncertainty alone as a detector", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return fig


def convergence_curve(adaptive: AdaptiveResult):
    """Pass-and-fool rate against the deployed thresholds: over attack steps (one line per masks-per-step
    count) and over masks per step at the default step count."""
    import matplotlib.pyplot as plt

    plots.use_style()
    c = adaptive.convergence
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.2, 3.6))
    for masks, curve in sorted(c.by_steps.items()):
        steps = sorted(curve)
        left.plot(steps, [100 * curve[s] for s in steps], marker="o", label=f"{masks} masks per step")
    right.plot(list(c.by_eot), [100 * v for v in c.by_eot.values()], marker="o", color="#2ca02c")
    for ax in (left, right):
        ax.set_ylim(0, 101)
        ax.set_xscale("log", base=2)
    left.axvline(c.steps, color="k", linestyle="--", linewidth=1)
    left.set(xlabel="attack steps", ylabel="pass and fool (%)", title="over steps")
    left.legend(loc="lower right")
    right.set(xlabel="dropout masks per step", title=f"over masks per step ({c.steps} steps)")
    fig.suptitle(f"Adaptive attack on {c.n} digits, {_title(adaptive.reference)} thresholds (dashed: default steps)")
    fig.tight_layout()
    return fig


def example_rows(runs: Mapping[str, AttackRun], count: int = 8):
    """Images for ``plots.image_grid``: the first ``count`` source digits, clean and per attack, with captions."""
    first = next(iter(runs.values()))
    count = min(count, first.clean_count)
    rows, labels, captions, correct = [], [], [], []

    def add(label, run, offset):
        idx = np.arange(offset, offset + count)
        rows.append(run.mixed.x[idx])
        labels.append(label)
        captions.append([f"{run.scores.provisional[i]} u={run.scores.uncertainty[i]:.3f} v={run.scores.votes[i]}" for i in idx])
        correct.append(list(run.scores.provisional[idx] == run.mixed.y[idx]))

    add("clean", first, 0)
    for name, run in runs.items():
        if run.clean_count >= count:
            add(_title(name), run, run.clean_count)
    return rows, labels, captions, correct


def examples_grid(runs: Mapping[str, AttackRun], count: int = 8):
    """The first source digits, clean and under each attack, with class, uncertainty u and agreeing crops v."""
    rows, labels, captions, correct = example_rows(runs, count=count)
    return plots.image_grid(rows, row_labels=labels, captions=captions, correct=correct, scale=1.5,
                            title="Clean and adversarial digits: class, uncertainty u, agreeing crops v")
