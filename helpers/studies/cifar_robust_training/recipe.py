"""The CPU training recipe: what gets the most CIFAR-10 accuracy per CPU-second out of the MobileNetV3.

The study trained 200 epochs at a learning rate of 0.001 (its report names no optimizer). On a CPU budget of a few minutes we use the
standard fast-CIFAR recipe instead (a deviation from the study, named in the notebook):

- SGD with Nesterov momentum 0.9 and weight decay, under a **one-cycle** learning-rate schedule (linear
  warm-up from ``max_lr / 10`` to ``max_lr`` over the first quarter of the steps, then linear decay to
  ``max_lr / 1000``; the shape of ``OneCycleLR(anneal_strategy="linear")``, written as a ``LambdaLR`` because
  ``OneCycleLR`` divides by zero when the warm-up is shorter than one step, as in the smoke preset's runs of
  a handful of steps), stepped every batch;
- **random crop** (zero padding of 4 pixels) and **horizontal flip**, drawn per image but applied to the
  whole batch at once on tensors (no per-image Python), seeded;
- **label smoothing** 0.1 on the cross-entropy of natural training;
- the **channels-last** memory format, which roughly doubles the speed of the depthwise convolutions on a
  CPU (measured: 958 -> 2,116 training images per second at width 0.5, one thread).

How the default (width, stem stride, epochs, learning rates, the adversarial fine-tuning) was chosen, with the
trials' measured numbers and the commands that reproduce them: ``docs/reproducing/cifar_robust_training.md``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

#: Weight decay of SGD (not applied to batch-norm and bias parameters).
WEIGHT_DECAY = 5e-4
MOMENTUM = 0.9
#: Names the recipe in cache keys: change it when the recipe changes.
RECIPE = "sgd-nesterov-onecycle-linear-wd5e-4-crop4-flip-v1"
#: Fraction of the steps spent warming up in the one-cycle schedule.
WARMUP = 0.25


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Each image shifted by a random offset in [-pad, pad] (zero fill) and flipped left-right with probability 1/2."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    cols = torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(0), cols)          # (n, w): a flip reverses the column order
    rows = (torch.arange(h)[None, :] + dy[:, None]).to(x.device)  # (n, h)
    cols = (cols + dx[:, None]).to(x.device)                      # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2)


def augmenter(seed: int, *, crop_flip: bool = True) -> Callable:
    """``augment(x, y)`` for ``helpers.training.fit``: crop and flip (seeded), then channels-last."""
    generator = torch.Generator().manual_seed(seed)

    def augment(x, y):
        if crop_flip:
            x = random_crop_flip(x, generator)
        return channels_last(x), y

    return augment


def sgd(model: nn.Module, lr: float, weight_decay: float = WEIGHT_DECAY) -> torch.optim.Optimizer:
    """Nesterov SGD; weight decay on the convolution and dense weights only."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                           lr=lr, momentum=MOMENTUM, nesterov=True)


def one_cycle(max_lr: float, warmup: float = WARMUP) -> Callable:
    """``scheduler(optimizer, total_steps)`` for ``helpers.training.fit``: the one-cycle schedule peaking at ``max_lr``."""

    def make(optimizer, total_steps):
        total = max(total_steps, 2)
        rise = max(1, round(warmup * total))

        def factor(step):  # linear from max_lr / 10 up to max_lr, then linear down to max_lr / 1000
            if step < rise:
                return 0.1 + 0.9 * step / rise
            return max(1e-3, 1.0 - (1.0 - 1e-3) * (step - rise) / max(total - rise, 1))

        for group in optimizer.param_groups:
            group["lr"] = max_lr
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    return make


def smoothed_cross_entropy(smoothing: float = 0.1):
    """``loss_fn(model, x, y) -> (loss, logits)``: cross-entropy with label smoothing."""

    def loss_fn(model, x, y):
        logits = model(x)
        return F.cross_entropy(logits, y, label_smoothing=smoothing), logits

    return loss_fn
