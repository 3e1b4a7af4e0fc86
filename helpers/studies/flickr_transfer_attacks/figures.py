"""The study's figures: accuracy and SSIM curves per alteration, defense curves, example grids.

The first functions take the stages' results (``study.py``) and return the notebook's figures; the
drawing functions below them take plain curves and arrays.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers import plots
from .alterations import ALTERATIONS
from .evaluation import ATTACK_NAMES, AlterationSweep
from .study import Adaptive, Attacked, EvalSet, Split, Trained

KEY_FIGURE = "attack_curves"


def classes(split: Split) -> plt.Figure:
    """The first training photo of each class."""
    first_of_class = [int(np.flatnonzero(split.y_train == k)[0]) for k in range(len(split.classes))]
    return class_examples(split.x_train[first_of_class], split.classes, title="One training photo per class")


def save_training_histories(trained: Trained, save: Callable[[plt.Figure, str], None]) -> None:
    """One training-history figure per backbone's head, saved as ``training_<backbone>`` with ``save``
    (the notebook's ``run.save``)."""
    for name, model in trained.models.items():
        save(plots.plot_training_history(model.history, title=f"{model.title} head"), f"training_{name}")


def alteration_curves(altered: AlterationSweep, trained: Trained) -> plt.Figure:
    """Agreement, true-label accuracy and SSIM along each alteration grid, one column per alteration."""
    panels = [(name, ALTERATIONS[name].title, ALTERATIONS[name].level) for name in altered.examples]
    return curves_figure(altered.curves, panels, titles=trained.titles, suptitle="Alterations: accuracy and SSIM")


def altered_examples(altered: AlterationSweep, target: EvalSet, trained: Trained, classes: Sequence[str], shown: int) -> plt.Figure:
    """The first ``shown`` evaluation photos at the middle level of each grid, with the first backbone's predictions."""
    first = trained.first
    variants = []
    for name, examples in altered.examples.items():
        levels = list(examples)
        level = levels[len(levels) // 2]
        variants.append((ALTERATIONS[name].label(level), examples[level], altered.example_predictions[name][level]))
    return example_rows(target.x[:shown], target.original[first][:shown], variants, target.y, classes,
                        title=f"Altered photos, predictions of {trained.titles[first]}")


def attack_curves(attacked: Attacked, trained: Trained) -> plt.Figure:
    """FGSM and PGD: agreement, true-label accuracy and SSIM against the budget, epsilon 0 being the clean photos."""
    curves = {
        name: {attack: [{"level": 0.0, "agreement": 1.0, "accuracy": attacked.clean_accuracy[name], "ssim": 1.0}] + points
               for attack, points in sweep.curves.items()}
        for name, sweep in attacked.sweeps.items()
    }
    return curves_figure(curves, [("fgsm", "FGSM", "epsilon"), ("pgd", f"PGD-{attacked.pgd_steps}", "epsilon")],
                         titles=trained.titles, suptitle="Attacks: accuracy and SSIM (epsilon 0 = clean photos)")


def attacked_examples(attacked: Attacked, target: EvalSet, trained: Trained, classes: Sequence[str], shown: int) -> plt.Figure:
    """The photos attacked (against the first backbone) at the export budget, and PGD's images after JPEG and blur."""
    first, eps = trained.first, attacked.export_eps
    sweep, model = attacked.sweeps[first], trained.models[first]
    variants = [(f"{attack.upper()} eps={eps:g}", sweep.adversarial[attack][eps][:shown], sweep.predictions[attack][eps][:shown])
                for attack in ATTACK_NAMES]
    pgd_images = sweep.adversarial["pgd"][eps][:shown]
    for name, level in attacked.defenses.items():
        recovered = ALTERATIONS[name](pgd_images, level)
        variants.append((f"PGD + {ALTERATIONS[name].label(level)}", recovered, model.predict(recovered)))
    return example_rows(target.x[:shown], target.original[first][:shown], variants, target.y, classes,
                        title=f"Attacked photos (against {trained.titles[first]}) and their JPEG / blur versions")


def defense_curves(attacked: Attacked, trained: Trained) -> plt.Figure:
    return defense_figure({name: sweep.defense for name, sweep in attacked.sweeps.items()}, attacked.defenses, titles=trained.titles)


def adaptive_curves(adaptive: Adaptive, trained: Trained, backbone: str) -> plt.Figure:
    """One backbone: per defense, accuracy clean / under plain PGD / under PGD through the defense, and SSIM."""
    sweep = adaptive.sweeps[backbone]
    panels = [(d.label, d.short_gradient, sweep.curve(d.name)) for d in sweep.defenses]
    return adaptive_figure(panels, undefended_clean=sweep.undefended_clean, title=f"{trained.titles[backbone]}: PGD-{adaptive.steps} through each defense "
                                         f"({adaptive.images} photos; epsilon 0 = clean photos)")


def save_adaptive_curves(adaptive: Adaptive, trained: Trained, save: Callable[[plt.Figure, str], None]) -> None:
    """One ``adaptive_<backbone>`` figure per backbone (see ``adaptive_curves``), saved with ``save`` (``run.save``)."""
    for name in adaptive.sweeps:
        save(adaptive_curves(adaptive, trained, name), f"adaptive_{name}")


# --------------------------------------------------------------------------------------------------
# Drawing


def adaptive_figure(panels: Sequence[tuple[str, str, Sequence[dict]]], *, undefended_clean: float, title: str) -> plt.Figure:
    """Columns (defense label, how its gradient is had, rows along epsilon as ``adaptive.AdaptiveSweep`` has them).

    Top: true-label accuracy with no defense (plain PGD; at epsilon 0 ``undefended_clean``), plain PGD then
    the defense, and PGD through the defense, both from the clean photos with the defense (``clean_accuracy``);
    bottom: mean SSIM of the plain and the through-the-defense images to the originals.
    """
    plots.use_style()
    fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels), 6.0), squeeze=False, sharex="col")
    lowest = min((min(r["plain_ssim"], r["through_ssim"]) for _, _, rows in panels for r in rows), default=0.0)
    floor = 0.0 if lowest < 0.9 else max(0.0, lowest - 0.25 * (1.0 - lowest) - 0.002)
    for column, (label, gradient, rows) in enumerate(panels):
        top, bottom = axes[0][column], axes[1][column]
        eps = [0.0] + [r["epsilon"] for r in rows]
        clean = rows[0]["clean_accuracy"] if rows else float("nan")
        top.plot(eps, [100 * undefended_clean] + [100 * r["undefended_accuracy"] for r in rows], ":", marker="^", color="0.45",
                 label="plain PGD, no defense")
        top.plot(eps, [100 * clean] + [100 * r["plain_accuracy"] for r in rows], "--", marker="s", color=_color(0),
                 label="plain PGD, then the defense")
        top.plot(eps, [100 * clean] + [100 * r["through_accuracy"] for r in rows], "-", marker="o", color=_color(1),
                 label="PGD through the defense")
        top.set(title=f"{label} ({gradient})", ylim=(-2, 102))
        bottom.plot(eps[1:], [r["plain_ssim"] for r in rows], "--", marker="s", color=_color(0), label="plain PGD")
        bottom.plot(eps[1:], [r["through_ssim"] for r in rows], "-", marker="o", color=_color(1), label="PGD through the defense")
        bottom.set(xlabel="epsilon", ylim=(floor, 1.0 + 0.03 * (1.0 - floor)))
        if column == 0:
            top.set_ylabel("true-label accuracy (%)")
            bottom.set_ylabel("mean SSIM to original")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig



