"""The denoising-autoencoder defense: Gaussian noise, then the autoencoder 0-4 times, then the classifier.

The autoencoder is a small convolutional one with a residual output (``DenoisingAutoencoder``): it encodes
the image to a 16x16 map and decodes a correction that is added to the input, clipped to [0, 1]. It is trained to
map ``x + N(0, sigma^2)`` back to ``x``. (A plain bottleneck autoencoder down to 8x8 with a sigmoid output,
what we had before, blurred the images so much that four of them in a row left the classifier near 20%:
a denoiser that keeps the image has to be able to pass it through nearly unchanged.) Its reconstruction
quality is reported as PSNR on test images.
"Stacked k times" applies the same trained autoencoder k times in a row (one training, k passes); the
input noise, when on, is drawn afresh at every forward pass, so the defended classifier is random.

Two attacks on it: the plain **transfer** attack (adversarials crafted on the bare classifier, then fed
through the defense, what the study measured) and the **adaptive** attack, ``eot_pgd``: PGD through the whole
chain (noise, autoencoders, classifier), each step's gradient averaging the loss over ``samples`` noise draws
(expectation over transformation, Athalye et al. 2018), through ``helpers.gradient_attacks``.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from helpers.gradient_attacks import default_step_size, in_batches, input_gradient, pgd
from helpers.training import fit, train_or_load


class DenoisingAutoencoder(nn.Module):
    """Encoder: pixel-unshuffle (each 2x2 block of the 32x32 image becomes 12 channels of a 16x16 map) and 3x3
    convolutions to ``channels`` maps at 16x16; decoder: a convolution back to 12 channels and pixel-shuffle to
    32x32. The output is the input plus this correction, clipped to [0, 1] (residual, FFDNet-style). Working at
    16x16 makes it about three times cheaper on a CPU than full-resolution convolutions of the same width
    (measured), which matters because the adaptive attack differentiates through up to four of them."""

    def __init__(self, channels: int = 32, depth: int = 3):
        super().__init__()
        c = channels
        layers = [nn.PixelUnshuffle(2), nn.Conv2d(12, c, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(c, c, 3, padding=1), nn.ReLU()]
        self.encoder = nn.Sequential(*layers)
        self.decoder = nn.Sequential(nn.Conv2d(c, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        return (x + self.decoder(self.encoder(x))).clamp(0, 1)


def psnr(reference: torch.Tensor, image: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1] (mean squared error over the whole set)."""
    mse = float(F.mse_loss(image, reference))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


@torch.no_grad()
def reconstruction_quality(autoencoder: nn.Module, x: torch.Tensor, *, sigma: float, layers: int, seed: int = 0,
                           device="cpu") -> dict:
    """PSNR (dB) against the clean images of: the noisy input, the autoencoder's output on it (1..``layers``
    passes), and the autoencoder's output on the clean images (how much it alters an image it should leave)."""
    torch.manual_seed(seed)
    autoencoder.to(device).eval()
    x = x.to(device)
    noisy = add_noise(x, sigma)
    out, passes = noisy, {}
    for k in range(1, layers + 1):
        out = autoencoder(out)
        passes[k] = psnr(x, out)
    return {"noisy": psnr(x, noisy), "denoised": passes, "clean_through": psnr(x, autoencoder(x)), "images": len(x)}


def add_noise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x + N(0, sigma^2)`` per pixel, clipped to [0, 1]; ``x`` itself when ``sigma`` is 0."""
    return (x + sigma * torch.randn_like(x)).clamp(0, 1) if sigma > 0 else x


def denoising_loss(autoencoder: nn.Module, x: torch.Tensor, *, sigma: float) -> torch.Tensor:
    """The autoencoder's training objective: mean squared error between its output on a noisy copy and the clean x."""
    noisy = add_noise(x, sigma)  # x + N(0, sigma^2), clipped to [0, 1]
    return F.mse_loss(autoencoder(noisy), x)


def purify(x: torch.Tensor, autoencoder: nn.Module | None, *, layers: int, noise: float) -> torch.Tensor:
    """The defense in front of the classifier: fresh Gaussian noise, then the same autoencoder ``layers`` times."""
    x = add_noise(x, noise)  # a new draw at every call: the defended classifier is random
    for _ in range(layers):
        x = autoencoder(x)
    return x


class DefendedClassifier(nn.Module):
    """``classifier(ae^layers(x + noise))``: the defense as one differentiable (and, with noise, random) model."""

    def __init__(self, classifier: nn.Module, autoencoder: nn.Module | None, layers: int, noise: float = 0.0):
        super().__init__()
        if layers < 0 or (layers > 0 and autoencoder is None):
            raise ValueError("layers must be >= 0 and needs an autoencoder when > 0")
        self.classifier, self.autoencoder, self.layers, self.noise = classifier, autoencoder, layers, noise

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        return purify(x, self.autoencoder, layers=self.layers, noise=self.noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.purify(x))


def train_denoiser(data, *, sigma: float, epochs: int, batch_size: int, learning_rate: float, seed: int, device, channels: int = 32):
    """Train the autoencoder on ``x + N(0, sigma^2) -> x`` (mean squared error) or load it; (model, history, from_cache)."""
    torch.manual_seed(seed)
    model = DenoisingAutoencoder(channels)

    def loss_fn(net, x, _y):
        return denoising_loss(net, x, sigma=sigma), torch.zeros(len(x), 1, device=x.device)

    def train(net):
        return {"history": fit(net, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, lr=learning_rate,
                               loss_fn=loss_fn, device=device, seed=seed, desc="training denoiser")}

    from .model import data_parts

    parts = {**data_parts(data), "sigma": sigma, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
             "seed": seed, "channels": channels, "architecture": "unshuffle-residual-v3"}
    entry = train_or_load("cifar-robust-denoiser", model, train, parts)
    return model.to(device).eval(), entry.meta.get("history", []), entry.from_cache


@torch.no_grad()
def chain_accuracy(chain: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256, device="cpu", seed: int = 0) -> float:
    """Accuracy of a (random) defended classifier, one noise draw per image, seeded."""
    torch.manual_seed(seed)
    chain.to(device).eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        correct += (chain(xb).argmax(1) == yb).sum().item()
    return correct / len(x)


def eot_pgd(chain: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, samples: int,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """PGD through noise, autoencoders and classifier; each step follows the gradient of the loss averaged over
    ``samples`` forward passes, each with its own noise draw (expectation over transformation)."""
    gradient = input_gradient(chain, samples=samples)  # eval mode; the input noise stays random
    return pgd(gradient, x, y, eps=eps, steps=steps, step_size=default_step_size(eps, steps), generator=generator)


def adaptive_pgd(chain: DefendedClassifier, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, eot: int,
                 batch_size: int = 128, device="cpu", seed: int = 0) -> torch.Tensor:
    """``eot_pgd`` over ``x`` in batches, seeded; one noise draw per step when the chain adds no noise."""
    torch.manual_seed(seed)
    chain.to(device).eval()
    samples = eot if chain.noise > 0 else 1
    attack = lambda xb, yb: eot_pgd(chain, xb, yb, eps=eps, steps=steps, samples=samples)  # noqa: E731
    return in_batches(attack, x, y, batch_size=batch_size, device=device)
