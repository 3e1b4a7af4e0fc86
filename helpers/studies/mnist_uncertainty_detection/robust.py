"""A robust reference beside the detector: the same LeNet, adversarially trained with PGD (Madry et al.,
"Towards deep learning models resistant to adversarial attacks", 2018) at the detector's eps, and its
accuracy under a white-box PGD attack.

Training starts from the naturally trained LeNet and continues on PGD adversarial digits only (Madry's
min-max objective): every batch is replaced by ``gradient_attacks.pgd`` of it (a random start in the eps
ball drawn from an explicit generator, then signed steps on the cross-entropy) with the model's gradient
taken in eval mode (dropout off), and the weights then take a step on those digits with dropout on. The
evaluation attack is ART's ``ProjectedGradientDescent`` (``helpers.attacks``), whose PyTorch path runs the
same ``gradient_attacks.pgd`` on the ART estimator's gradient.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from helpers import attacks, metrics
from helpers.gradient_attacks import input_gradient, pgd
from helpers.training import fit, predict, train_or_load


def pgd_training_loss(net, xb: torch.Tensor, yb: torch.Tensor, *, eps: float, steps: int, step_size: float,
                      generator: torch.Generator):
    """Madry's inner maximization, then the outer loss: PGD digits from the model in eval mode (dropout off),
    and the cross-entropy of the model, back in the mode it was in (training: dropout on), on them."""
    was_training = net.training
    adversarial = pgd(input_gradient(net, train_mode=False), xb, yb, eps=eps, steps=steps, step_size=step_size,
                      random_start=True, generator=generator)
    net.train(was_training)
    logits = net(adversarial)
    return F.cross_entropy(logits, yb), logits


def adversarial_fit(model, x_train: torch.Tensor, y_train: torch.Tensor, *, epochs: int, batch_size: int, learning_rate: float,
                    eps: float, steps: int, step_size: float, seed: int, device="cpu") -> list[dict]:
    """PGD adversarial training in place: ``helpers.training.fit`` with every batch replaced by its PGD copy.

    The random starts come from a generator seeded with ``seed``; the dropout masks of the training steps
    from the torch random state seeded with it, and the global random state is left as it was (the MC-dropout
    stages after this one draw from it).
    """
    generator = torch.Generator().manual_seed(seed)

    def loss(net, xb, yb):
        return pgd_training_loss(net, xb, yb, eps=eps, steps=steps, step_size=step_size, generator=generator)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        history = fit(model, x_train, y_train, epochs=epochs, batch_size=batch_size, lr=learning_rate,
                      loss_fn=loss, device=device, seed=seed, desc="PGD adversarial training")
    model.eval()
    return history


def train_robust_lenet(natural, data, *, natural_parts: dict, epochs: int, batch_size: int, learning_rate: float,
                       eps: float, steps: int, step_size: float, seed: int, device="cpu"):
    """The natural LeNet ``natural`` (left untouched), adversarially trained further, or loaded from the cache.

    ``natural_parts`` are the settings that determined the natural model; they are part of the cache key.
    Returns (robust model in eval mode, history, from_cache).
    """
    model = copy.deepcopy(natural)

    def train(net):
        return {"history": adversarial_fit(net, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                                           learning_rate=learning_rate, eps=eps, steps=steps, step_size=step_size,
                                           seed=seed, device=device)}

    parts = {"start": natural_parts, "data": data.name, "train_size": len(data.x_train), "epochs": epochs,
             "batch_size": batch_size, "learning_rate": learning_rate, "eps": eps, "steps": steps,
             "step_size": step_size, "seed": seed, "loop": "helpers.training.fit",
             "attack": "gradient_attacks.pgd, generator random start"}
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
    started = time.perf_counter()
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10, device=device)
    attack = attacks.make_attack("pgd", classifier, eps=eps, max_iter=steps, num_random_init=restarts, batch_size=batch_size)
    x_adv = attacks.generate(attack, x, y, desc=f"PGD on the {name} LeNet")
    clean = predict(model, torch.from_numpy(np.asarray(x, np.float32)), device=device).argmax(1).numpy()
    attacked = predict(model, torch.from_numpy(x_adv), device=device).argmax(1).numpy()
    return RobustEvaluation(name, len(y), int((clean == y).sum()), int(((attacked == y) & (clean == y)).sum()),
                            eps, steps, restarts, time.perf_counter() - started)
