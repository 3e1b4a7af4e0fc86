"""A robust reference beside the detector: the same LeNet, adversarially trained with PGD (Madry et al.,
"Towards deep learning models resistant to adversarial attacks", 2018) at the detector's eps, and its
accuracy under a white-box PGD attack.

Training starts from the naturally trained LeNet and continues on PGD adversarial digits only (Madry's
min-max objective: a random start in the eps ball, then ``steps`` signed-gradient steps on the
cross-entropy). The training-time attack is written here in PyTorch because it runs inside the training
loop on every batch, where ART's round trip through NumPy would cost more than the step itself; the
evaluation attack is ART's ``ProjectedGradientDescent`` (``helpers.attacks``), an implementation
independent of the one the model was trained against.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from helpers import attacks, metrics
from helpers.progress import progress_bar


def pgd_examples(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, step_size: float) -> torch.Tensor:
    """Madry's PGD from a random start, with the model in eval mode (dropout off) and its weights frozen."""
    was_training = model.training
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0.0, 1.0)
        for _ in range(steps):
            adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(adv), y), adv)
            adv = torch.min(torch.max(adv.detach() + step_size * grad.sign(), x - eps), x + eps).clamp(0.0, 1.0)
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        model.train(was_training)
    return adv.detach()


def adversarial_fit(model, x_train: torch.Tensor, y_train: torch.Tensor, *, epochs: int, batch_size: int, learning_rate: float,
                    eps: float, steps: int, step_size: float, seed: int, device="cpu") -> list[dict]:
    """PGD adversarial training in place: every batch is replaced by its PGD adversarial copy."""
    device = torch.device(device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    history = []
    batches = -(-len(x_train) // batch_size)
    with torch.random.fork_rng(devices=[]), progress_bar(total=epochs * batches, desc="PGD adversarial training", unit="batch") as bar:
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            started, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(x_train), batch_size):
                index = order[start:start + batch_size]
                xb, yb = x_train[index].to(device), y_train[index].to(device)
                adv = pgd_examples(model, xb, yb, eps=eps, steps=steps, step_size=step_size)
                model.train()
                logits = model(adv)
                loss = F.cross_entropy(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(yb)
                correct += (logits.argmax(1) == yb).sum().item()
                seen += len(yb)
                bar.update()
            history.append({"epoch": epoch, "adversarial_loss": loss_sum / max(seen, 1),
                            "adversarial_accuracy": correct / max(seen, 1), "seconds": time.perf_counter() - started})
    model.eval()
    return history


def train_robust_lenet(natural, data, *, natural_parts: dict, epochs: int, batch_size: int, learning_rate: float,
                       eps: float, steps: int, step_size: float, seed: int, device="cpu"):
    """The natural LeNet ``natural`` (left untouched), adversarially trained further, or loaded from the cache.

    ``natural_parts`` are the settings that determined the natural model; they are part of the cache key.
    Returns (robust model in eval mode, history, from_cache).
    """
    from helpers.training import train_or_load

    model = copy.deepcopy(natural)

    def train(net):
        return {"history": adversarial_fit(net, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                                           learning_rate=learning_rate, eps=eps, steps=steps, step_size=step_size,
                                           seed=seed, device=device)}

    parts = {"start": natural_parts, "data": data.name, "train_size": len(data.x_train), "epochs": epochs,
             "batch_size": batch_size, "learning_rate": learning_rate, "eps": eps, "steps": steps,
             "step_size": step_size, "seed": seed}
    entry = train_or_load("mnist-detection-lenet-pgd-at", model, train, parts)
    return model.to(device).eval(), entry.meta.get("history", []), entry.from_cache


@dataclass
class RobustEvaluation:
    """A model's accuracy on ``n`` test digits, clean and under white-box PGD at ``eps``."""

    name: str
    n: int
    clean_correct: int
    pgd_correct: int
    eps: float
    steps: int
    restarts: int
    seconds: float = 0.0

    @property
    def clean_accuracy(self) -> metrics.Interval:
        return metrics.wilson_interval(self.clean_correct, self.n)

    @property
    def pgd_accuracy(self) -> metrics.Interval:
        return metrics.wilson_interval(self.pgd_correct, self.n)

    @property
    def made_wrong(self) -> metrics.Interval:
        """Fraction of the digits the attacker makes (or finds) wrong: 1 - PGD accuracy."""
        return metrics.wilson_interval(self.n - self.pgd_correct, self.n)


def evaluate_under_pgd(name: str, model, x: np.ndarray, y: np.ndarray, *, eps: float, steps: int, restarts: int,
                       batch_size: int = 250, device="cpu") -> RobustEvaluation:
    """Clean and PGD accuracy (ART's PGD, ``restarts`` random starts, step 2.5 eps / steps) on ``x``."""
    from helpers.training import predict

    started = time.perf_counter()
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10, device=device)
    attack = attacks.make_attack("pgd", classifier, eps=eps, max_iter=steps, num_random_init=restarts, batch_size=batch_size)
    x_adv = attacks.generate(attack, x, y, desc=f"PGD on the {name} LeNet")
    clean = predict(model, torch.from_numpy(np.asarray(x, np.float32)), device=device).argmax(1).numpy()
    attacked = predict(model, torch.from_numpy(x_adv), device=device).argmax(1).numpy()
    return RobustEvaluation(name, len(y), int((clean == y).sum()), int(((attacked == y) & (clean == y)).sum()),
                            eps, steps, restarts, time.perf_counter() - started)
