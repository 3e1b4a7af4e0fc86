"""An attacker who knows the defense: PGD through the pre-processor (BPDA), and PGD through the whole defense
with a differentiable surrogate of LightGBM.

Every attack here is ``helpers.gradient_attacks.pgd`` with a gradient function:

- ``transfer_pgd``: the gradient of the bare CNN (what the defense was tuned on);
- ``bpda_gradient``: the pre-processor runs forward on the NumPy side and its backward pass is the identity
  (BPDA, Athalye et al. 2018), so PGD optimises against what the CNN sees *after* smoothing / compression;
- ``surrogate_attack``: BPDA through the pre-processor, then the CNN, its softmax and a small network trained
  to reproduce LightGBM (``surrogate.py``), whose gradient stands in for the tree ensemble's missing one.

Every result is scored on the real pipeline, pre-processor -> CNN -> LightGBM. ART's defended classifier
(``defended_classifier``: the pre-processor as ``preprocessing_defences``, LightGBM as
``postprocessing_defences``) is what the final evaluation predicts with, and ``art_bpda_pgd`` runs ART's own
PGD through it: the notebook checks that the readable BPDA gives the same images.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from helpers import attacks
from helpers.gradient_attacks import default_step_size, input_gradient, pgd
from helpers.progress import progress_bar
from .model import WithSoftmax
from .preprocessors import preprocessed_probabilities
from .surrogate import Surrogate, agreement, build_surrogate


def defended_classifier(model, *, image_size: int, preprocessor=None, postprocessor=None, device="cpu", logits: bool = False):
    """ART classifier: ``preprocessor`` -> model -> softmax -> ``postprocessor`` (either may be None).

    ``logits=True`` leaves out the softmax (and must have no post-processor): the attacks differentiate
    cross-entropy on logits, which does not vanish where the softmax saturates in float32.
    """
    if logits and postprocessor is not None:
        raise ValueError("post-processors work on probabilities: use logits=False with a post-processor")
    return attacks.as_art_classifier(
        model if logits else WithSoftmax(model), input_shape=(3, image_size, image_size), nb_classes=4, device=device,
        from_logits=logits,
        preprocessing_defences=[preprocessor] if preprocessor is not None else None,
        postprocessing_defences=[postprocessor] if postprocessor is not None else None,
    )


def as_function(preprocessor) -> Callable[[np.ndarray], np.ndarray] | None:
    """An ART pre-processor (``x -> (x', y)``) as a function of the images alone; None stays None."""
    if preprocessor is None:
        return None
    return lambda images: preprocessor(np.asarray(images, dtype=np.float32))[0]


def bpda_gradient(model, preprocess, loss=F.cross_entropy):
    """``gradient(x, y)`` of ``loss(model(preprocess(x)), y)``, with the identity as the pre-processor's backward pass.

    ``preprocess`` is any NumPy function of the images (a median filter, JPEG): it runs forward as it is, the
    gradient is taken with respect to its *output*, and that gradient is used as if it were the one with
    respect to its input (Backward Pass Differentiable Approximation, Athalye et al. 2018).
    """
    def gradient(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen = torch.from_numpy(preprocess(x.detach().cpu().numpy())).to(x.device).requires_grad_(True)
        value = loss(model(seen), y)
        (grad,) = torch.autograd.grad(value, seen)
        return grad  # d loss / d preprocess(x), standing in for d loss / d x

    return gradient


def surrogate_attack(model, surrogate, preprocess, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """PGD on the whole defense: BPDA through the pre-processor, then the CNN's softmax and the surrogate of LightGBM.

    The loss is the cross-entropy of the surrogate's logits, so each step moves the tile towards where the
    surrogate (and, if it is faithful, LightGBM) stops answering the true class.
    """
    def through_defense(images: torch.Tensor) -> torch.Tensor:
        return surrogate(torch.softmax(model(images), dim=1))

    gradient = bpda_gradient(through_defense, preprocess)
    return pgd(gradient, x, y, eps=eps, steps=steps, step_size=default_step_size(eps, steps), generator=generator)


def _in_batches(attack: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: np.ndarray, y: np.ndarray, *, batch_size: int,
                device, desc: str) -> np.ndarray:
    """``attack(x_batch, y_batch)`` over NumPy ``x`` in batches on ``device``, with a progress bar; float32 NumPy out."""
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    device = torch.device(device) if device is not None else torch.device("cpu")
    out = np.empty_like(x)
    with progress_bar(total=len(x), desc=desc, unit="img") as bar:
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            images, labels = torch.from_numpy(x[start:stop]).to(device), torch.from_numpy(y[start:stop]).to(device)
            out[start:stop] = attack(images, labels).cpu().numpy()
            bar.update(len(images))
    return out


def transfer_pgd(model, x: np.ndarray, y: np.ndarray, *, eps: float, steps: int, seed: int = 0, device="cpu",
                 batch_size: int = 128, desc: str | None = None) -> np.ndarray:
    """PGD on the bare CNN (a random start drawn with ``seed``): the attack the defense was tuned on, transferred to it."""
    generator = torch.Generator().manual_seed(seed)
    gradient = input_gradient(model)
    return _in_batches(lambda xb, yb: pgd(gradient, xb, yb, eps=eps, steps=steps, step_size=default_step_size(eps, steps),
                                          generator=generator),
                       x, y, batch_size=batch_size, device=device, desc=desc or f"transfer PGD eps={eps:g}")


def bpda_pgd(model, x: np.ndarray, y: np.ndarray, *, preprocessor, eps: float, steps: int, seed: int = 0, device="cpu",
             batch_size: int = 128, random_start: bool = True, desc: str | None = None, **_) -> np.ndarray:
    """PGD through the pre-processor (BPDA) and the CNN's logits, ignoring any post-processor."""
    generator = torch.Generator().manual_seed(seed)
    gradient = bpda_gradient(model, as_function(preprocessor))
    return _in_batches(lambda xb, yb: pgd(gradient, xb, yb, eps=eps, steps=steps, step_size=default_step_size(eps, steps),
                                          random_start=random_start, generator=generator),
                       x, y, batch_size=batch_size, device=device, desc=desc or f"BPDA-PGD eps={eps:g}")


def art_bpda_pgd(model, x: np.ndarray, y: np.ndarray, *, preprocessor, eps: float, steps: int, image_size: int, device="cpu",
                 batch_size: int = 128) -> np.ndarray:
    """ART's own PGD (no random start) on ART's classifier with the pre-processor as a ``preprocessing_defences``
    entry: ART runs it forward and passes the gradient through its ``estimate_gradient``, the identity (BPDA)."""
    classifier = defended_classifier(model, image_size=image_size, preprocessor=preprocessor, device=device, logits=True)
    attack = attacks.make_attack("pgd", classifier, eps=eps, max_iter=steps, batch_size=batch_size, num_random_init=0)
    return attacks.generate(attack, x, y, desc=f"ART PGD through the pre-processor eps={eps:g}")


def end_to_end_pgd(model, surrogate_net, x: np.ndarray, y: np.ndarray, *, preprocessor, eps: float, steps: int, seed: int = 0,
                   device="cpu", batch_size: int = 128, desc: str | None = None, **_) -> np.ndarray:
    """``surrogate_attack`` over ``x`` in batches: PGD through pre-processor (BPDA), CNN and the surrogate of LightGBM."""
    surrogate_net.to(torch.device(device) if device is not None else torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed)
    preprocess = as_function(preprocessor) or (lambda images: images)
    return _in_batches(lambda xb, yb: surrogate_attack(model, surrogate_net, preprocess, xb, yb, eps=eps, steps=steps,
                                                       generator=generator),
                       x, y, batch_size=batch_size, device=device, desc=desc or f"end-to-end PGD eps={eps:g}")


def end_to_end_rounds(model, lightgbm, x: np.ndarray, y: np.ndarray, *, preprocessor, train_probs: np.ndarray,
                      held_out_probs: np.ndarray, rounds: int, samples: int, hidden: int, surrogate_steps: int, eps: float,
                      steps: int, seed: int = 0, device="cpu", batch_size: int = 128,
                      desc: str = "end-to-end PGD", **_) -> tuple[np.ndarray, Surrogate]:
    """The end-to-end attacker: fit a surrogate of ``lightgbm``, run PGD through pre-processor, CNN and surrogate, and repeat.

    After each round the softmax vectors of the attack's own examples, labelled by LightGBM, join the surrogate's
    training inputs (weighted up to about a fifth of them), so the next surrogate is right where the attack goes.
    The attacker knows LightGBM: for each tile it keeps the first example that fools the real pipeline, else the
    last round's. Returns the examples and the last round's surrogate (its ``agreement_attack`` is measured at that
    round's examples).
    """
    x_best, fooled = np.array(x, dtype=np.float32, copy=True), np.zeros(len(y), dtype=bool)
    seen = np.zeros((0, train_probs.shape[1]), dtype=np.float32)
    surrogate = None
    for round_ in range(rounds):
        repeat = max(1, samples // max(5 * len(seen), 1)) if len(seen) else 0
        inputs = np.concatenate([train_probs, np.repeat(seen, repeat, axis=0)]) if repeat else train_probs
        surrogate = build_surrogate(lightgbm, inputs, held_out_probs, samples=samples, hidden=hidden, steps=surrogate_steps, seed=seed + round_)
        x_round = end_to_end_pgd(model, surrogate.net, x, y, preprocessor=preprocessor, eps=eps, steps=steps, seed=seed + round_,
                                 device=device, batch_size=batch_size, desc=f"{desc} (round {round_ + 1} of {rounds})")
        probs = preprocessed_probabilities(model, preprocessor, x_round, device=device, desc="scoring the round on the real pipeline")
        surrogate.agreement_attack, surrogate.attack_inputs = agreement(surrogate.net, lightgbm, probs), len(y)
        x_best[~fooled] = x_round[~fooled]
        fooled |= np.asarray(lightgbm(probs)).argmax(1) != y
        seen = np.concatenate([seen, probs.astype(np.float32)])
    surrogate.rounds = rounds
    return x_best, surrogate
