"""MobileNetV3-small from torchvision, adapted to 32x32 CIFAR-10 images.

torchvision's network is built for 224x224 ImageNet images and downsamples by 32. Adaptations:

- the first convolution has stride ``first_stride`` (default 1 instead of torchvision's 2), so a 32x32
  image reaches the last block as 2x2 instead of 1x1 (four downsamplings remain, in the blocks torchvision
  puts them); ``stride_one_blocks`` removes the downsampling of further blocks (tried while sizing the default preset: ``docs/reproducing/cifar_robust_training.md``);
- the model works in the channels-last memory format (its input is converted), about twice as fast on a CPU;
- ``width`` is torchvision's width multiplier (1.0 = the original; the CPU presets use less);
- batch-norm momentum 0.1 instead of torchvision's 0.01: with a few hundred training steps the running
  statistics would otherwise still be far from the data's when the model is evaluated;
- the per-channel CIFAR-10 normalization is the model's first layer, so the model takes images in
  [0, 1] and attack budgets are stated in pixel units.

``features(x)`` returns the two hidden representations the prototype conformity loss works on: the
globally average-pooled convolutional features and the output of the hidden dense layer.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenet_v3_small

from helpers.training import fit, train_or_load

from . import recipe

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class CifarMobileNetV3(nn.Module):
    """MobileNetV3-small for 3x32x32 inputs in [0, 1]; outputs logits."""

    def __init__(self, width: float = 1.0, classes: int = 10, first_stride: int = 1, dropout: float = 0.2,
                 stride_one_blocks: tuple[int, ...] = ()):
        super().__init__()
        self.width = width
        net = mobilenet_v3_small(num_classes=classes, width_mult=width, dropout=dropout)
        net.features[0][0].stride = (first_stride, first_stride)
        for index in stride_one_blocks:  # inverted-residual blocks whose downsampling is removed
            for module in net.features[index].modules():
                if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
                    module.stride = (1, 1)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.1
        self.features_net = net.features
        self.pool = net.avgpool
        self.hidden = nn.Sequential(net.classifier[0], net.classifier[1])   # dense + hardswish
        self.head = nn.Sequential(net.classifier[2], net.classifier[3])     # dropout + dense to logits
        self.register_buffer("mean", torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR10_STD).view(1, 3, 1, 1))

    @property
    def pooled_dim(self) -> int:
        return self.hidden[0].in_features

    @property
    def hidden_dim(self) -> int:
        return self.hidden[0].out_features

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``pooled`` (after global average pooling), ``hidden`` (after the hidden dense layer) and ``logits``."""
        # channels-last: about twice as fast on a CPU for the depthwise convolutions (see ``recipe``)
        z = self.features_net(((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last))
        pooled = torch.flatten(self.pool(z), 1)
        hidden = self.hidden(pooled)
        return {"pooled": pooled, "hidden": hidden, "logits": self.head(hidden)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["logits"]


def data_parts(data) -> dict:
    """What identifies a training set in a cache key."""
    return {"data": data.name.split(" at ")[0], "train_size": len(data.x_train), "train_sum": round(float(data.x_train[:64].sum()), 3)}


def train_cached(name: str, model: nn.Module, data, *, parts: dict, epochs: int, batch_size: int, learning_rate: float,
                 seed: int, device, loss_fn=None, desc: str = "training", validation=None, label_smoothing: float = 0.1,
                 augment: bool = True, init_from: nn.Module | None = None, epoch_callback=None):
    """Train ``model`` with the CPU recipe (``recipe``: one-cycle Nesterov SGD peaking at ``learning_rate``, crops
    and flips, channels-last) through ``helpers.training.fit``, or load it from the cache.

    ``loss_fn`` defaults to cross-entropy with ``label_smoothing``. ``init_from`` starts from that model's weights
    (fine-tuning; ``parts`` must then name what made it). ``epoch_callback(model, record)`` adds per-epoch
    measurements to the history. Returns (model in eval mode, history, from_cache); ``parts`` names everything
    else that determines the weights.
    """
    torch.manual_seed(seed)
    loss_fn = loss_fn or recipe.smoothed_cross_entropy(label_smoothing)

    def train(net):
        if init_from is not None:
            net.load_state_dict(init_from.state_dict())
        net.to(memory_format=torch.channels_last)
        history = fit(net, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, lr=learning_rate,
                      optimizer=recipe.sgd(net, learning_rate), scheduler=recipe.one_cycle(learning_rate),
                      augment=recipe.augmenter(seed, crop_flip=augment), loss_fn=loss_fn, device=device, seed=seed, desc=desc,
                      validation=validation, epoch_callback=epoch_callback)
        return {"history": history}

    key = {**data_parts(data), "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
           "recipe": recipe.RECIPE, "augment": augment, "label_smoothing": label_smoothing, **parts}
    entry = train_or_load(f"cifar-robust-{name}", model, train, key)
    return model.to(device).eval(), entry.meta.get("history", []), entry.from_cache
