"""The study's figures: training history, accuracy versus epsilon, clean/adversarial images with predictions,
and the 2-D projection of hidden features before and after the prototype conformity loss."""
from __future__ import annotations

import numpy as np
import torch

from helpers.plots import image_grid, plot_accuracy_vs_epsilon, plot_training_history, use_style
from helpers.training import predict

KEY_FIGURE = "accuracy_vs_epsilon"


def training_history(history, title: str = "Natural training"):
    return plot_training_history(history, title=title)


def accuracy_vs_epsilon_figure(curves_by_model: dict[str, dict[str, dict[float, float]]]):
    """One line per (model, attack); eps in 1/255 on the axis label."""
    flat = {f"{model}, {attack}": points for model, curves in curves_by_model.items() for attack, points in curves.items()}
    return plot_accuracy_vs_epsilon(flat, title="Accuracy versus budget (CIFAR-10 test subset)", chance=0.1)


def example_grid(model, x: torch.Tensor, y: torch.Tensor, adversarials: dict[str, np.ndarray], classes, *, count: int = 8, device="cpu"):
    """Clean images and their adversarial copies (one row per attack), captioned with the predicted class."""
    count = min(count, len(x), *(len(a) for a in adversarials.values()))
    rows, labels, captions, correct = [], [], [], []
    for label, images in {"clean": x[:count].numpy(), **{k: v[:count] for k, v in adversarials.items()}}.items():
        pred = predict(model, torch.as_tensor(images), device=device).argmax(1).numpy()
        rows.append(images)
        labels.append(label)
        captions.append([classes[p] for p in pred])
        correct.append(list(pred == y[:count].numpy()))
    return image_grid(rows, row_labels=labels, captions=captions, correct=correct, scale=1.3,
                      title="Natural model: clean and adversarial test images, predicted class (green right, red wrong)")


def natural_examples(model, data, evaluation: dict, *, count: int = 8, device="cpu"):
    """``example_grid`` of the first test images under the attacks of ``evaluation`` (``study.evaluate``'s dict)."""
    return example_grid(model, data.x_test, data.y_test, evaluation["adversarials"], data.classes, count=count, device=device)


def projection_figure(features_by_model: dict[str, np.ndarray], labels: np.ndarray, classes, scores: dict[str, float]):
    """PCA of each model's hidden features to 2-D, coloured by class, side by side."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    use_style()
    fig, axes = plt.subplots(1, len(features_by_model), figsize=(5 * len(features_by_model), 4.4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (name, feats) in zip(axes[0], features_by_model.items()):
        xy = PCA(n_components=2, random_state=0).fit_transform(feats)
        for c in range(len(classes)):
            m = labels == c
            ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.6, color=cmap(c), label=classes[c])
        ax.set(title=f"{name} (silhouette {scores[name]:.3f})", xlabel="PC 1", ylabel="PC 2")
    axes[0][-1].legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.suptitle("Hidden dense-layer features of test images, PCA to 2-D")
    fig.tight_layout()
    return fig


def pcl_projection(projection, classes):
    """``projection_figure`` of a ``study.Projection``."""
    return projection_figure(projection.features, projection.labels, classes, projection.scores)


def adversarial_training_curves(models, labels: dict[str, str] | None = None):
    """Per epoch of each adversarially trained model: natural, FGSM and PGD accuracy on the monitor images.

    Catastrophic overfitting of FGSM training shows as the PGD line collapsing while the FGSM line rises.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    use_style()
    kinds = [k for k, t in models.trained.items() if t.history and "monitor_pgd" in t.history[0]]
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(4.6 * max(len(kinds), 1), 3.6), squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], kinds):
        history = models.trained[kind].history
        epochs = [e["epoch"] for e in history]
        for key, label, style in (("monitor_natural", "natural", "-"), ("monitor_fgsm", "FGSM", "--"), ("monitor_pgd", "PGD", ":")):
            ax.plot(epochs, [e[key] for e in history], style, marker="o", label=label)
        ax.set(title=(labels or {}).get(kind, kind), xlabel="epoch", ylim=(0, 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.title.set_fontsize(10)
    axes[0][0].set_ylabel(f"accuracy (first {models.trained[kinds[0]].history[0]['monitor_images']} test images)" if kinds else "accuracy")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Adversarial training, accuracy after each epoch (eps as in the table)")
    fig.tight_layout()
    return fig
