"""Figures of the quickstart."""
from __future__ import annotations

import numpy as np

from helpers import attacks, plots

KEY_FIGURE = "accuracy_vs_epsilon"


def training_history(history):
    return plots.plot_training_history(history, title="MNIST CNN")


def accuracy_vs_epsilon(sweep, clean_accuracy: float, pgd_steps: int):
    curves = {
        attacks.attack_title(name) + (f"-{pgd_steps}" if name == "pgd" else ""): {0.0: clean_accuracy, **sweep.accuracy[name]}
        for name in sweep.accuracy
    }
    return plots.plot_accuracy_vs_epsilon(curves, title="MNIST CNN under attack", chance=0.1)


def examples_grid(classifier, x, y, sweep, grid_epsilon: float, shown: int = 10):
    """The first ``shown`` attacked digits, clean and at the budget nearest ``grid_epsilon``."""
    eps = min(sweep.epsilons, key=lambda e: abs(e - grid_epsilon))
    rows = [x[:shown]] + [sweep.adversarial[name][eps][:shown] for name in sweep.accuracy]
    predictions = [classifier.predict(r).argmax(1) for r in rows]
    return plots.image_grid(
        rows,
        row_labels=["clean"] + [attacks.attack_title(n, eps) for n in sweep.accuracy],
        captions=[[f"pred {p}" for p in preds] for preds in predictions],
        correct=[list(np.asarray(preds) == y[:shown]) for preds in predictions],
        title=f"Clean and adversarial digits (true labels: {' '.join(map(str, y[:shown]))})",
    )


def defense_curves(defense, bit_depth: int):
    """Accuracy against the budget: undefended under PGD, squeezed against the transferred and the adaptive PGD."""
    attacked = [r for r in defense if r.adaptive is not None]
    clean = defense[0]
    curves = {
        "undefended, PGD": {0.0: clean.undefended, **{r.epsilon: r.undefended for r in attacked}},
        f"squeezed ({bit_depth} bit), transferred PGD": {0.0: clean.transfer, **{r.epsilon: r.transfer for r in attacked}},
        f"squeezed ({bit_depth} bit), adaptive PGD": {0.0: clean.transfer, **{r.epsilon: r.adaptive for r in attacked}},
    }
    return plots.plot_accuracy_vs_epsilon(curves, title="Feature squeezing: transferred vs adaptive attack", chance=0.1)
