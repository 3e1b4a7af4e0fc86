"""Training: the classifiers on clean data (cached), then the attacker in one of the study's two modes.

- **consecutive**: C1 and C2 are trained on clean data; C1 is frozen and A is trained to maximise C1's
  cross-entropy on attacked images ``clip(x + A(x), 0, 1)``.
- **alternating**: C1 and C2 are pre-trained for a few epochs; then A and C1 take turns, one batch each
  (A against the frozen C1, then C1 on A's attacked images with A frozen), while C2 goes on training on
  clean data only.

A is only ever trained on C1's loss; C2 never sees attacked images, so its attacked accuracy measures how
well A's perturbations transfer. After every epoch (and once before the first) both classifiers are
evaluated on the test digits, clean and attacked: accuracy and mean cross-entropy.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from helpers.metrics import Interval, mean_interval
from helpers.progress import progress_bar
from helpers.training import batches, evaluate, fit, train_or_load
from .networks import Attacker, Classifier, frozen

MODES = ("consecutive", "alternating")
SCHEDULES = ("constant", "onecycle")


def classifier_seed(seed: int, index: int) -> int:
    """The initialisation seed of classifier number ``index`` (C1 is 1, C2 is 2, ensemble members 3, 4, ...)."""
    return seed + 1000 * index


def train_classifier(data, *, index: int, epochs: int, batch_size: int, learning_rate: float, seed: int, device) -> tuple[Classifier, list[dict], bool]:
    """Classifier ``C<index>`` trained ``epochs`` epochs on clean data, or loaded from the cache.

    Returns the model (eval mode, on ``device``), its history and whether it came from the cache.
    """
    init_seed = classifier_seed(seed, index)
    torch.manual_seed(init_seed)
    model = Classifier()

    def train(net):
        history = fit(
            net, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, lr=learning_rate,
            validation=(data.x_test, data.y_test), device=device, seed=init_seed, desc=f"training C{index} ({epochs} ep.)",
        )
        return {"history": history}

    parts = {
        "data": data.name, "train_size": len(data.x_train), "test_size": len(data.x_test), "seed": init_seed,
        "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
    }
    entry = train_or_load(f"gan-attacker-c{index}", model, train, parts)
    return model.to(device).eval(), entry.meta.get("history", []), entry.from_cache


@torch.no_grad()
def attack_images(attacker: Attacker, x: torch.Tensor, *, batch_size: int = 256, device="cpu") -> torch.Tensor:
    """A's attacked images for ``x`` (A in eval mode), on the CPU."""
    attacker.to(device).eval()
    return torch.cat([attacker(xb.to(device)).cpu() for (xb,) in batches(x, batch_size=batch_size)])


