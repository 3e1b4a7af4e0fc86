"""An attacker who knows the defense: PGD through each alteration used as a defense.

Section 5 of the notebook asks whether JPEG compression or blur undo an attack crafted against the bare
model. An attacker who knows that the photos are JPEG-compressed, blurred, PCA-reconstructed or noised
before the model sees them attacks the whole pipeline instead (Athalye, Carlini and Wagner 2018). Each
defense gets the gradient it allows, written in TensorFlow so that ``tf.GradientTape`` goes through it:

- **blur**: the k x k mean filter as a depthwise convolution with edges reflected, the same numbers as
  ``alterations.blur`` (``scipy.ndimage.uniform_filter``): exactly differentiable;
- **PCA reconstruction**: each channel's rows projected on the image's own first principal components
  and back, ``centred @ V V^T + mean``; the components are recomputed from the current image at every
  step (so the forward pass is the defense itself) and held fixed for the gradient, which is then
  that linear map's;
- **JPEG**: not differentiable (8-bit rounding, quantised DCT). BPDA, the straight-through estimator:
  the forward pass is the real JPEG (Pillow), the backward pass the identity;
- **pixel noise**: random, so the gradient is averaged over ``eot_samples`` fresh noise draws per step
  (expectation over transformation, EOT); one draw, ``x * (1 - mask) + values``, is differentiable in
  ``x`` (``alterations.noise_draw``).

``pgd_through`` is ``keras_attacks.pgd``, the recipe of the plain attack (L-infinity, true labels, a uniform
random start in the ball, ``pgd_steps`` signed steps of ``2.5 * eps / steps``, projection and clipping to
[0, 1]), with the defense inside the gradient. For the deterministic defenses the gradient of an image the
defended model already gets wrong is zero, so it stops moving (its forward pass is the defense itself, so it
stays wrong); the noise attack always takes every step. ``adaptive_sweep`` scores clean, plain-attacked and
through-the-defense images on the real (NumPy) defense, with their SSIM.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from helpers import metrics
from helpers.frameworks import import_tensorflow
from helpers.progress import progress_bar
from . import keras_attacks
from .alterations import ALTERATIONS, jpeg, noise_draw
from .backbones import TransferModel
from .keras_attacks import Gradient

DEFENSES = ("jpeg", "blur", "pca", "noise")


# --------------------------------------------------------------------------------------------------
# The defenses in TensorFlow


def blur_tf(x, kernel: int):
    """``alterations.blur`` as a depthwise convolution: a k x k mean filter, edges reflected (scipy's ``reflect``).

    For an even ``kernel`` the window covers ``kernel // 2`` pixels before and ``(kernel - 1) // 2`` after,
    as ``scipy.ndimage.uniform_filter`` places it.
    """
    tf = import_tensorflow()
    if kernel < 1:
        raise ValueError(f"kernel must be >= 1, got {kernel}")
    x = tf.convert_to_tensor(x, tf.float32)
    if kernel == 1:
        return tf.identity(x)
    before, after = kernel // 2, (kernel - 1) // 2
    padded = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]], mode="SYMMETRIC")
    weights = tf.ones((kernel, kernel, 3, 1), tf.float32) / float(kernel * kernel)
    return tf.nn.depthwise_conv2d(padded, weights, strides=[1, 1, 1, 1], padding="VALID")


def pca_reconstruction_tf(x, components: int):
    """``alterations.pca_reconstruction`` as a linear map of the image: rows centred, projected on the
    first ``components`` right singular vectors of the image's own centred channel, and back; clipped to [0, 1].

    The singular vectors come from the current image (``stop_gradient``): the output equals the defense,
    and the gradient is that of the projection with the components held fixed.
    """
    tf = import_tensorflow()
    if components < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    x = tf.convert_to_tensor(x, tf.float32)
    planes = tf.transpose(x, [0, 3, 1, 2])  # N, C, H, W: each row of a channel is one sample
    keep = min(int(components), int(x.shape[1]), int(x.shape[2]))
    mean = tf.reduce_mean(planes, axis=2, keepdims=True)
    centred = planes - mean
    _, _, v = tf.linalg.svd(tf.stop_gradient(centred))  # v: N, C, W, min(H, W)
    basis = v[..., :keep]
    projection = tf.matmul(basis, basis, transpose_b=True)  # N, C, W, W
    rebuilt = tf.matmul(centred, projection) + mean
    return tf.clip_by_value(tf.transpose(rebuilt, [0, 2, 3, 1]), 0.0, 1.0)


def jpeg_bpda_tf(x, quality: int):
    """The real JPEG round trip forward (``alterations.jpeg``), the identity backward (BPDA)."""
    tf = import_tensorflow()
    x = tf.convert_to_tensor(x, tf.float32)
    compressed = tf.numpy_function(lambda batch: jpeg(batch, quality), [x], tf.float32, stateful=False)
    compressed.set_shape(x.shape)
    return x + tf.stop_gradient(compressed - x)


def noise_tf(x, mask, values):
    """One draw of the study's pixel noise (``alterations.noise_draw``): ``x * (1 - mask) + values``."""
    tf = import_tensorflow()
    return tf.convert_to_tensor(x, tf.float32) * (1.0 - mask) + values


@dataclass(frozen=True)
class Defense:
    """One alteration used as a defense at one level, and how the attacker differentiates through it."""

    name: str
    level: float
    eot_samples: int = 1  # noise: draws averaged per step

    @property
    def stochastic(self) -> bool:
        return self.name == "noise"

    @property
    def label(self) -> str:
        return ALTERATIONS[self.name].label(self.level)

    @property
    def gradient(self) -> str:
        """How the attacker gets a gradient through this defense, in words."""
        return {
            "jpeg": "BPDA: real JPEG forward, identity backward",
            "blur": "exact: the mean filter as a convolution",
            "pca": "the projection on the image's own components (held fixed)",
            "noise": f"EOT: mean over {self.eot_samples} noise draws per step",
        }[self.name]

    @property
    def short_gradient(self) -> str:
        """``gradient`` in a few words, for figure titles."""
        return {"jpeg": "BPDA", "blur": "exact gradient", "pca": "linear map, basis fixed",
                "noise": f"EOT over {self.eot_samples} draws"}[self.name]

    def apply(self, x: np.ndarray, *, seed=0) -> np.ndarray:
        """The defense itself, in NumPy (what every image is scored through)."""
        return ALTERATIONS[self.name](x, self.level, seed=seed)

    def apply_tf(self, x, *draw):
        """The differentiable (or straight-through) TensorFlow version; ``draw`` is (mask, values) for noise."""
        if self.name == "blur":
            return blur_tf(x, int(self.level))
        if self.name == "pca":
            return pca_reconstruction_tf(x, int(self.level))
        if self.name == "jpeg":
            return jpeg_bpda_tf(x, int(self.level))
        if self.name == "noise":
            return noise_tf(x, *draw)
        raise ValueError(f"no attack through {self.name!r}; choose from {', '.join(DEFENSES)}")


def defenses_of(levels: Mapping[str, float], *, eot_samples: int = 1) -> list[Defense]:
    """``{"jpeg": 50, "blur": 3, ...}`` as Defense objects, in ``DEFENSES`` order."""
    unknown = set(levels) - set(DEFENSES)
    if unknown:
        raise ValueError(f"no attack through {sorted(unknown)}; choose from {', '.join(DEFENSES)}")
    return [Defense(name, levels[name], eot_samples if name == "noise" else 1) for name in DEFENSES if name in levels]


# --------------------------------------------------------------------------------------------------
# PGD through a defense


def eot_noise_gradient(through_one_draw: Gradient, percent: float, *, samples: int, rng: np.random.Generator) -> Gradient:
    """``gradient(x, y)`` through the random pixel noise: the loss gradient through one draw of the noise,
    averaged over ``samples`` fresh draws (the expectation over transformation, EOT).

    ``through_one_draw(x, y, mask, values)`` is the gradient through the draw ``x * (1 - mask) + values``
    (``defense_gradient`` of the noise defense); the draws come from ``rng``.
    """
    def gradient(x, y):
        total = np.zeros(x.shape, np.float32)
        for _ in range(samples):
            mask, values = noise_draw(x.shape, percent, seed=rng)
            total += through_one_draw(x, y, mask, values)
        return total / samples

    return gradient


def defense_gradient(keras_model, defense: Defense) -> Gradient:
    """The attacker's loss gradient through ``defense`` then ``keras_model`` (compiled once; see
    ``keras_attacks.input_gradient``). Deterministic defenses: zero for the images the defended model already
    gets wrong, so that they stop moving. Noise: one draw ``(mask, values)`` is passed with the images."""
    return keras_attacks.input_gradient(keras_model, defense.apply_tf, until_fooled=not defense.stochastic)


def pgd_through(
    model: TransferModel,
    x: np.ndarray,
    y: np.ndarray,
    defense: Defense,
    *,
    eps: float,
    steps: int,
    eps_step: float | None = None,
    seed: int = 0,
    batch_size: int = 32,
    gradient: Gradient | None = None,
) -> np.ndarray:
    """L-infinity PGD with true labels against ``defense`` followed by ``model``; returns the attacked images.

    ``keras_attacks.pgd``, the recipe of the plain attack (``helpers.attacks``): a uniform random start in the
    eps-ball, ``steps`` steps of ``eps_step`` (default ``2.5 * eps / steps``) along the sign of the gradient,
    projected on the ball and on [0, 1]. The gradient goes through the defense (``defense_gradient``, or
    ``gradient`` when given); for noise it is the mean over ``defense.eot_samples`` draws per step
    (``eot_noise_gradient``), drawn from the seed's own stream, never the draw the images are scored with.
    """
    through = gradient or defense_gradient(model.model, defense)
    start = np.random.default_rng([seed, 1])  # the random start
    if defense.stochastic:
        draws = np.random.default_rng([seed, 2])  # the attacker's noise draws
        through = eot_noise_gradient(through, defense.level, samples=defense.eot_samples, rng=draws)
    step_size = keras_attacks.default_step_size(eps, steps) if eps_step is None else eps_step

    def attack(images, labels):
        return keras_attacks.pgd(through, images, labels, eps=eps, steps=steps, step_size=step_size, rng=start)

    return keras_attacks.in_batches(attack, x, y, batch_size=batch_size)


# --------------------------------------------------------------------------------------------------
# The sweep: clean, plain attack, attack through the defense, per defense and budget


@dataclass
class AdaptiveSweep:
    """One backbone, its evaluation images and every defense at every budget.

    ``rows``: one per (defense, epsilon) with the true-label accuracy on the defended model of the
    clean images (``clean_accuracy``), of the plain PGD images made against the bare model
    (``plain_accuracy``) and of PGD through the defense (``through_accuracy``), the plain images'
    accuracy on the bare model (``undefended_accuracy``) and each attack's mean SSIM to the originals
    (before the defense: what the attacker hands over).
    """

    backbone: str
    images: int
    steps: int
    defenses: list[Defense]
    rows: list[dict] = field(default_factory=list)
    undefended_clean: float = float("nan")  # the bare model's accuracy on the clean images
    seconds: dict[str, float] = field(default_factory=dict)

    def curve(self, defense: str) -> list[dict]:
        return [r for r in self.rows if r["defense"] == defense]


def adaptive_sweep(
    model: TransferModel,
    x: np.ndarray,
    y: np.ndarray,
    plain: Mapping[float, np.ndarray],
    defenses: Sequence[Defense],
    *,
    steps: int,
    seed: int = 0,
    batch_size: int = 32,
) -> AdaptiveSweep:
    """Every defense at every budget of ``plain`` (epsilon -> PGD images made against the bare model, same
    order as ``x``): accuracy clean, under the plain attack and under PGD through the defense, with SSIM.

    Every image is scored through the NumPy defense; noise is drawn with ``seed``, as in the other sections.
    """
    result = AdaptiveSweep(model.backbone, len(y), steps, list(defenses))
    result.undefended_clean = metrics.accuracy(model.predict(x), y)
    clean = {d.name: metrics.accuracy(model.predict(d.apply(x, seed=seed)), y) for d in defenses}
    gradients = {d.name: defense_gradient(model.model, d) for d in defenses}
    with progress_bar(total=len(plain) * len(defenses), desc=f"PGD through the defenses on {model.backbone}", unit="attack") as bar:
        for eps, plain_images in plain.items():
            plain_images = np.asarray(plain_images, dtype=np.float32)
            plain_ssim = float(metrics.ssim(x, plain_images, data_range=1.0).mean())
            undefended = metrics.accuracy(model.predict(plain_images), y)
            for defense in defenses:
                started = time.perf_counter()
                through = pgd_through(model, x, y, defense, eps=eps, steps=steps, seed=seed, batch_size=batch_size,
                                      gradient=gradients[defense.name])
                result.rows.append({
                    "defense": defense.name, "level": defense.level, "epsilon": float(eps),
                    "clean_accuracy": clean[defense.name],
                    "undefended_accuracy": undefended,
                    "plain_accuracy": metrics.accuracy(model.predict(defense.apply(plain_images, seed=seed)), y),
                    "through_accuracy": metrics.accuracy(model.predict(defense.apply(through, seed=seed)), y),
                    "plain_ssim": plain_ssim,
                    "through_ssim": float(metrics.ssim(x, through, data_range=1.0).mean()),
                })
                result.seconds[defense.name] = result.seconds.get(defense.name, 0.0) + time.perf_counter() - started
                bar.update(1)
    return result
