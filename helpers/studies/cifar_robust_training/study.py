"""Stages of study 2, the functions ``notebooks/02_cifar_robust_training.ipynb`` calls.

A MobileNetV3-small is trained on CIFAR-10 naturally, with three adversarial-training objectives and with
the prototype conformity loss (PCL); a denoising autoencoder stacked 0 to ``denoiser_layers`` times is put
in front of the natural model. Every model and defense is evaluated under FGSM, PGD and DeepFool, the
denoiser also under an adaptive EOT-PGD through the whole chain. ``report.py`` turns the results into
tables, prose, the findings and the headline; ``reference.py`` holds the study's own numbers and claims.

``METHODS`` maps each method the notebook puts on the page to its readable implementation.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Mapping

import numpy as np
import torch
from torch import nn

from helpers import gradient_attacks
from helpers.data import load_cifar10
from . import adversarial_training as at
from . import denoiser as dae
from . import pcl as pcl_module
from .evaluation import accuracy_vs_epsilon, compare_with_art, deepfool, evaluate_model
from .model import CifarMobileNetV3, train_cached

STUDY = "cifar_robust_training"
TITLE = "Robust training on CIFAR-10: MobileNetV3 with adversarial training, a denoising autoencoder and prototype conformity"

MODEL_LABELS = {
    "natural": "natural training",
    "pgd_at": "adversarial training, PGD examples",
    "fgsm_at": "adversarial training, FGSM examples",
    "regularized": "regularized loss α·J(x) + (1−α)·J(x+δ)",
    "pcl": "prototype conformity loss (2 phases)",
}
ADVERSARIAL_KINDS = ("pgd_at", "fgsm_at", "regularized")

#: Learning rate of the denoising autoencoder (not a parameter of the notebook).
DENOISER_LEARNING_RATE = 0.002

#: The methods on the page: each name's readable implementation (``run.show_code(name)`` in the notebook).
METHODS: dict[str, Callable] = {
    "fgsm": gradient_attacks.fgsm,
    "pgd": gradient_attacks.pgd,
    "deepfool": deepfool,
    "pgd_adversarial_training": at.pgd_adversarial_training,
    "regularized_loss": at.regularized_loss,
    "denoiser": dae.denoising_loss,
    "defended_classifier": dae.purify,
    "eot": dae.eot_pgd,
    "prototype_conformity_loss": pcl_module.prototype_conformity_loss,
}


@dataclass
class Trained:
    """One trained (or cached) network: ``kind`` is a key of ``MODEL_LABELS`` or ``"denoiser"``."""

    kind: str
    model: nn.Module
    history: list[dict]
    from_cache: bool

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


@dataclass
class Models:
    """Every classifier of the study with its evaluation (``evaluate``'s dict), in the order they were made."""

    trained: dict[str, Trained] = field(default_factory=dict)
    evals: dict[str, dict] = field(default_factory=dict)

    def add(self, trained: Trained, evaluation: dict) -> None:
        self.trained[trained.kind] = trained
        self.evals[trained.kind] = evaluation

    def model(self, kind: str) -> nn.Module:
        return self.trained[kind].model


def load_data(params: Mapping[str, Any]):
    """A class-stratified subset of CIFAR-10 (train and test) as float tensors in [0, 1]."""
    return load_cifar10(params["train_size"], params["test_size"], seed=params["seed"])


def fetch_data(params: Mapping[str, Any]) -> None:
    """Download CIFAR-10 into the data root when no copy is there (``advlab fetch``)."""
    load_data(params)


def pgd_step_size(params: Mapping[str, Any]) -> float:
    return 2.5 * params["epsilon"] / params["train_pgd_steps"]


def new_model(params: Mapping[str, Any]) -> CifarMobileNetV3:
    torch.manual_seed(params["seed"])
    return CifarMobileNetV3(width=params["width"], first_stride=params["stem_stride"])


def adversarial_epochs(kind: str, params: Mapping[str, Any]) -> int:
    """Epochs of an adversarially trained model: ``regularized_epochs`` for the regularized loss, else ``adv_epochs``.

    PGD and FGSM training get the same epochs (the study's head-to-head comparison); the regularized loss costs
    1.4 times an FGSM-training epoch here, so the default preset gives it fewer to stay within its CPU budget."""
    return params["regularized_epochs"] if kind == "regularized" else params["adv_epochs"]


def _train_parts(params: Mapping[str, Any], **extra) -> dict:
    return {"width": params["width"], "first_stride": params["stem_stride"], **extra}


def natural_parts(params: Mapping[str, Any]) -> dict:
    """Everything that determines the natural model besides the data (its cache key; also the start of fine-tuning)."""
    return _train_parts(params, loss="ce", epochs=params["epochs"], batch_size=params["batch_size"],
                        learning_rate=params["learning_rate"], label_smoothing=params["label_smoothing"], seed=params["seed"])


def monitor(data, params: Mapping[str, Any], device) -> Callable:
    """``epoch_callback`` that measures natural, FGSM and PGD accuracy on the first ``monitor_size`` test images
    after every epoch (PyTorch-native attacks, ``eval_pgd_steps`` steps with random start): the curves that show
    catastrophic overfitting of FGSM training (PGD accuracy collapsing while FGSM accuracy rises)."""
    n = min(params["monitor_size"], len(data.x_test))
    x, y = data.x_test[:n].to(device), data.y_test[:n].to(device)
    eps, steps = params["epsilon"], params["eval_pgd_steps"]
    generator = torch.Generator().manual_seed(params["seed"])

    def accuracy(model, images):
        with torch.no_grad():
            return float((model(images).argmax(1) == y).float().mean())

    def callback(model, _record):
        gradient = gradient_attacks.input_gradient(model)  # eval mode: the model as it will be attacked
        fgsm = gradient_attacks.fgsm(gradient, x, y, eps=eps)
        pgd = gradient_attacks.pgd(gradient, x, y, eps=eps, steps=steps, generator=generator,
                                   step_size=gradient_attacks.default_step_size(eps, steps))
        return {"monitor_natural": accuracy(model, x), "monitor_fgsm": accuracy(model, fgsm), "monitor_pgd": accuracy(model, pgd),
                "monitor_images": n}

    return callback


def training_loss(kind: str, params: Mapping[str, Any]):
    """The ``loss_fn`` of each adversarially trained model."""
    eps, k = params["epsilon"], params["train_pgd_steps"]
    if kind == "pgd_at":
        return at.pgd_loss(eps=eps, steps=k, step_size=pgd_step_size(params))
    if kind == "fgsm_at":
        return at.fgsm_loss(eps=eps)
    if kind == "regularized":
        perturb = at.make_perturbation(params["regularized_attack"], eps=eps, steps=k, step_size=pgd_step_size(params))
        return at.regularized(alpha=params["alpha"], perturb=perturb)
    raise ValueError(f"unknown adversarial training {kind!r}")


def train_natural(data, params: Mapping[str, Any], device) -> Trained:
    """Cross-entropy training (or the cached model): the study's undefended model and PCL's first phase."""
    model, history, cached = train_cached(
        "natural", new_model(params), data, parts=_train_parts(params, loss="ce"), epochs=params["epochs"],
        batch_size=params["batch_size"], learning_rate=params["learning_rate"], seed=params["seed"],
        device=device, desc="natural training", label_smoothing=params["label_smoothing"])
    return Trained("natural", model, history, cached)


def train_adversarial(kind: str, data, params: Mapping[str, Any], device, natural: Trained | None = None) -> Trained:
    """One adversarially trained model: ``kind`` is "pgd_at", "fgsm_at" or "regularized".

    With ``finetune`` it starts from the natural model's weights (``natural``), else from scratch. Its history
    carries the per-epoch natural / FGSM / PGD accuracy on the first ``monitor_size`` test images.
    """
    parts = _train_parts(params, loss=kind, epsilon=params["epsilon"])
    if kind in ("pgd_at", "regularized"):
        parts.update(steps=params["train_pgd_steps"])
    if kind == "regularized":
        parts.update(alpha=params["alpha"], attack=params["regularized_attack"])
    init = natural.model if params["finetune"] and natural is not None else None
    if init is not None:
        parts["init"] = natural_parts(params)
    parts.update(monitor=[params["monitor_size"], params["eval_pgd_steps"]])
    model, history, cached = train_cached(
        kind, new_model(params), data, parts=parts, epochs=adversarial_epochs(kind, params), batch_size=params["batch_size"],
        learning_rate=params["adv_learning_rate"], seed=params["seed"], device=device,
        loss_fn=training_loss(kind, params), desc=MODEL_LABELS[kind], init_from=init,
        epoch_callback=monitor(data, params, device))
    return Trained(kind, model, history, cached)


def train_pcl(natural_model, data, params: Mapping[str, Any], device) -> Trained:
    """Phase two on a copy of the natural model (phase one): centroids at the class means, then CE + PCL."""
    net = copy.deepcopy(natural_model).cpu()
    model = pcl_module.PCLNet(net, dim=params["pcl_dim"])
    torch.manual_seed(params["seed"])
    for branch in model.branches.values():
        branch.reset_parameters()
    model.to(device).init_centroids(data.x_train[:2000], data.y_train[:2000])
    parts = _train_parts(params, loss="pcl", init=natural_parts(params), weight=params["pcl_weight"], dim=params["pcl_dim"],
                         cap=params["pcl_cap"])
    model, history, cached = train_cached(
        "pcl", model, data, parts=parts, epochs=params["pcl_epochs"], batch_size=params["batch_size"],
        learning_rate=params["pcl_learning_rate"], seed=params["seed"] + 1, device=device,
        loss_fn=pcl_module.pcl_loss(weight=params["pcl_weight"], cap=params["pcl_cap"]), desc="PCL phase 2")
    return Trained("pcl", model, history, cached)


def train_denoiser(data, params: Mapping[str, Any], device) -> Trained:
    """The denoising autoencoder, trained on ``x + N(0, denoiser_sigma^2) -> x`` (or loaded from the cache)."""
    model, history, cached = dae.train_denoiser(
        data, sigma=params["denoiser_sigma"], epochs=params["denoiser_epochs"], batch_size=params["batch_size"],
        learning_rate=DENOISER_LEARNING_RATE, seed=params["seed"], device=device, channels=params["denoiser_channels"])
    return Trained("denoiser", model, history, cached)


def denoiser_quality(autoencoder: Trained, data, params: Mapping[str, Any], device) -> dict:
    """Reconstruction PSNR on the test images (noisy input, after 1..``denoiser_layers`` passes, clean images passed through)."""
    return dae.reconstruction_quality(autoencoder.model, data.x_test, sigma=params["denoiser_sigma"],
                                      layers=params["denoiser_layers"], seed=params["seed"], device=device)


def measure_cost(data, params: Mapping[str, Any], device) -> dict:
    """PGD-k training step over a natural one, timed interleaved in this process (see ``epoch_cost_ratio``)."""
    loss = at.pgd_loss(eps=params["epsilon"], steps=params["train_pgd_steps"], step_size=pgd_step_size(params))
    result = at.epoch_cost_ratio(new_model(params), data.x_train, data.y_train, loss, batch_size=params["batch_size"],
                                 batches=params["cost_batches"], rounds=2, device=device)
    result["expected"] = params["train_pgd_steps"] + 1
    return result


def history_ratio(models: Models) -> float | None:
    """Seconds per PGD-AT epoch over seconds per natural epoch, from this run's training (None if either was cached)."""
    nat, adv = models.trained.get("natural"), models.trained.get("pgd_at")
    if not nat or not adv or nat.from_cache or adv.from_cache or not nat.history or not adv.history:
        return None
    per = lambda trained: np.mean([e["seconds"] for e in trained.history])  # noqa: E731
    return float(per(adv) / per(nat))


def evaluate(name: str, model, data, params: Mapping[str, Any], device) -> dict:
    """Natural, FGSM, PGD and DeepFool accuracy (fractions) of ``model``, with the adversarial images made."""
    return evaluate_model(model, data.x_test, data.y_test, fgsm_eps=params["epsilon"], pgd_eps=params["epsilon"],
                          pgd_steps=params["eval_pgd_steps"], deepfool_size=params["deepfool_size"],
                          deepfool_steps=params["deepfool_steps"], batch_size=params["batch_size"], device=device, name=name,
                          autoattack_size=params["autoattack_size"], autoattack_version=params["autoattack_version"],
                          autoattack_steps=params["autoattack_steps"])


#: The small batch on which the readable attacks are run beside ART's: test images for FGSM and PGD, for DeepFool.
AGREEMENT_IMAGES, AGREEMENT_DEEPFOOL_IMAGES = 100, 20


def compare_readable(model, data, params: Mapping[str, Any], device) -> dict:
    """FGSM, PGD and DeepFool through ART and through their readable functions on a small batch of the first test
    images (at most ``curve_size`` and ``AGREEMENT_IMAGES``; DeepFool at most ``deepfool_size`` and
    ``AGREEMENT_DEEPFOOL_IMAGES``), PGD from the same random start."""
    n = min(params["curve_size"], AGREEMENT_IMAGES)
    return compare_with_art(model, data.x_test[:n], data.y_test[:n], eps=params["epsilon"], steps=params["eval_pgd_steps"],
                            deepfool_images=min(params["deepfool_size"], AGREEMENT_DEEPFOOL_IMAGES, n),
                            deepfool_steps=params["deepfool_steps"],
                            batch_size=params["batch_size"], device=device, seed=params["seed"])


StageFactory = Callable[[str], ContextManager[None]]


def train_adversarial_models(natural: Trained, natural_eval: dict, data, params: Mapping[str, Any], device,
                             stage: StageFactory | None = None) -> Models:
    """The natural model with its evaluation, then each adversarially trained model, trained and evaluated in turn.

    ``stage`` (the notebook's ``run.stage``) times each training and evaluation as its own stage.
    """
    stage = stage or (lambda name: contextlib.nullcontext())
    models = Models()
    models.add(natural, natural_eval)
    for kind in ADVERSARIAL_KINDS:
        with stage(f"train {kind}"):
            trained = train_adversarial(kind, data, params, device, natural)
        with stage(f"evaluate {kind}"):
            evaluation = evaluate(kind, trained.model, data, params, device)
        models.add(trained, evaluation)
    return models


def accuracy_curves(label: str, model, data, params: Mapping[str, Any], device,
                    previous: Mapping[str, dict] | None = None) -> dict[str, dict[str, dict[float, float]]]:
    """``previous`` plus ``{label: {"FGSM": {eps: accuracy}, "PGD": {...}}}`` on the first ``curve_size`` test images."""
    n = params["curve_size"]
    curves = accuracy_vs_epsilon(model, data.x_test[:n], data.y_test[:n], params["curve_epsilons"],
                                 pgd_steps=params["eval_pgd_steps"], batch_size=params["batch_size"], device=device, name=label)
    return {**(previous or {}), label: curves}


# ---------------------------------------------------------------------------------------------------
# Denoiser


def denoiser_configs(params: Mapping[str, Any]) -> list[tuple[int, bool]]:
    return [(layers, noise) for layers in range(params["denoiser_layers"] + 1) for noise in (False, True)]


def evaluate_denoisers(classifier, autoencoder, data, natural_eval: dict, params: Mapping[str, Any], device) -> list[dict]:
    """Every (layers, noise) configuration: natural, transfer FGSM / PGD / DeepFool, and the adaptive EOT-PGD."""
    x, y = data.x_test, data.y_test
    adv = {k: torch.as_tensor(v) for k, v in natural_eval["adversarials"].items()}
    m = min(params["adaptive_size"], len(x))
    rows = []
    for layers, noise in denoiser_configs(params):
        chain = dae.DefendedClassifier(classifier, autoencoder if layers else None, layers, params["denoiser_sigma"] if noise else 0.0)
        acc = lambda images, labels: dae.chain_accuracy(chain, images, labels, device=device, seed=params["seed"])  # noqa: E731
        row = {"layers": layers, "noise": noise, "natural": acc(x, y), "fgsm": acc(adv["fgsm"], y), "pgd": acc(adv["pgd"], y)}
        if "deepfool" in adv:
            row["deepfool"] = acc(adv["deepfool"], y[: len(adv["deepfool"])])
        row["pgd_subset"] = acc(adv["pgd"][:m], y[:m])
        if layers == 0 and not noise:
            row["adaptive"] = row["pgd_subset"]  # the bare classifier: the transfer attack is the white-box one
        else:
            x_adaptive = dae.adaptive_pgd(chain, x[:m], y[:m], eps=params["epsilon"], steps=params["adaptive_steps"],
                                          eot=params["adaptive_eot"], batch_size=params["batch_size"], device=device, seed=params["seed"])
            row["adaptive"] = acc(x_adaptive, y[:m])
        row["adaptive_images"] = m
        rows.append(row)
    return rows


def best_denoiser(rows: list[dict]) -> dict:
    """The configuration with input noise and at least one autoencoder that keeps the most FGSM (transfer) accuracy."""
    return max((r for r in rows if r["noise"] and r["layers"] > 0), key=lambda r: r["fgsm"])


# ---------------------------------------------------------------------------------------------------
# What PCL does to the hidden space


@torch.no_grad()
def hidden_features(model, x: torch.Tensor, *, device="cpu", batch_size: int = 256) -> np.ndarray:
    """The hidden dense layer's output (the second PCL branch's input) for ``x``."""
    net = getattr(model, "net", model).to(device).eval()
    return torch.cat([net.features(x[i:i + batch_size].to(device))["hidden"].cpu() for i in range(0, len(x), batch_size)]).numpy()


def separation(features: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of the classes in feature space (cosine distance; -1..1, higher = better separated)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(features, labels, metric="cosine"))


@dataclass
class Projection:
    """Hidden features of the first test images per model ("natural", "PCL"), their labels and silhouette scores."""

    features: dict[str, np.ndarray]
    labels: np.ndarray
    scores: dict[str, float]


def project_features(natural_model, pcl_model, data, params: Mapping[str, Any], device) -> Projection:
    """Hidden dense-layer features of the first ``projection_size`` test images before and after the PCL phase."""
    n = min(params["projection_size"], len(data.x_test))
    feats = {"natural": hidden_features(natural_model, data.x_test[:n], device=device),
             "PCL": hidden_features(pcl_model, data.x_test[:n], device=device)}
    labels = data.y_test[:n].numpy()
    return Projection(feats, labels, {name: separation(f, labels) for name, f in feats.items()})
