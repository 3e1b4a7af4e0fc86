"""FGSM and PGD for Keras models in plain TensorFlow and NumPy: the Keras side's one home of both.

The PyTorch studies take theirs from ``helpers.gradient_attacks``; this module is the same pair for a Keras
model, with the same shape: every attack needs only a function ``gradient(x, y)`` that returns the gradient
of a loss with respect to the input, as a NumPy array.

- ``input_gradient(model, transform=...)`` makes one: the gradient of the summed cross-entropy of
  ``model(transform(x))`` (``loss_gradient``). The transform is a defense written in TensorFlow
  (``adaptive``: blur, PCA, BPDA through JPEG, one draw of pixel noise), so that the attack goes through it;
  ``until_fooled=True`` returns zeros for the images the model already gets wrong, so that they stop
  moving (``sign(0) = 0``), and does not compute them again while they stay where they are.
- ``fgsm`` (Goodfellow et al. 2015): ``clip(x + eps * sign(gradient))``.
- ``pgd`` (Madry et al. 2018): from a uniform point of the eps-ball, ``steps`` signed steps of ``step_size``,
  each projected back onto the ball and the pixel range.

Section 4 of the notebook attacks through ART (as the source study did); these functions are the same
algorithms written out, and ``study.compare_with_art`` runs both on a few photos to show that they agree.
Section 6 runs ``pgd`` with gradients through the defenses.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from helpers.frameworks import import_tensorflow

Gradient = Callable[..., np.ndarray]


def loss_gradient(keras_model, transform: Callable | None = None) -> Callable:
    """``loss_gradient(x, y, *extra) -> (gradient, logits)``: the gradient of the summed cross-entropy of
    ``keras_model(transform(x, *extra))`` with respect to ``x``, and the logits (NumPy arrays).

    ``extra`` is what the transform needs besides the images (one noise draw); the tape records the whole
    pipeline, so the gradient goes through the transform.
    """
    tf = import_tensorflow()
    transform = transform or (lambda x: x)
    cross_entropy = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

    def tape(x, y, *extra):
        with tf.GradientTape() as recorded:
            recorded.watch(x)
            logits = keras_model(transform(x, *extra), training=False)
            loss = cross_entropy(y, logits)
        return recorded.gradient(loss, x), logits

    compiled = {}  # one graph per number of extras, for batches of any size

    def gradient_and_logits(x, y, *extra):
        if len(extra) not in compiled:
            images = tf.TensorSpec([None, *np.shape(x)[1:]], tf.float32)
            signature = [images, tf.TensorSpec([None], tf.int64)] + [images] * len(extra)
            compiled[len(extra)] = _compile(tape, signature)
        grad, logits = compiled[len(extra)](tf.constant(x, tf.float32), tf.constant(y, tf.int64),
                                            *(tf.constant(e, tf.float32) for e in extra))
        return grad.numpy(), logits.numpy()

    return gradient_and_logits


def _compile(function: Callable, signature: list):
    """``function`` as one TensorFlow graph for batches of any size (plain Python inside: no AutoGraph).

    TensorFlow counts the traces of every function with the same code together and warns when there are many;
    each defense's gradient is its own graph, traced once, so each gets its own count (a ``partial`` has no code).
    """
    import functools

    return import_tensorflow().function(functools.partial(function), input_signature=signature, autograph=False)


def input_gradient(keras_model, transform: Callable | None = None, *, until_fooled: bool = False) -> Gradient:
    """``gradient(x, y, *extra)``: the loss gradient of ``loss_gradient`` alone.

    ``until_fooled``: zero for every image the model (behind a deterministic ``transform``) already gets wrong,
    so that a sign step leaves it where it is. Such an image is not computed again while it stays unchanged.
    """
    gradient_and_logits = loss_gradient(keras_model, transform)
    if not until_fooled:
        return lambda x, y, *extra: gradient_and_logits(x, y, *extra)[0]
    seen = {}  # the last batch and which of its images were fooled

    def gradient(x, y):
        x, y = np.asarray(x, np.float32), np.asarray(y)
        fooled = np.zeros(len(x), bool)
        if seen and seen["x"].shape == x.shape and np.array_equal(seen["y"], y):
            fooled = seen["fooled"] & np.all(seen["x"] == x, axis=tuple(range(1, x.ndim)))
        grad = np.zeros_like(x)
        if not fooled.all():
            grad[~fooled], logits = gradient_and_logits(x[~fooled], y[~fooled])
            fooled[~fooled] = np.argmax(logits, axis=1) != y[~fooled]
        grad[fooled] = 0.0
        seen.update(x=x.copy(), y=y.copy(), fooled=fooled)
        return grad

    return gradient


def fgsm(gradient: Gradient, x: np.ndarray, y: np.ndarray, *, eps: float,
         clip: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Fast gradient sign method: one step of size ``eps`` along the sign of the loss gradient, then clipped
    to the pixel range."""
    x = np.asarray(x, np.float32)
    return np.clip(x + eps * np.sign(gradient(x, y)), *clip).astype(np.float32)


def pgd(gradient: Gradient, x: np.ndarray, y: np.ndarray, *, eps: float, steps: int, step_size: float,
        rng: np.random.Generator | None = None, random_start: bool = True,
        clip: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """L-infinity projected gradient descent: from a uniform random point of the eps-ball (drawn from ``rng``),
    ``steps`` steps of ``step_size`` up the sign of the loss gradient, each projected onto the ball and ``clip``."""
    x = np.asarray(x, np.float32)
    x_adv = x.copy()
    if random_start:
        x_adv = np.clip(x + rng.uniform(-eps, eps, x.shape).astype(np.float32), *clip)
    for _ in range(steps):
        x_adv = x_adv + step_size * np.sign(gradient(x_adv, y))
        x_adv = np.clip(np.clip(x_adv, x - eps, x + eps), *clip)  # projection onto the ball, then the pixel range
    return x_adv.astype(np.float32)


def default_step_size(eps: float, steps: int) -> float:
    """Madry et al.'s rule, as ``helpers.attacks`` gives ART's PGD: steps of ``2.5 * eps / steps``."""
    return 2.5 * eps / max(steps, 1)


def in_batches(attack: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray, *,
               batch_size: int) -> np.ndarray:
    """``attack(x_batch, y_batch)`` over ``x`` in batches of ``batch_size``, concatenated."""
    x, y = np.asarray(x, np.float32), np.asarray(y)
    pieces = [attack(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(pieces) if pieces else x.copy()
