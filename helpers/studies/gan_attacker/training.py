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


def evaluate_networks(attacker: Attacker, classifiers: Mapping[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *, device="cpu") -> dict[str, float]:
    """Clean and attacked accuracy and loss of each classifier: keys like ``c1_attacked_accuracy``."""
    x_attacked = attack_images(attacker, x, device=device)
    record = {}
    for name, model in classifiers.items():
        for kind, images in (("clean", x), ("attacked", x_attacked)):
            loss, accuracy = evaluate(model, images, y, device=device)
            record[f"{name}_{kind}_loss"], record[f"{name}_{kind}_accuracy"] = loss, accuracy
    return record


def attacker_step(attacker: Attacker, targets: Sequence[nn.Module], optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor) -> float:
    """One update of A to maximise the mean cross-entropy of the frozen ``targets``; returns that loss.

    Profiled (issue 11, torch profiler, batch 128, 1 thread): 85% of the step is convolutions forward and
    backward, mostly A's 256-512-channel layers, in proportion to their multiply-adds. Per CPU-second of one
    thread (median of 3 interleaved repeats on a shared AMD EPYC), the step ran at 229 digits/s (batch 64,
    float32), 252 (batch 128), 231 (batch 256), 235 (channels-last) and 233 (bfloat16 autocast): no setting
    is faster by more than the noise, so the step stays float32, contiguous, at the study's batch of 64 (more
    updates per digit). PyTorch's default thread count (one per core) is kept."""
    for target in targets:
        frozen(target)
    frozen(attacker, False)
    attacked = attacker(xb)
    loss = torch.stack([nn.functional.cross_entropy(target(attacked), yb) for target in targets]).mean()
    optimizer.zero_grad(set_to_none=True)
    (-loss).backward()
    optimizer.step()
    return loss.item()


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

    def final(self, key: str) -> float:
        return self.history[-1][key]

    def curve(self, key: str) -> list[float]:
        return [record[key] for record in self.history]

    @property
    def digits_per_second(self) -> float:
        return self.digits / self.train_seconds if self.train_seconds > 0 else float("nan")


def _new_attacker(intensity: float, output_mode: str, seed: int, device, architecture: str = "study") -> Attacker:
    torch.manual_seed(seed)
    return Attacker(intensity, output_mode, architecture).to(device)


def attacker_optimizer(attacker: Attacker, learning_rate: float, total_steps: int, schedule: str):
    """Adam with the study's GAN betas (0.5, 0.999), and the learning-rate schedule: ``constant`` (the
    study's), or ``onecycle`` (warm up over the first 20% of the steps to ``learning_rate``, then anneal to
    ~0), which lets one pass over the digits use a high rate early and settle at the end."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    optimizer = torch.optim.Adam(attacker.parameters(), lr=learning_rate, betas=(0.5, 0.999))
    if schedule == "constant" or total_steps < 2:
        return optimizer, None
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=total_steps, pct_start=0.2)
    return optimizer, scheduler


def evaluation_points(steps: int, evaluations: int) -> set[int]:
    """The steps of an epoch (1-based) after which to evaluate: ``evaluations`` evenly spaced, the last step always."""
    evaluations = max(1, min(evaluations, steps))
    return {round(steps * k / evaluations) for k in range(1, evaluations + 1)}


def train_loop(run: AttackerRun, step, x_train, y_train, x_test, y_test, *, epochs: int, batch_size: int, seed: int,
               evaluations_per_epoch: int, scheduler, device, desc: str) -> AttackerRun:
    """The loop both modes share: ``step(xb, yb)`` per batch (returns A's loss), ``evaluations_per_epoch``
    evaluations per epoch on the test digits (not counted in ``run.train_seconds``)."""
    monitored = run.classifiers
    run.history.append({"epoch": 0, **evaluate_networks(run.attacker, monitored, x_test, y_test, device=device)})
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
                    record.update(evaluate_networks(run.attacker, monitored, x_test, y_test, device=device))
                    run.history.append(record)
                    progress.set_postfix(epoch=record["epoch"], c1_attacked=f"{record['c1_attacked_accuracy']:.3f}", refresh=False)
                    started = time.perf_counter()
            run.digits += seen
    return run


def train_attacker(
    targets: Sequence[nn.Module],
    monitored: Mapping[str, nn.Module],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    intensity: float,
    output_mode: str = "scaled",
    architecture: str = "study",
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    schedule: str = "constant",
    evaluations_per_epoch: int = 1,
    seed: int = 0,
    device="cpu",
    mode: str = "consecutive",
    desc: str | None = None,
) -> AttackerRun:
    """Train a fresh A against the frozen ``targets`` (the mean of their losses) for ``epochs`` epochs.

    ``monitored`` names the classifiers evaluated (targets and unseen ones alike); the first one is the
    attacker's target in the progress bar.
    """
    started = time.perf_counter()
    attacker = _new_attacker(intensity, output_mode, seed, device, architecture)
    optimizer, scheduler = attacker_optimizer(attacker, learning_rate, epochs * -(-len(x_train) // batch_size), schedule)
    run = AttackerRun(mode, intensity, attacker=attacker, classifiers=dict(monitored))
    train_loop(run, lambda xb, yb: attacker_step(attacker, targets, optimizer, xb, yb), x_train, y_train, x_test, y_test,
               epochs=epochs, batch_size=batch_size, seed=seed, evaluations_per_epoch=evaluations_per_epoch,
               scheduler=scheduler, device=device, desc=desc or f"A, {mode}, t={intensity:g}")
    frozen(attacker)
    run.seconds = time.perf_counter() - started
    return run


def train_consecutive(c1: nn.Module, c2: nn.Module, data, *, intensity: float, output_mode: str, epochs: int,
                      batch_size: int, learning_rate: float, seed: int, device, schedule: str = "constant",
                      evaluations_per_epoch: int = 1, desc: str | None = None, architecture: str = "study") -> AttackerRun:
    """Consecutive mode: C1 and C2 already trained on clean data; A is trained against frozen C1 only."""
    return train_attacker(
        [c1], {"c1": c1, "c2": c2}, data.x_train, data.y_train, data.x_test, data.y_test,
        intensity=intensity, output_mode=output_mode, architecture=architecture, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, schedule=schedule, evaluations_per_epoch=evaluations_per_epoch,
        seed=seed, device=device, mode="consecutive", desc=desc,
    )


def train_alternating(c1_pretrained: nn.Module, c2_pretrained: nn.Module, data, *, intensity: float, output_mode: str,
                      epochs: int, batch_size: int, learning_rate: float, classifier_learning_rate: float,
                      seed: int, device, schedule: str = "constant", evaluations_per_epoch: int = 1,
                      architecture: str = "study") -> AttackerRun:
    """Alternating mode: from pre-trained copies of C1 and C2, A and C1 alternate one batch each for
    ``epochs`` epochs (C1 on attacked images), while C2 trains on the same batches, clean.

    The pre-trained networks passed in are left untouched (they are copied), so one pre-training serves
    every intensity. ``schedule`` applies to A's learning rate only (the classifiers keep theirs).
    """
    started = time.perf_counter()
    c1, c2 = copy.deepcopy(c1_pretrained).to(device), copy.deepcopy(c2_pretrained).to(device)
    attacker = _new_attacker(intensity, output_mode, seed, device, architecture)
    optimizer, scheduler = attacker_optimizer(attacker, learning_rate, epochs * -(-len(data.x_train) // batch_size), schedule)
    c1_optimizer = torch.optim.Adam(c1.parameters(), lr=classifier_learning_rate)
    c2_optimizer = torch.optim.Adam(c2.parameters(), lr=classifier_learning_rate)
    run = AttackerRun("alternating", intensity, attacker=attacker, classifiers={"c1": c1, "c2": c2})

    def step(xb, yb):
        loss = attacker_step(attacker, [c1], optimizer, xb, yb)
        classifier_step(c1, attacker, c1_optimizer, xb, yb)
        classifier_step(c2, None, c2_optimizer, xb, yb)
        return loss

    train_loop(run, step, data.x_train, data.y_train, data.x_test, data.y_test, epochs=epochs, batch_size=batch_size,
               seed=seed, evaluations_per_epoch=evaluations_per_epoch, scheduler=scheduler, device=device,
               desc=f"A and C1, alternating, t={intensity:g}")
    for network in (attacker, c1, c2):
        frozen(network)
    run.seconds = time.perf_counter() - started
    return run
