"""How strong is the learned attacker? PGD with the same L-infinity budget, through ART.

At each intensity t, PGD (``helpers.attacks``, ART's ProjectedGradientDescent, random start) attacks C1
with the white-box gradient and budget eps = t; its adversarial images are then shown to C2 (transfer).
The attacker network's numbers on the same digits stand beside it: A also only ever saw C1.
"""
from __future__ import annotations

import numpy as np
import torch

from helpers import attacks, metrics
from helpers.training import predict
from .training import attack_images


def accuracy_of(model, x, y, device="cpu") -> float:
    return metrics.accuracy(predict(model, torch.as_tensor(x), device=device), np.asarray(y))


def pgd_comparison(c1, c2, runs, x: torch.Tensor, y: torch.Tensor, *, intensities, steps: int, batch_size: int = 128, device="cpu") -> list[dict]:
    """One row per intensity: PGD white box on C1 and transferred to C2, and the consecutive-mode
    attacker network's accuracy on the same digits (``runs`` maps intensity to its ``AttackerRun``)."""
    classifier = attacks.as_art_classifier(c1, input_shape=(1, 28, 28), nb_classes=10, device=device)
    x_np, y_np = x.numpy(), y.numpy()
    rows = []
    for t in intensities:
        attack = attacks.make_attack("pgd", classifier, eps=t, max_iter=steps, batch_size=batch_size)
        x_adv = attacks.generate(attack, x_np, y_np, desc=f"PGD-{steps} on C1, eps={t:g}")
        row = {
            "intensity": t,
            "pgd_c1": accuracy_of(c1, x_adv, y_np, device),
            "pgd_c2": accuracy_of(c2, x_adv, y_np, device),
            "pgd_max_change": float(np.abs(x_adv - x_np).max()),
        }
        run = runs.get(t)
        if run is not None:
            x_att = attack_images(run.attacker, x, device=device)
            row["attacker_c1"] = accuracy_of(c1, x_att, y_np, device)
            row["attacker_c2"] = accuracy_of(c2, x_att, y_np, device)
        rows.append(row)
    return rows
