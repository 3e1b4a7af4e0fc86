"""The study's figures 2 to 6, and the attacker-versus-PGD comparison, in the project's style.

The ``fig*`` functions are what the notebook saves under the same names; a training mode left out of
``modes`` gives a figure that says so instead of an empty plot. Where an attacker was trained with several
attacker seeds, its line is the mean over seeds and a band of the same colour spans the lowest to the highest seed."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import torch

from helpers import plots
from helpers.training import predict
from .training import AttackerRun, SeededRuns

KEY_FIGURE = "fig3_attacked_accuracy"
"""Figure 3 with both ceilings: the learned attacker per epoch between the universal perturbation and PGD."""
GRID_DIGITS = 8
NETWORKS = (("c1", "C1 (attacked during training)"), ("c2", "C2 (never sees attacked data: transfer)"))


def perturbation_grid(runs: Mapping[float, AttackerRun], x: torch.Tensor, y: torch.Tensor, classifier, *, device="cpu") -> plt.Figure:
    """Figure 2: for each intensity, A's perturbation (grey = 0, scaled to +-t) and the attacked digit,
    captioned with the classifier's prediction (green right, red wrong); one attacker per intensity."""
    rows, labels, captions, correct = [x.numpy()], ["clean"], [], []
    predictions = predict(classifier, x, device=device).argmax(1).numpy()
    captions.append([f"C1: {p}" for p in predictions])
    correct.append(list(predictions == y.numpy()))
    for t, run in sorted(runs.items()):
        with torch.no_grad():
            run.attacker.eval()
            delta = run.attacker.perturbation(x.to(device)).cpu()
            attacked = run.attacker(x.to(device)).cpu()
        shown = (delta / (2 * t) + 0.5).numpy() if t > 0 else np.full_like(x.numpy(), 0.5)
        predictions = predict(classifier, attacked, device=device).argmax(1).numpy()
        rows += [shown, attacked.numpy()]
        labels += [f"A(x), t={t:g}", f"x+A(x), t={t:g}"]
        captions += [[f"|d|<={delta[i].abs().max():.2f}" for i in range(len(x))], [f"C1: {p}" for p in predictions]]
        correct += [[True] * len(x), list(predictions == y.numpy())]
    fig = plots.image_grid(rows, row_labels=labels, captions=captions, correct=correct,
                           title="Perturbations (grey = 0, black/white = -t/+t) and attacked digits per intensity")
    return fig


def seed_band(ax, x, curves: Sequence[Sequence[float]], *, scale: float = 100, color: str, **style) -> None:
    """The mean of ``curves`` (one per attacker seed) as a line and, with more than one seed, a band from the lowest
    to the highest seed at every point."""
    values = scale * np.asarray(curves, dtype=float)
    ax.plot(x, values.mean(0), color=color, **style)
    if len(values) > 1:
        ax.fill_between(x, values.min(0), values.max(0), color=color, alpha=0.18, linewidth=0)


def _seeds_label(seeded: SeededRuns) -> str:
    n = len(seeded.runs)
    return f", {n} seeds" if n > 1 else ""


def _panels(title: str, n: int = 2, width: float = 5.2):
    plots.use_style()
    fig, axes = plt.subplots(1, n, figsize=(width * n, 3.6), squeeze=False)
    fig.suptitle(title, fontweight="bold")
    return fig, axes[0]


