"""Natural, FGSM, PGD and DeepFool accuracy of a model through ART (``helpers.attacks``).

FGSM and PGD run at the parameterized L-infinity budgets on ``x``; DeepFool (a minimal-perturbation
attack, no budget: it runs until the label flips or ``max_iter``) is slow on a CPU, so it runs on the
first ``deepfool_size`` images only, and its row says how many. For DeepFool we also report the median
L-infinity size of the perturbations it needed: a robust model needs larger ones.
"""
from __future__ import annotations

import numpy as np
import torch

from helpers import attacks, metrics
from helpers.training import predict

INPUT_SHAPE = (3, 32, 32)


def art_classifier(model, device):
    return attacks.as_art_classifier(model.to(device).eval(), input_shape=INPUT_SHAPE, nb_classes=10, device=device)


def adversarial_examples(model, x: torch.Tensor, y: torch.Tensor, attack: str, *, eps: float | None = None, steps: int = 10,
                         batch_size: int = 128, device="cpu", desc: str | None = None, deepfool_steps: int = 50) -> np.ndarray:
    """Adversarial copies of ``x`` made with ART's ``attack`` ("fgsm", "pgd" or "deepfool") on ``model``."""
    classifier = art_classifier(model, device)
    options = {"max_iter": steps} if attack == "pgd" else {"max_iter": deepfool_steps} if attack == "deepfool" else {}
    made = attacks.make_attack(attack, classifier, eps=eps, batch_size=batch_size, **options)
    return attacks.generate(made, x.numpy(), y.numpy(), desc=desc or attacks.attack_title(attack, eps))


def accuracy_on(model, x, y, device="cpu") -> float:
    return metrics.accuracy(predict(model, torch.as_tensor(x), device=device), y)


def evaluate_model(model, x: torch.Tensor, y: torch.Tensor, *, fgsm_eps: float, pgd_eps: float, pgd_steps: int,
                   deepfool_size: int, deepfool_steps: int = 50, batch_size: int = 128, device="cpu", name: str = "") -> dict:
    """Accuracies (fractions) under natural, FGSM, PGD and DeepFool, plus the adversarial images made."""
    out = {"natural": accuracy_on(model, x, y, device), "images": len(x)}
    adv = {}
    for attack, eps in (("fgsm", fgsm_eps), ("pgd", pgd_eps)):
        adv[attack] = adversarial_examples(model, x, y, attack, eps=eps, steps=pgd_steps, batch_size=batch_size, device=device,
                                           desc=f"{name} {attacks.attack_title(attack, eps)}")
        out[attack] = accuracy_on(model, adv[attack], y, device)
    n = min(deepfool_size, len(x))
    if n > 0:
        adv["deepfool"] = adversarial_examples(model, x[:n], y[:n], "deepfool", batch_size=batch_size, device=device, deepfool_steps=deepfool_steps,
                                               desc=f"{name} DeepFool")
        out["deepfool"] = accuracy_on(model, adv["deepfool"], y[:n], device)
        sizes = np.abs(adv["deepfool"] - x[:n].numpy()).reshape(n, -1).max(1)
        out["deepfool_median_linf"] = float(np.median(sizes))
        out["deepfool_images"] = n
    out["adversarials"] = adv
    return out


def accuracy_vs_epsilon(model, x, y, epsilons, *, pgd_steps: int, batch_size: int = 128, device="cpu", name: str = "") -> dict:
    """{"FGSM": {eps: accuracy}, "PGD": {eps: accuracy}} over ``epsilons`` (eps 0 is the natural accuracy)."""
    natural = accuracy_on(model, x, y, device)
    curves = {"FGSM": {}, "PGD": {}}
    for eps in epsilons:
        for attack, label in (("fgsm", "FGSM"), ("pgd", "PGD")):
            if eps == 0:
                curves[label][0.0] = natural
                continue
            adv = adversarial_examples(model, x, y, attack, eps=eps, steps=pgd_steps, batch_size=batch_size, device=device,
                                       desc=f"{name} {attacks.attack_title(attack, eps)}")
            curves[label][float(eps)] = accuracy_on(model, adv, y, device)
    return curves
