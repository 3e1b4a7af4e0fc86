"""The study's suggested improvement: train the attacker against the *average* loss of several classifiers.

The ensemble holds C1 and further classifiers of the same architecture with other initialisations
(C3, C4, ...); C2 stays outside it and is the unseen network the attack must transfer to. Beside it we put
the single-target attacker (consecutive mode, trained on C1 only) at the same intensity, evaluated on the
same networks, so the table shows whether averaging over classifiers buys transfer.
"""
from __future__ import annotations

from typing import Mapping

from torch import nn

from .training import AttackerRun, Recipe, evaluate_networks, train_attacker


def train_ensemble_attacker(members: Mapping[str, nn.Module], unseen: Mapping[str, nn.Module], data, *, intensity: float,
                            recipe: Recipe, seed: int, device="cpu") -> AttackerRun:
    """A fresh attacker trained against the frozen ``members`` (mean cross-entropy), monitored on all."""
    return train_attacker(list(members.values()), {**members, **unseen}, data.x_train, data.y_train, data.x_test, data.y_test,
                          intensity=intensity, recipe=recipe, seed=seed, device=device, mode="ensemble",
                          desc=f"A against {len(members)} classifiers, t={intensity:g}")


def ensemble_rows(single: AttackerRun, ensemble: AttackerRun, members: Mapping[str, nn.Module], unseen: Mapping[str, nn.Module], data, device="cpu") -> list[dict]:
    """Attacked accuracy of every network under the single-target and the ensemble attacker."""
    networks = {**members, **unseen}
    single_final = evaluate_networks(single.attacker, networks, data.x_test, data.y_test, device=device)
    ensemble_final = ensemble.history[-1]
    rows = []
    for name in networks:
        rows.append({
            "network": name.upper(),
            "role": "unseen" if name in unseen else ("ensemble member, single attacker's target" if name == "c1" else "ensemble member"),
            "clean": ensemble_final[f"{name}_clean_accuracy"],
            "single": single_final[f"{name}_attacked_accuracy"],
            "ensemble": ensemble_final[f"{name}_attacked_accuracy"],
        })
    return rows
