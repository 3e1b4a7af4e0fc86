"""The fixed histology CNN: trained once on the training tiles and cached, then frozen.

Users may bring their own model (``model_path``): a TorchScript file, or a ``state_dict`` of
``HistologyCNN`` saved with ``torch.save(model.state_dict(), path)``, loaded with ``weights_only=True``
(no pickled code is executed). Anything else stops with a ``ModelFileError`` that names the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from helpers.data.histology import GROUPS
from helpers.training import fit, predict, train_or_load


class ModelFileError(ValueError):
    """A ``model_path`` that is missing, unreadable or not a model of the expected shape."""


class HistologyCNN(nn.Module):
    """A strided 3x3 stem (16 filters) and two conv blocks (32, 64 filters), batch norm, global average
    pooling and a linear head: about 25k parameters.

    The stride-2 stem and early pooling keep it cheap (about 3M multiply-adds per 64 px tile, so training
    and attacks run on a laptop CPU); global pooling makes it work at any tile size of at least 16 pixels,
    so a ``state_dict`` trained at one size loads at another.
    """

    def __init__(self, classes: int = len(GROUPS), width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, classes))

    def forward(self, x):
        return self.head(self.features(x))


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no parameter gradients: the defended model is fixed (input gradients still flow)."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def dihedral_augment(generator: torch.Generator):
    """``augment(x, y)`` for ``helpers.training.fit``: each tile flipped left-right, flipped up-down and transposed,
    each with probability 1/2 (the eight symmetries of a square; tissue has no orientation). Labels stay."""
    def augment(x: torch.Tensor, y: torch.Tensor):
        for flip in (lambda t: t.flip(3), lambda t: t.flip(2), lambda t: t.transpose(2, 3)):
            chosen = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)[:, None, None, None]
            x = torch.where(chosen, flip(x), x)
        return x, y

    return augment


def one_cycle(peak: float):
    """``scheduler(optimizer, total_steps)`` for ``helpers.training.fit``: the one-cycle learning rate up to ``peak``."""
    return lambda optimizer, total: torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=max(total, 1))


def train_cnn(data, *, epochs: int, batch_size: int, learning_rate: float, seed: int, device, width: int = 16,
              augment: bool = True) -> tuple[nn.Module, list[dict], bool]:
    """Train ``HistologyCNN`` on ``data.x_train`` (or load it from the cache); returns (frozen model, history, from_cache).

    The recipe: Adam with a one-cycle learning rate peaking at ``learning_rate``, and (``augment``) each batch's
    tiles randomly flipped and turned. The cache key names the data, the recipe and the seed.
    """
    torch.manual_seed(seed)
    model = HistologyCNN(width=width)

    def train(net):
        history = fit(
            net, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, lr=learning_rate,
            validation=(data.x_test, data.y_test), device=device, seed=seed, desc="training histology CNN",
            scheduler=one_cycle(learning_rate),
            augment=dihedral_augment(torch.Generator().manual_seed(seed)) if augment else None,
        )
        return {"history": history}

    parts = {"data": data.name, "train_size": len(data.x_train), "test_size": len(data.x_test),
             "image_shape": list(data.x_train.shape[1:]), "seed": seed, "epochs": epochs, "batch_size": batch_size,
             "learning_rate": learning_rate, "schedule": "one-cycle", "augment": "dihedral" if augment else "none"}
    entry = train_or_load("histology-defense-cnn", model, train, parts)
    return freeze(model.to(device)), entry.meta.get("history", []), entry.from_cache


def per_class_accuracy(model: nn.Module, x, y, *, device="cpu") -> dict[str, tuple[int, int]]:
    """(correct, tiles) of the model's answers per group of ``GROUPS`` on ``x`` with labels ``y``."""
    predicted = probabilities(model, x, device=device).argmax(1)
    y = np.asarray(y)
    return {group: (int((predicted[y == k] == k).sum()), int((y == k).sum())) for k, group in enumerate(GROUPS)}


def load_model(path, *, image_size: int, device="cpu") -> nn.Module:
    """Load a user's model: TorchScript, or a ``HistologyCNN`` state_dict (``weights_only=True``).

    The model must map a (N, 3, image_size, image_size) batch in [0, 1] to (N, 4) logits in the order of
    ``GROUPS``. Raises ``ModelFileError`` naming the file when it is missing or is neither.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"model_path {str(path)!r} does not exist or is not a file")
    try:
        model = torch.jit.load(str(path), map_location="cpu")
        kind = "TorchScript"
    except Exception as script_error:  # not TorchScript: try a state_dict
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as state_error:
            raise ModelFileError(
                f"cannot load model_path {str(path)!r}: it is neither a TorchScript file ({_first_line(script_error)}) "
                f"nor a state_dict readable with weights_only=True ({_first_line(state_error)}). Save a model with "
                "torch.jit.save(torch.jit.script(model), path) or torch.save(model.state_dict(), path)."
            ) from state_error
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ModelFileError(f"model_path {str(path)!r} holds a {type(state).__name__}, not a state_dict of tensors")
        first = state.get("features.0.weight")
        model = HistologyCNN(width=int(first.shape[0]) if first is not None and first.ndim == 4 else 16)
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise ModelFileError(
                f"model_path {str(path)!r} is a state_dict but not of HistologyCNN: {_first_line(error)}"
            ) from error
        kind = "state_dict"
    model = freeze(model.to(device))
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, 3, image_size, image_size, device=device))
    except Exception as error:
        raise ModelFileError(f"model_path {str(path)!r} ({kind}) fails on a (2, 3, {image_size}, {image_size}) batch: {_first_line(error)}") from error
    if tuple(out.shape) != (2, len(GROUPS)):
        raise ModelFileError(f"model_path {str(path)!r} ({kind}) outputs shape {tuple(out.shape)}; expected (N, {len(GROUPS)}) logits for {GROUPS}")
    return model


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


class WithSoftmax(nn.Module):
    """The model followed by a softmax: ART's post-processors work on probabilities, not logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.softmax(self.model(x), dim=1)


def probabilities(model: nn.Module, x, *, device="cpu", batch_size: int = 512) -> np.ndarray:
    """Softmax outputs (N, 4) as float32 NumPy."""
    logits = predict(model, torch.as_tensor(np.asarray(x, dtype=np.float32)), batch_size=batch_size, device=device)
    return torch.softmax(logits, dim=1).numpy().astype(np.float32)