def evaluate_networks(attacker: Attacker, classifiers: Mapping[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *, device="cpu",
                      clean: Mapping[str, float] | None = None) -> dict[str, float]:
    """Clean and attacked accuracy and loss of each classifier: keys like ``c1_attacked_accuracy``.

    ``clean`` (an earlier record of the same classifiers) supplies the clean numbers instead of measuring them again:
    they cannot change while the classifiers are frozen."""
    x_attacked = attack_images(attacker, x, device=device)
    record = {}
    for name, model in classifiers.items():
        for kind, images in (("clean", x), ("attacked", x_attacked)):
            if kind == "clean" and clean is not None:
                loss, accuracy = clean[f"{name}_clean_loss"], clean[f"{name}_clean_accuracy"]
            else:
                loss, accuracy = evaluate(model, images, y, device=device)
            record[f"{name}_{kind}_loss"], record[f"{name}_{kind}_accuracy"] = loss, accuracy
    return record


OBJECTIVES = ("cross_entropy", "non_saturating")


def attacker_loss(targets: Sequence[nn.Module], x_attacked: torch.Tensor, y: torch.Tensor,
                  objective: str = "cross_entropy") -> torch.Tensor:
    """What A minimises, averaged over the frozen classifiers ``targets`` on A's attacked images.

    - ``cross_entropy`` (the study's): minus the cross-entropy, -(-log p_y). Its gradient with respect to the
      true class's logit is -(1 - p_y), which vanishes on the digits C1 classifies confidently, i.e. on almost
      all of them before A has learned anything; the digits already fooled keep most of the gradient.
    - ``non_saturating``: -log(1 - p_y), the log-probability of all wrong classes together (the same turn
      Goodfellow et al. 2014 take for a GAN's generator). Its gradient is largest where C1 is still right.

    With one target (C1) this is the study's setting, with several the ensemble attacker's.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    losses = []
    for classifier in targets:
        logits = classifier(x_attacked)
        if objective == "cross_entropy":
            losses.append(-nn.functional.cross_entropy(logits, y))
        else:  # -log(1 - p_y) = logsumexp(all logits) - logsumexp(the wrong classes' logits)
            wrong = logits.masked_fill(nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf"))
            losses.append((torch.logsumexp(logits, 1) - torch.logsumexp(wrong, 1)).mean())
    return torch.stack(losses).mean()


def attacker_step(attacker: Attacker, targets: Sequence[nn.Module], optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  objective: str = "cross_entropy") -> float:
    """One update of A against the frozen ``targets`` (their weights and batch-norm statistics untouched);
    returns minus A's loss (for the study's objective: the targets' mean cross-entropy on the attacked batch)."""
    for target in targets:
        frozen(target)
    frozen(attacker, False)
    loss = attacker_loss(targets, attacker(x), y, objective)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return -loss.item()


def classifier_step(classifier: nn.Module, attacker: Attacker | None, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor) -> float:
    """One update of ``classifier`` on A's attacked images (A frozen), or on clean ones when ``attacker`` is None."""
    if attacker is not None:
        frozen(attacker)
        with torch.no_grad():
            xb = attacker(xb)
    frozen(classifier, False)
    loss = nn.functional.cross_entropy(classifier(xb), yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


@dataclass
class AttackerRun:
    """One attacker training: its mode, intensity, per-evaluation history and the trained networks.

    ``history`` has one record per evaluation (epoch 0 is the untrained attacker; with several evaluations per
    epoch the epoch is fractional). ``train_seconds`` counts the training steps only, not the evaluations, so
    ``digits_per_second`` is the attacker's training throughput."""

    mode: str
    intensity: float
    history: list[dict] = field(default_factory=list)
    attacker: Attacker | None = None
    classifiers: dict[str, nn.Module] = field(default_factory=dict)
    seconds: float = 0.0
    train_seconds: float = 0.0
    digits: int = 0
    seed: int = 0
    cpu_seconds: float = 0.0  # process CPU time of the whole training (all threads), evaluations included

    def final(self, key: str) -> float:
        return self.history[-1][key]

    def curve(self, key: str) -> list[float]:
        return [record[key] for record in self.history]

    @property
    def digits_per_second(self) -> float:
        return self.digits / self.train_seconds if self.train_seconds > 0 else float("nan")


@dataclass
class SeededRuns:
    """One attacker training repeated with different attacker seeds: the same classifiers, digits, intensity and
    recipe; each seed draws A's initial weights and the order of its batches."""

    mode: str
    intensity: float
    runs: list[AttackerRun] = field(default_factory=list)

    @property
    def first(self) -> AttackerRun:
        """The run of the first attacker seed (the one figures of a single attacker show)."""
        return self.runs[0]

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    def finals(self, key: str) -> list[float]:
        """``key`` after the last epoch, one value per seed."""
        return [run.final(key) for run in self.runs]

    def mean(self, key: str) -> float:
        return sum(self.finals(key)) / len(self.runs)

    def interval(self, key: str) -> Interval:
        """The mean over seeds with its 95% Student-t interval (NaN bounds with one seed)."""
        return mean_interval(self.finals(key))

    def spread(self, key: str) -> Interval:
        """The mean over seeds with the lowest and the highest seed's value."""
        values = self.finals(key)
        return Interval(sum(values) / len(values), min(values), max(values))

    @property
    def train_seconds(self) -> float:
        return sum(run.train_seconds for run in self.runs)

    @property
    def digits(self) -> int:
        return sum(run.digits for run in self.runs)


@dataclass(frozen=True)
class Recipe:
    """How an attacker is built and trained (everything but its intensity, targets and seed)."""

    epochs: int
    batch_size: int = 64
    learning_rate: float = 0.002
    schedule: str = "constant"
    beta1: float = 0.5
    architecture: str = "study"
    width: float = 1.0
    output_mode: str = "scaled"
    evaluations_per_epoch: int = 1
    objective: str = "cross_entropy"

    def attacker(self, intensity: float, seed: int, device="cpu") -> Attacker:
        """A fresh A with this recipe's architecture and width, initialised from ``seed``."""
        torch.manual_seed(seed)
        return Attacker(intensity, self.output_mode, self.architecture, self.width).to(device)

    def optimizer(self, attacker: Attacker, train_size: int):
        """A's optimizer and learning-rate scheduler (None for a constant rate) for ``train_size`` digits."""
        steps = self.epochs * -(-train_size // self.batch_size)
        return attacker_optimizer(attacker, self.learning_rate, steps, self.schedule, self.beta1)


def attacker_optimizer(attacker: Attacker, learning_rate: float, total_steps: int, schedule: str, beta1: float = 0.5):
    """Adam with betas (``beta1``, 0.999) (0.5 is the usual GAN setting, 0.9 PyTorch's default), and the
    learning-rate schedule: ``constant``, or ``onecycle`` (warm up over the first 20% of the steps to
    ``learning_rate``, then anneal to ~0), which lets a short training use a high rate early and settle at the end.
    The schedule moves the learning rate only; beta1 stays as given (PyTorch's one-cycle would also cycle it)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    optimizer = torch.optim.Adam(attacker.parameters(), lr=learning_rate, betas=(beta1, 0.999))
    if schedule == "constant" or total_steps < 2:
        return optimizer, None
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=total_steps, pct_start=0.2,
                                                    cycle_momentum=False)
    return optimizer, scheduler


def evaluation_points(steps: int, evaluations: int) -> set[int]:
    """The steps of an epoch (1-based) after which to evaluate: ``evaluations`` evenly spaced, the last step always."""
    evaluations = max(1, min(evaluations, steps))
    return {round(steps * k / evaluations) for k in range(1, evaluations + 1)}


def train_loop(run: AttackerRun, step, x_train, y_train, x_test, y_test, *, epochs: int, batch_size: int, seed: int,
               evaluations_per_epoch: int, scheduler, device, desc: str, classifiers_learn: bool) -> AttackerRun:
    """The loop both modes share: ``step(xb, yb)`` per batch (returns A's loss), ``evaluations_per_epoch``
    evaluations per epoch on the test digits (not counted in ``run.train_seconds``). Where the classifiers do not
    learn (``classifiers_learn`` False), their clean numbers are measured once, before the first step."""
    monitored = run.classifiers
    run.history.append({"epoch": 0, **evaluate_networks(run.attacker, monitored, x_test, y_test, device=device)})
    clean = None if classifiers_learn else run.history[0]
    steps = -(-len(x_train) // batch_size)
    points = evaluation_points(steps, evaluations_per_epoch)
    with progress_bar(total=epochs * steps, desc=desc, unit="batch") as progress:
        for epoch in range(1, epochs + 1):
            total, seen = 0.0, 0
            started = time.perf_counter()
            for index, (xb, yb) in enumerate(batches(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed + epoch), 1):
                xb, yb = xb.to(device), yb.to(device)
                total += step(xb, yb) * len(yb)
                seen += len(yb)
                if scheduler is not None:
                    scheduler.step()
                progress.update()
                if index in points:
                    run.train_seconds += time.perf_counter() - started
                    record = {"epoch": round(epoch - 1 + index / steps, 4), "attacker_train_loss": total / seen}
                    record.update(evaluate_networks(run.attacker, monitored, x_test, y_test, device=device, clean=clean))
                    run.history.append(record)
                    progress.set_postfix(epoch=record["epoch"], c1_attacked=f"{record['c1_attacked_accuracy']:.3f}", refresh=False)
                    started = time.perf_counter()
            run.digits += seen
    return run


def train_attacker(targets: Sequence[nn.Module], monitored: Mapping[str, nn.Module], x_train: torch.Tensor, y_train: torch.Tensor,
                   x_test: torch.Tensor, y_test: torch.Tensor, *, intensity: float, recipe: Recipe, seed: int = 0, device="cpu",
                   mode: str = "consecutive", desc: str | None = None) -> AttackerRun:
    """Train a fresh A (initialised and its batches shuffled from ``seed``) against the frozen ``targets`` (the
    mean of their losses) as ``recipe`` says.

    ``monitored`` names the classifiers evaluated (targets and unseen ones alike); the first one is the
    attacker's target in the progress bar.
    """
    started, cpu = time.perf_counter(), time.process_time()
    attacker = recipe.attacker(intensity, seed, device)
    optimizer, scheduler = recipe.optimizer(attacker, len(x_train))
    run = AttackerRun(mode, intensity, attacker=attacker, classifiers=dict(monitored), seed=seed)
    train_loop(run, lambda xb, yb: attacker_step(attacker, targets, optimizer, xb, yb, recipe.objective), x_train, y_train, x_test, y_test,
               epochs=recipe.epochs, batch_size=recipe.batch_size, seed=seed, evaluations_per_epoch=recipe.evaluations_per_epoch,
               scheduler=scheduler, device=device, desc=desc or f"A, {mode}, t={intensity:g}, seed {seed}", classifiers_learn=False)
    frozen(attacker)
    run.seconds, run.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return run


def train_consecutive(c1: nn.Module, c2: nn.Module, data, *, intensity: float, recipe: Recipe, seed: int, device="cpu",
                      desc: str | None = None) -> AttackerRun:
    """Consecutive mode: C1 and C2 already trained on clean data; A is trained against frozen C1 only."""
    return train_attacker([c1], {"c1": c1, "c2": c2}, data.x_train, data.y_train, data.x_test, data.y_test,
                          intensity=intensity, recipe=recipe, seed=seed, device=device, mode="consecutive", desc=desc)


def alternating_round(attacker: Attacker, c1: nn.Module, c2: nn.Module, optimizers: Sequence[torch.optim.Optimizer],
                      x: torch.Tensor, y: torch.Tensor, objective: str = "cross_entropy") -> float:
    """One round of alternating training on the batch (x, y): A, then C1, then C2, one update each.

    1. A's turn: C1 frozen, A takes a step on ``objective`` (C1 wrong on A's attacked images);
    2. C1's turn: A frozen, C1 takes a step to lower its cross-entropy on A's (new) attacked images;
    3. C2 takes a step on the clean batch (it never sees an attacked image, so it stays a fair transfer target).
    Returns minus A's loss at its turn (with the study's objective: C1's cross-entropy on the attacked batch).
    """
    a_optimizer, c1_optimizer, c2_optimizer = optimizers
    loss = attacker_step(attacker, [c1], a_optimizer, x, y, objective)
    classifier_step(c1, attacker, c1_optimizer, x, y)
    classifier_step(c2, None, c2_optimizer, x, y)
    return loss


def train_alternating(c1_pretrained: nn.Module, c2_pretrained: nn.Module, data, *, intensity: float, recipe: Recipe,
                      classifier_learning_rate: float, seed: int, device="cpu") -> AttackerRun:
    """Alternating mode: from pre-trained copies of C1 and C2, ``alternating_round`` on every batch for the
    recipe's epochs.

    The pre-trained networks passed in are left untouched (they are copied), so one pre-training serves
    every intensity and seed. The recipe's schedule applies to A's learning rate only (the classifiers keep theirs).
    """
    started, cpu = time.perf_counter(), time.process_time()
    c1, c2 = copy.deepcopy(c1_pretrained).to(device), copy.deepcopy(c2_pretrained).to(device)
    attacker = recipe.attacker(intensity, seed, device)
    optimizer, scheduler = recipe.optimizer(attacker, len(data.x_train))
    optimizers = (optimizer, torch.optim.Adam(c1.parameters(), lr=classifier_learning_rate),
                  torch.optim.Adam(c2.parameters(), lr=classifier_learning_rate))
    run = AttackerRun("alternating", intensity, attacker=attacker, classifiers={"c1": c1, "c2": c2}, seed=seed)
    train_loop(run, lambda xb, yb: alternating_round(attacker, c1, c2, optimizers, xb, yb, recipe.objective), data.x_train, data.y_train,
               data.x_test, data.y_test, epochs=recipe.epochs, batch_size=recipe.batch_size, seed=seed,
               evaluations_per_epoch=recipe.evaluations_per_epoch, scheduler=scheduler, device=device,
               desc=f"A and C1, alternating, t={intensity:g}, seed {seed}", classifiers_learn=True)
    for network in (attacker, c1, c2):
        frozen(network)
    run.seconds, run.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return run
