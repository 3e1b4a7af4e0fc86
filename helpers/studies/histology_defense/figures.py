"""The study's figures, in the project's style (the notebook saves them with ``run.save``)."""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np

from helpers import plots
from helpers.plots import image_grid, use_style
from .preprocessors import PREPROCESSORS, SearchResult
from .reference import STUDY_LIGHTGBM, STUDY_PREPROCESSORS

KEY_FIGURE = "preprocessor_search"


def training_history(fixed) -> plt.Figure:
    """The CNN's training curves; a note instead when the model came from ``model_path`` (no history)."""
    if fixed.history:
        return plots.plot_training_history(fixed.history, title="Histology CNN")
    use_style()
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, f"Histology CNN {fixed.source}: no training history", ha="center", va="center")
    return fig


def examples(fixed, adv, classes, shown: int = 6) -> plt.Figure:
    """The first ``shown`` clean tiles with at least one adversarial version, and those versions (one row per attack)."""
    mix = adv.mix
    tiles = [t for t in range(len(fixed.y_clean)) if (mix.tile[mix.is_adversarial] == t).any()][:shown] or \
        list(range(min(shown, len(fixed.y_clean))))
    rows, row_labels = [fixed.x_clean[tiles]], ["clean"]
    for config in adv.configs:
        picks = [np.flatnonzero((mix.tile == t) & (mix.attack == config.label)) for t in tiles]
        rows.append([mix.x[p[0]] if len(p) else fixed.x_clean[t] for p, t in zip(picks, tiles)])
        row_labels.append(config.label)
    predictions = [adv.classifier.predict(np.stack(r)).argmax(1) for r in rows]
    return plot_examples(rows, row_labels=row_labels, predictions=predictions, labels=fixed.y_clean[tiles], classes=classes,
                         title="Clean tiles and their adversarial versions (an unfooled attack shows the clean tile)")


def preprocessor_search(searches: Mapping[str, SearchResult]) -> plt.Figure:
    """``plot_search`` for every searched pre-processor, one row each, with the study's best value where it gives one."""
    use_style()
    fig, axes = plt.subplots(len(searches), 2, figsize=(10, 3.9 * len(searches)), gridspec_kw={"width_ratios": [2, 1]},
                             squeeze=False)
    for (acc_ax, time_ax), (name, result) in zip(axes, searches.items()):
        draw_search(acc_ax, time_ax, name, result, study_value=STUDY_PREPROCESSORS[name]["best_value"])
    fig.tight_layout()
    return fig


def split_ratio(ratios) -> plt.Figure:
    return plot_split_ratios(ratios.summary, study_ratio=STUDY_LIGHTGBM["validation_split"])


def plot_search(name: str, result: SearchResult, *, study_value=None) -> plt.Figure:
    """One pre-processor's search as a figure of its own (see ``draw_search``)."""
    use_style()
    fig, (acc_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    draw_search(acc_ax, time_ax, name, result, study_value=study_value)
    fig.tight_layout()
    return fig


def draw_search(acc_ax, time_ax, name: str, result: SearchResult, *, study_value=None) -> None:
    """Clean accuracy, adversarial accuracy and harmonic mean (left) and compute time (right) against the
    hyperparameter; hollow markers: coarse stage (sample), filled: fine stage (whole set)."""
    spec = PREPROCESSORS[name]
    series = (("clean", "clean accuracy", "#2ca02c"), ("adversarial", "adversarial accuracy", "#d62728"),
              ("harmonic", "harmonic mean", "#1f77b4"))
    for stage, style in (("coarse", dict(linestyle="--", markerfacecolor="none", alpha=0.7)), ("fine", dict(linestyle="-"))):
        records = sorted((r for r in result.records if r["stage"] == stage), key=lambda r: r["value"])
        if not records:
            continue
        values = [r["value"] for r in records]
        n = records[0]["images"]
        for key, label, color in series:
            acc_ax.plot(values, [100 * r[key] for r in records], marker="o", color=color, label=f"{label}, {stage} ({n} img)", **style)
        time_ax.plot(values, [r["ms_per_image"] for r in records], marker="o", color="#7f7f7f", label=f"{stage} ({n} img)", **style)
    best = result.best["value"]
    acc_ax.axvline(best, color="#1f77b4", linestyle=":", linewidth=1)
    acc_ax.annotate(f"best {best:g}", (best, 3), color="#1f77b4", fontsize=8, ha="left")
    if study_value is not None:
        acc_ax.axvline(study_value, color="black", linestyle=":", linewidth=1)
        acc_ax.annotate(f"study {study_value:g}", (study_value, 10), fontsize=8, ha="left")
    acc_ax.set(xlabel=spec.hyperparameter, ylabel="%", ylim=(0, 102), title=f"{spec.title}: accuracy and objective")
    acc_ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    time_ax.set(xlabel=spec.hyperparameter, ylabel="ms per image (pre-processing + CNN)", title="compute time")
    time_ax.legend(fontsize=7)


def plot_split_ratios(summary: list[dict], *, study_ratio: float | None = None) -> plt.Figure:
    """Harmonic mean on the validation part and on the fixed held-out tiles against the validation ratio (mean +- std over seeds)."""
    use_style()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ratios = [r["ratio"] for r in summary]
    for key, label, color in (("validation_harmonic", "validation part", "#ff7f0e"), ("test_harmonic", "held-out tiles", "#1f77b4")):
        mean = np.array([r[f"{key}_mean"] for r in summary])
        std = np.array([r[f"{key}_std"] for r in summary])
        ax.errorbar(ratios, 100 * mean, yerr=100 * std, marker="o", capsize=4, color=color, label=label)
    if study_ratio is not None:
        ax.axvline(study_ratio, color="black", linestyle=":", linewidth=1, label=f"study's split {study_ratio:g}")
    seeds = summary[0]["seeds"] if summary else 0
    ax.set(xlabel="validation split ratio", ylabel="harmonic mean (%)", ylim=(0, 102),
           title=f"LightGBM post-processor: split ratio ({seeds} seeds, mean +- std)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_examples(rows, *, row_labels, predictions, labels, classes, title) -> plt.Figure:
    """Tiles in rows (clean, attacked, pre-processed ...) with the predicted group above each, green right, red wrong."""
    captions = [[classes[p] for p in preds] for preds in predictions]
    correct = [list(np.asarray(preds) == np.asarray(labels)) for preds in predictions]
    fig = image_grid(rows, row_labels=row_labels, captions=captions, correct=correct, title=title, scale=1.5)
    width, height = fig.get_size_inches()
    if width < MIN_EXAMPLES_WIDTH:  # a few columns: tight_layout squeezes the tiles to nothing beside the labels and title
        fig.set_size_inches(MIN_EXAMPLES_WIDTH, height)
        margin = (MIN_EXAMPLES_WIDTH - width) / 2 / MIN_EXAMPLES_WIDTH
        fig.subplots_adjust(left=margin, right=1 - margin, top=0.9, bottom=0.02, hspace=0.3)
    return fig


MIN_EXAMPLES_WIDTH = 8.0
