"""One figure style for every study; figures show inline and are saved beside the report as PNG
(for the HTML reports) and SVG (vector, for papers)."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from .paths import report_dir

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 130,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
    "axes.prop_cycle": matplotlib.cycler(
        color=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    ),
    "font.size": 10,
    "legend.frameon": False,
    # Text is drawn as written: class names, titles and other strings from the data or the user may hold "$",
    # which matplotlib would otherwise read as mathematics (and fail on, or typeset). No figure here uses mathtext.
    "text.parse_math": False,
}
CORRECT, WRONG = "#2ca02c", "#d62728"


def use_style() -> None:
    """Apply the project's matplotlib style (called by every plotting helper)."""
    plt.rcParams.update(STYLE)


FIGURE_FORMATS = ("png", "svg")


def save_figure(fig: plt.Figure, name: str, study: str) -> None:
    """Save ``fig`` as ``<report dir>/<name>.png`` and ``.svg``; the figure stays open, so the notebook shows it.

    Returns nothing, so that a notebook cell ending with this call shows the figure and no path.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    folder = report_dir(study)
    for extension in FIGURE_FORMATS:
        fig.savefig(folder / f"{name}.{extension}")


def plot_accuracy_vs_epsilon(
    curves: Mapping[str, Mapping[float, float]],
    *,
    title: str = "Accuracy under attack",
    chance: float | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """One line per attack: accuracy (y, in %) against the budget epsilon (x)."""
    use_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for label, points in curves.items():
        eps = sorted(points)
        ax.plot(eps, [100 * points[e] for e in eps], marker="o", label=label)
    if chance is not None:
        ax.axhline(100 * chance, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="epsilon (L-infinity budget)", ylabel="accuracy (%)", title=title, ylim=(0, 102))
    ax.legend()
    return fig


def _as_hwc(image) -> np.ndarray:
    image = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 1)
    return image


def image_grid(
    rows: Sequence[Sequence],
    *,
    row_labels: Sequence[str],
    captions: Sequence[Sequence[str]] | None = None,
    correct: Sequence[Sequence[bool]] | None = None,
    title: str | None = None,
    scale: float = 1.3,
) -> plt.Figure:
    """A grid of images, one row per variant (clean, FGSM, ...), with a caption under each image.

    Captions of wrongly classified images are drawn red, correct ones green, when ``correct`` is given.
    """
    use_style()
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(scale * n_cols, scale * 1.25 * n_rows), squeeze=False)
    for r, images in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c >= len(images):
                continue
            image = _as_hwc(images[c])
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1 if image.dtype != np.uint8 else 255)
            if captions is not None:
                colour = {} if correct is None else {"color": CORRECT if correct[r][c] else WRONG}
                ax.set_title(captions[r][c], fontsize=8, **colour)
        axes[r][0].text(-0.15, 0.5, row_labels[r], transform=axes[r][0].transAxes, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_history(history: Sequence[Mapping[str, float]], *, title: str = "Training") -> plt.Figure:
    """Loss and accuracy per epoch (training, and validation when recorded)."""
    use_style()
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    loss_ax.plot(epochs, [h["loss"] for h in history], marker="o", label="train")
    acc_ax.plot(epochs, [100 * h["accuracy"] for h in history], marker="o", label="train")
    if history and "val_loss" in history[0]:
        loss_ax.plot(epochs, [h["val_loss"] for h in history], marker="s", label="validation")
        acc_ax.plot(epochs, [100 * h["val_accuracy"] for h in history], marker="s", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"{title}: loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}: accuracy")
    loss_ax.legend()
    acc_ax.legend()
    fig.tight_layout()
    return fig
