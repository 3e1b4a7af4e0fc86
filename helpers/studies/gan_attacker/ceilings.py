"""The two ceilings every learned-attacker number is set beside, and a PGD-trained (robust) C1.

A learned attacker A maps each digit to a perturbation of at most t per pixel with one forward pass. Two
attacks with the same L-infinity budget bracket what it can reach against a given classifier:

- **universal perturbation** (``universal.py``; the lower ceiling for an input-dependent attacker): one delta
  for all digits, trained against the classifier on the same training digits as A.
- **white-box PGD** (the upper ceiling): an optimisation per digit with the classifier's gradient, run with
  more and more steps until it has converged (doubling the number of steps moves the accuracy by less than a
  point, which the run measures and reports).

PGD is ``helpers.gradient_attacks.pgd`` (random start, signed gradient steps of 2.5 * eps / steps, projection
to the budget and to [0, 1]); the same function attacks C1 during adversarial training of the robust C1 and
is the one timed against A's forward pass. The universal perturbation lives in ``universal.py``. Neither
ceiling depends on an attacker seed: each is one run per classifier and intensity.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from helpers.gradient_attacks import default_step_size, input_gradient, pgd
from helpers.progress import progress_bar
from helpers.training import batches, evaluate, train_or_load
from .networks import Classifier, frozen

CONVERGED_POINTS = 1.0
"""PGD counts as converged when doubling its steps moves the attacked accuracy by less than this (points)."""
MAX_DOUBLINGS = 2
"""PGD runs with S, 2S and, while the last doubling still moved the accuracy, up to S * 2**MAX_DOUBLINGS steps."""


def points_moved(before: float, after: float) -> float:
    """How far an accuracy moved, in points (rounded past float noise: one digit of 500 is 0.2)."""
    return round(100 * abs(before - after), 6)


def pgd_images(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, batch_size: int = 500,
               seed: int = 0, device="cpu", desc: str | None = None) -> torch.Tensor:
    """PGD adversarial digits for all of ``x`` (``model`` frozen in eval mode), on the CPU: ``helpers.gradient_attacks.pgd``
    with Madry et al.'s step of 2.5 eps / steps and a random start drawn from ``seed`` + the batch's index."""
    frozen(model)
    model.to(device)
    gradient = input_gradient(model)
    pieces = []
    with progress_bar(total=len(x), desc=desc or f"PGD-{steps}, eps={eps:g}", unit="img") as progress:
        for index, (xb, yb) in enumerate(batches(x, y, batch_size=batch_size)):
            generator = torch.Generator().manual_seed(seed + index)
            pieces.append(pgd(gradient, xb.to(device), yb.to(device), eps=eps, steps=steps, step_size=default_step_size(eps, steps),
                              generator=generator).cpu())
            progress.update(len(xb))
    return torch.cat(pieces)


@dataclass
class PGDCeiling:
    """PGD with S steps, then with the steps doubled until doubling no longer moves the accuracy (or
    ``MAX_DOUBLINGS`` times), and how long the first run took."""

    intensity: float
    ladder: list[tuple[int, float]]  # (steps, accuracy) of each run, S first
    transfer: dict[str, float]       # other classifiers on the longest run's examples
    seconds: float                   # wall time of the S-step run
    digits: int

    @property
    def steps(self) -> int:
        return self.ladder[0][0]

    @property
    def accuracy(self) -> float:
        """With S steps."""
        return self.ladder[0][1]

    @property
    def longest_steps(self) -> int:
        return self.ladder[-1][0]

    def accuracy_at(self, steps: int) -> float | None:
        """The accuracy with ``steps`` steps, None where that run was not needed."""
        return dict(self.ladder).get(steps)

    @property
    def moved_points(self) -> float:
        """How far the last doubling moved the accuracy, in points."""
        return points_moved(self.ladder[-2][1], self.ladder[-1][1])

    @property
    def converged(self) -> bool:
        return self.moved_points < CONVERGED_POINTS

    @property
    def best(self) -> float:
        """The ceiling: the lowest accuracy of the ladder (the strongest attack)."""
        return min(accuracy for _, accuracy in self.ladder)


def accuracy_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device="cpu") -> float:
    return evaluate(model, x, y, device=device)[1]


def pgd_ceiling(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, others=None,
                seed: int = 0, device="cpu", doublings: int = MAX_DOUBLINGS) -> PGDCeiling:
    """PGD-``steps`` against ``model``, then with twice the steps, and again while the last doubling moved the
    accuracy by ``CONVERGED_POINTS`` or more, at most ``doublings`` times; ``others`` (name -> classifier) are
    shown the examples of the longest run (transfer)."""
    started = time.perf_counter()
    examples = pgd_images(model, x, y, eps=eps, steps=steps, seed=seed, device=device)
    seconds = time.perf_counter() - started
    ladder = [(steps, accuracy_of(model, examples, y, device))]
    for _ in range(max(doublings, 1)):
        steps *= 2
        examples = pgd_images(model, x, y, eps=eps, steps=steps, seed=seed, device=device)
        ladder.append((steps, accuracy_of(model, examples, y, device)))
        if points_moved(ladder[-2][1], ladder[-1][1]) < CONVERGED_POINTS:
            break
    transfer = {name: accuracy_of(other, examples, y, device) for name, other in (others or {}).items()}
    return PGDCeiling(eps, ladder, transfer, seconds, len(x))


def train_robust_classifier(data, *, index: int, intensity: float, epochs: int, pgd_steps: int, batch_size: int,
                            learning_rate: float, seed: int, device) -> tuple[Classifier, list[dict], bool]:
    """Classifier ``C<index>``'s architecture and initialisation, trained only on PGD examples (budget
    ``intensity``, ``pgd_steps`` steps, made against the network as it trains: Madry et al.'s adversarial
    training); cached apart from the clean-trained ``C<index>``.

    Returns the model (eval mode, on ``device``), its history (clean and PGD test accuracy per epoch) and
    whether it came from the cache."""
    from .training import classifier_seed

    init_seed = classifier_seed(seed, index)
    torch.manual_seed(init_seed)
    model = Classifier()

    def train(net):
        net.to(device)
        gradient = input_gradient(net)  # sets eval mode on every call
        optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
        history = []
        total = epochs * -(-len(data.x_train) // batch_size)
        with progress_bar(total=total, desc=f"adversarial training of robust C{index} (PGD-{pgd_steps}, eps={intensity:g})", unit="batch") as bar:
            for epoch in range(1, epochs + 1):
                for step, (xb, yb) in enumerate(batches(data.x_train, data.y_train, batch_size=batch_size, shuffle=True, seed=init_seed + epoch)):
                    xb, yb = xb.to(device), yb.to(device)
                    generator = torch.Generator().manual_seed(init_seed + 7919 * epoch + step)
                    # the attack sees the network in eval mode, without moving its batch-norm statistics
                    x_adv = pgd(gradient, xb, yb, eps=intensity, steps=pgd_steps, step_size=default_step_size(intensity, pgd_steps),
                                generator=generator)
                    net.train()
                    loss = nn.functional.cross_entropy(net(x_adv), yb)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    bar.update()
                net.eval()
                history.append({"epoch": epoch, "clean_accuracy": accuracy_of(net, data.x_test, data.y_test, device)})
        net.eval()
        return {"history": history}

    parts = {
        "data": data.name, "train_size": len(data.x_train), "test_size": len(data.x_test), "seed": init_seed,
        "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "adversarial": "pgd",
        "eps": intensity, "pgd_steps": pgd_steps,
    }
    entry = train_or_load(f"gan-attacker-robust-c{index}", model, train, parts)
    return frozen(model.to(device)), entry.meta.get("history", []), entry.from_cache