def curves_per_epoch(runs: Mapping[float, SeededRuns], *, metric: str = "accuracy", title: str, log: bool = False, show_clean: bool = True,
                     ceilings: Sequence | None = None) -> plt.Figure:
    """Figures 3, 4 and 5: attacked accuracy (or loss) per epoch, one line per intensity (the mean over attacker seeds,
    with a band from the lowest to the highest seed), C1 and C2 side by side.

    Dotted lines in the same colour are the clean numbers (they move too in alternating mode, where C1 and
    C2 keep training). ``ceilings`` (``study.Ceiling`` against C1) add, per intensity and in its colour, the
    universal perturbation (dashed, upper line) and converged PGD (dash-dotted, lower line) on the right: the
    learned attacker's curve should end between them; on C2's panel they are the transfers of the same attacks."""
    fig, axes = _panels(title)
    by_t = {c.intensity: c for c in (ceilings or ()) if c.target == "c1"}
    scale = 100 if metric == "accuracy" else 1
    for ax, (net, label) in zip(axes, NETWORKS):
        for index, (t, seeded) in enumerate(sorted(runs.items())):
            color = f"C{index}"
            epochs = seeded.first.curve("epoch")
            alternating = seeded.mode == "alternating"
            seed_band(ax, epochs, [run.curve(f"{net}_attacked_{metric}") for run in seeded.runs], scale=scale, color=color,
                      marker="o", label=f"t={t:g}{_seeds_label(seeded)}")
            if show_clean and (index == 0 or alternating):
                clean = np.mean([run.curve(f"{net}_clean_{metric}") for run in seeded.runs], axis=0)
                ax.plot(epochs, scale * clean, linestyle=":", color=color if alternating else "grey",
                        label="clean" if not alternating else None)
            c = by_t.get(t)
            if c is not None and metric == "accuracy":
                universal = c.universal.accuracy if net == "c1" else c.universal.transfer.get(net)
                pgd = c.pgd.best if net == "c1" else c.pgd.transfer.get(net)
                if universal is not None:
                    ax.axhline(100 * universal, color=color, linestyle="--", linewidth=1)
                if pgd is not None:
                    ax.axhline(100 * pgd, color=color, linestyle="-.", linewidth=1)
        if by_t and metric == "accuracy":  # legend entries for the ceilings, in grey: each line takes its t's colour
            ax.plot([], [], color="grey", linestyle="--", linewidth=1, label="universal perturbation (same t)")
            ax.plot([], [], color="grey", linestyle="-.", linewidth=1, label="converged PGD (same t)")
        ylabel = "accuracy (%)" if metric == "accuracy" else "cross-entropy"
        ax.set(xlabel="attacker training epoch", ylabel=f"attacked {ylabel}", title=label)
        if metric == "accuracy":
            ax.set_ylim(0, 102)
            ax.axhline(10, color="lightgrey", linewidth=2, zorder=0)  # chance
        if log:
            ax.set_yscale("log")
            low, high = ax.get_ylim()
            if high < 10 * low:  # less than a decade: plain labels instead of "2.16 x 10^0"
                plain = mticker.FuncFormatter(lambda value, _: f"{value:.4g}")
                ax.yaxis.set_major_formatter(plain)
                ax.yaxis.set_minor_formatter(plain)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def modes_compared(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns], intensities: Sequence[float]) -> plt.Figure:
    """Figure 6: attacked accuracy per epoch, consecutive (solid) against alternating (dashed), mean over attacker
    seeds with the lowest-to-highest band."""
    fig, axes = _panels("Consecutive (solid) and alternating (dashed) training compared")
    for ax, (net, label) in zip(axes, NETWORKS):
        for index, t in enumerate(intensities):
            for runs, style in ((consecutive, "-"), (alternating, "--")):
                seeded = runs[t]
                seed_band(ax, seeded.first.curve("epoch"), [run.curve(f"{net}_attacked_accuracy") for run in seeded.runs],
                          color=f"C{index}", linestyle=style, marker="o", label=f"t={t:g}, {seeded.mode}{_seeds_label(seeded)}")
        ax.set(xlabel="attacker training epoch", ylabel="attacked accuracy (%)", title=label, ylim=(0, 102))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ceilings_figure(ceilings: Sequence) -> plt.Figure:
    """Accuracy against the budget t on C1 (left) and C2 (right): the universal perturbation, the learned attacker
    (mean over attacker seeds, band from the lowest to the highest seed) and converged PGD on the same digits
    (consecutive mode; C2 sees the same attacked digits: transfer)."""
    rows = sorted((c for c in ceilings if c.target == "c1"), key=lambda c: c.intensity)
    fig, axes = _panels("The learned attacker between its two ceilings, same budget t")
    for ax, (net, label) in zip(axes, NETWORKS):
        ts = [c.intensity for c in rows]
        ceilings_lines = (
            ("universal perturbation (one run)", [c.universal.accuracy if net == "c1" else c.universal.transfer.get(net) for c in rows], "C1", "s"),
            ("converged PGD (white box on C1, one run)", [c.pgd.best if net == "c1" else c.pgd.transfer.get(net) for c in rows], "C0", "^"),
        )
        for name, values, color, marker in ceilings_lines:
            points = [(t, 100 * v) for t, v in zip(ts, values) if v is not None]
            if points:
                ax.plot(*zip(*points), marker=marker, color=color, label=name)
        learned = [(c.intensity, c.attacker[net]) for c in rows if c.attacker.get(net)]
        if learned:
            x = [t for t, _ in learned]
            mean = [100 * np.mean(v) for _, v in learned]
            ax.plot(x, mean, marker="o", color="C2", label="learned attacker A (mean over seeds)")
            if any(len(v) > 1 for _, v in learned):
                ax.fill_between(x, [100 * min(v) for _, v in learned], [100 * max(v) for _, v in learned], color="C2", alpha=0.18,
                                linewidth=0, label="A: lowest to highest seed")
        ax.axhline(10, color="lightgrey", linewidth=2, zorder=0)  # chance
        ax.set(xlabel="intensity t (L-infinity budget)", ylabel="accuracy (%)", title=label, ylim=(0, 102))
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts)
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_locator(mticker.NullLocator())
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def not_run(title: str, reason: str) -> plt.Figure:
    """A small figure saying why there is nothing to plot (a mode left out of ``modes``)."""
    plots.use_style()
    fig, ax = plt.subplots(figsize=(6, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, reason, ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(title, fontweight="bold")
    return fig


def _mode_missing(mode: str) -> str:
    return f"The {mode} mode is not in this run's modes: nothing to plot."


def fig2_perturbations(consecutive: Mapping[float, SeededRuns], data, classifiers, *, device="cpu") -> plt.Figure:
    """Figure 2 for the consecutive-mode attackers (the first attacker seed's) on the first test digits, against C1."""
    if not consecutive:
        return not_run("Figure 2: perturbations per intensity", _mode_missing("consecutive"))
    x, y = data.x_test[:GRID_DIGITS], data.y_test[:GRID_DIGITS]
    first = {t: seeded.first for t, seeded in consecutive.items()}
    return perturbation_grid(first, x, y, classifiers.trained["c1"], device=device)


def fig3_attacked_accuracy(consecutive: Mapping[float, SeededRuns], ceilings: Sequence | None = None) -> plt.Figure:
    """Figure 3, with each intensity's two ceilings (when given) as horizontal lines in its colour."""
    title = "Figure 3: attacked accuracy per epoch, consecutive mode"
    return curves_per_epoch(consecutive, title=title, ceilings=ceilings) if consecutive else not_run(title, _mode_missing("consecutive"))


def fig4_attacked_loss(consecutive: Mapping[float, SeededRuns]) -> plt.Figure:
    title = "Figure 4: attacked loss per epoch, consecutive mode"
    if not consecutive:
        return not_run(title, _mode_missing("consecutive"))
    return curves_per_epoch(consecutive, metric="loss", log=True, title=title)


def fig5_alternating(alternating: Mapping[float, SeededRuns]) -> plt.Figure:
    title = "Figure 5: attacked accuracy per epoch, alternating mode"
    return curves_per_epoch(alternating, title=title) if alternating else not_run(title, _mode_missing("alternating"))


def compared_intensities(intensities: Sequence[float]) -> list[float]:
    """The intensities Figure 6 shows: every one both modes ran (the study compares them at 0.04 and 0.08)."""
    return sorted(set(intensities))


def fig6_modes_compared(consecutive: Mapping[float, SeededRuns], alternating: Mapping[float, SeededRuns]) -> plt.Figure:
    """Figure 6 at every intensity both modes ran."""
    if not (consecutive and alternating):
        return not_run("Figure 6: consecutive and alternating training compared",
                       "Both modes must be in this run's modes to compare them.")
    shared = sorted(set(consecutive) & set(alternating))
    return modes_compared(consecutive, alternating, compared_intensities(shared))