def _color(index: int) -> str:
    return plots.STYLE["axes.prop_cycle"].by_key()["color"][index % 8]


def curves_figure(
    curves: Mapping[str, Mapping[str, Sequence[dict]]],
    panels: Sequence[tuple[str, str, str]],
    *,
    titles: Mapping[str, str],
    suptitle: str,
) -> plt.Figure:
    """Top row: agreement (solid) and true-label accuracy (dashed) per backbone; bottom row: mean SSIM.

    ``curves[backbone][key]`` are points with level / agreement / accuracy / ssim; ``panels`` lists
    (key, panel title, x-axis label) per column; ``titles`` maps backbones to legend names.
    """
    plots.use_style()
    fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels), 6.2), squeeze=False, sharex="col")
    # Attacks keep SSIM near 1: zoom in so their differences show; alterations span [0, 1]. One range
    # for the whole row, so panels compare at a glance.
    shown = [p["ssim"] for per_key in curves.values() for key, _, _ in panels for p in per_key.get(key, [])]
    lowest = min(shown, default=0.0)
    floor = 0.0 if lowest < 0.9 else max(0.0, lowest - 0.25 * (1.0 - lowest) - 0.002)
    for column, (key, title, xlabel) in enumerate(panels):
        top, bottom = axes[0][column], axes[1][column]
        ssim_drawn: list[tuple] = []
        for index, (backbone, per_key) in enumerate(curves.items()):
            points = per_key.get(key, [])
            if not points:
                continue
            levels = [p["level"] for p in points]
            color = _color(index)
            name = titles.get(backbone, backbone)
            top.plot(levels, [100 * p["agreement"] for p in points], marker="o", color=color, label=f"{name}: agreement")
            top.plot(levels, [100 * p["accuracy"] for p in points], marker="s", linestyle="--", color=color, label=f"{name}: true label")
            ssim_values = tuple(p["ssim"] for p in points)
            if ssim_values not in ssim_drawn:  # model-independent alterations share one SSIM curve
                label = name if len(ssim_drawn) or key in ("fgsm", "pgd") else "all backbones"
                bottom.plot(levels, ssim_values, marker="o", color=color if key in ("fgsm", "pgd") else "0.3", label=label)
                ssim_drawn.append(ssim_values)
        top.set(title=title, ylim=(-2, 102))
        bottom.set(xlabel=xlabel, ylim=(floor, 1.0 + 0.03 * (1.0 - floor)))
        if key in ALTERATIONS and ALTERATIONS[key].stronger_when_lower:
            top.invert_xaxis()  # stronger alteration to the right, as for the other panels
        if column == 0:
            top.set_ylabel("accuracy (%)")
            bottom.set_ylabel("mean SSIM to original")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def defense_figure(defense: Mapping[str, Sequence[dict]], defenses: Mapping[str, int], *, titles: Mapping[str, str]) -> plt.Figure:
    """True-label accuracy of attacked images before and after JPEG / blur, per attack and backbone."""
    plots.use_style()
    attacks_seen = [a for a in ("fgsm", "pgd") if any(r["attack"] == a for rows in defense.values() for r in rows)]
    fig, axes = plt.subplots(1, len(attacks_seen), figsize=(5.2 * len(attacks_seen), 3.8), squeeze=False)
    styles = {"attacked": "-", **{name: ls for name, ls in zip(defenses, ("--", ":", "-."))}}
    for column, attack in enumerate(attacks_seen):
        ax = axes[0][column]
        for index, (backbone, rows) in enumerate(defense.items()):
            clean = next(r for r in rows if r["attack"] == "clean")
            chosen = [clean] + [r for r in rows if r["attack"] == attack]
            eps = [r["epsilon"] for r in chosen]
            name = titles.get(backbone, backbone)
            ax.plot(eps, [100 * r["attacked_accuracy"] for r in chosen], styles["attacked"], marker="o", color=_color(index), label=f"{name}: attacked")
            for defense_name, level in defenses.items():
                label = ALTERATIONS[defense_name].label(level)
                ax.plot(eps, [100 * r[f"{defense_name}_accuracy"] for r in chosen], styles[defense_name], marker="s",
                        color=_color(index), label=f"{name}: + {label}")
        ax.set(title=f"{attack.upper()}: recovered by JPEG / blur?", xlabel="epsilon (0 = clean images)",
               ylabel="true-label accuracy (%)" if column == 0 else None, ylim=(-2, 102))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.1 + 0.04 * (len(labels) // 3), 1, 1))
    return fig


def example_rows(
    clean: np.ndarray,
    clean_predictions: np.ndarray,
    variants: Sequence[tuple[str, np.ndarray, np.ndarray]],
    labels: np.ndarray,
    classes: Sequence[str],
    *,
    title: str,
) -> plt.Figure:
    """An image grid: the clean photos, then one row per (label, images, predictions) variant.

    Captions are the predicted class, green when it is the true class, red otherwise.
    """
    short = [c.replace("_", " ")[:14] for c in classes]
    rows = [clean] + [images for _, images, _ in variants]
    predictions = [clean_predictions] + [p for _, _, p in variants]
    return plots.image_grid(
        rows,
        row_labels=["original"] + [label for label, _, _ in variants],
        captions=[[short[int(p)] for p in preds] for preds in predictions],
        correct=[list(np.asarray(preds) == labels[: len(preds)]) for preds in predictions],
        title=title,
        scale=1.6,
    )


def class_examples(images: np.ndarray, classes: Sequence[str], *, title: str) -> plt.Figure:
    """One photo per class in a row, captioned with the class name."""
    plots.use_style()
    fig, axes = plt.subplots(1, len(images), figsize=(1.9 * len(images), 2.3), squeeze=False)
    for ax, image, name in zip(axes[0], images, classes):
        ax.imshow(np.clip(image, 0, 1))
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
