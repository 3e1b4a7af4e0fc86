"""One fit / evaluate loop for every PyTorch study, with tqdm progress.

Data are tensors (the loaders in ``helpers.data`` return them). Batches are drawn by a seeded
``BatchSampler`` over a ``TensorDataset``, which indexes whole batches at once: per-sample indexing
and collation would cost more than the forward pass for the small models used here.

Studies that train differently (adversarial training, auxiliary losses) pass ``loss_fn``, which
gets the model and a batch and returns the loss and the logits the accuracy is measured on.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from .progress import progress_bar

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


def batches(x: torch.Tensor, y: torch.Tensor | None = None, *, batch_size: int, shuffle: bool = False, seed: int = 0):
    """A DataLoader yielding ``(x_batch, y_batch)`` (or ``(x_batch,)``) slices of in-memory tensors."""
    dataset = TensorDataset(x) if y is None else TensorDataset(x, y)
    if shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last=False), batch_size=None)


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), logits


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def fit(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: str | torch.optim.Optimizer = "adam",
    weight_decay: float = 0.0,
    loss_fn: LossFn = cross_entropy_loss,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    desc: str = "training",
    scheduler: Callable[[torch.optim.Optimizer, int], object] | None = None,
    augment: Callable[[torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"] | None = None,
    epoch_callback: Callable[[nn.Module, dict], dict | None] | None = None,
) -> list[dict]:
    """Train ``model`` in place; return one dict per epoch (loss, accuracy, images per second, ...).

    ``validation=(x, y)`` adds ``val_loss`` and ``val_accuracy`` after every epoch.
    Optional hooks (all default to the plain loop):

    - ``scheduler(optimizer, total_steps)`` returns a learning-rate scheduler stepped after every batch
      (e.g. ``torch.optim.lr_scheduler.OneCycleLR``); the record gets ``lr``, the rate at the epoch's end;
    - ``augment(x, y) -> (x, y)`` transforms each batch on the device before ``loss_fn`` (random crops and
      flips done on tensors, a memory format);
    - ``epoch_callback(model, record)`` runs after every epoch (outside the timed part) and may return extra
      entries for the epoch's record (e.g. robust accuracy per epoch); the model is left in train mode after it.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    device = torch.device(device)
    model.to(device)
    if isinstance(optimizer, str):
        optimizer = make_optimizer(model, optimizer, lr, weight_decay)
    history = []
    steps_per_epoch = -(-len(x_train) // batch_size)
    schedule = scheduler(optimizer, epochs * steps_per_epoch) if scheduler is not None else None
    progress = progress_bar(total=epochs * steps_per_epoch, desc=desc, unit="batch")
    for epoch in range(1, epochs + 1):
        model.train()
        started = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        for xb, yb in batches(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed + epoch):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if augment is not None:
                xb, yb = augment(xb, yb)
            loss, logits = loss_fn(model, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            seen += len(yb)
            progress.update()
            progress.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
        seconds = time.perf_counter() - started
        record = {
            "epoch": epoch,
            "loss": loss_sum / max(seen, 1),
            "accuracy": correct / max(seen, 1),
            "seconds": seconds,
            "images_per_second": seen / seconds if seconds > 0 else float("nan"),
        }
        if schedule is not None:
            record["lr"] = optimizer.param_groups[0]["lr"]
        if validation is not None:
            record["val_loss"], record["val_accuracy"] = evaluate(model, *validation, device=device)
        if epoch_callback is not None:
            record.update(epoch_callback(model, record) or {})
        history.append(record)
    progress.close()
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 512, device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits for ``x`` (on the CPU), computed in eval mode, batch by batch."""
    device = torch.device(device)
    model.to(device).eval()
    outputs = [model(xb.to(device)).cpu() for (xb,) in batches(torch.as_tensor(x), batch_size=batch_size)]
    return torch.cat(outputs) if outputs else torch.empty(0)


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512, device: torch.device | str = "cpu"
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``."""
    logits = predict(model, x, batch_size=batch_size, device=device)
    y = torch.as_tensor(y)
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) == y).float().mean().item()


def train_or_load(name: str, model: nn.Module, train, parts: dict):
    """The one cached-training path of every model the studies train.

    ``train(model)`` trains ``model`` in place (any loop: ``fit``, adversarial training, an attacker
    network) and may return metadata such as its history; ``parts`` name everything that determines
    the weights. A later call with the same parts loads the weights instead (``helpers.cache``), so a
    rerun skips training. Returns the cache entry: ``.meta`` (what ``train`` returned), ``.from_cache``.
    """
    from .cache import cached_torch_model

    return cached_torch_model(name, model, train, parts)


def fit_or_load(
    name: str,
    model: nn.Module,
    data,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    device: torch.device | str = "cpu",
    desc: str = "training",
    extra_parts: dict | None = None,
) -> tuple[list[dict], bool]:
    """Train ``model`` on an ``ImageSplit`` (validating on its test part), or load it from the cache.

    The cache key covers the model's layers, the data (name and sizes), the hyperparameters, the seed
    and ``extra_parts``. The model is updated in place; returns (training history, from_cache).
    """
    def train(net):
        history = fit(
            net, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, lr=learning_rate,
            validation=(data.x_test, data.y_test), device=device, seed=seed, desc=desc,
        )
        return {"history": history}

    parts = {
        "data": data.name, "train_size": len(data.x_train), "test_size": len(data.x_test),
        "image_shape": list(data.x_train.shape[1:]), "seed": seed, "epochs": epochs,
        "batch_size": batch_size, "learning_rate": learning_rate, **(extra_parts or {}),
    }
    entry = train_or_load(name, model, train, parts)
    return entry.meta.get("history", []), entry.from_cache
