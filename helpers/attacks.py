"""Attacks through the Adversarial Robustness Toolbox (ART), built by name.

``as_art_classifier`` wraps a PyTorch module or a Keras model as ART's PyTorchClassifier or
TensorFlowV2Classifier. ``make_attack`` builds an ART evasion attack from a short name with sane
defaults, and ``generate`` runs it in batches with one progress bar. PGD keeps the iterations on the framework's
device: for a PyTorch classifier it is ``helpers.torch_pgd.TorchNativePGD`` (ART's
``ProjectedGradientDescentPyTorch`` with a leaner loop for the plain L-infinity case), for a Keras model
ART's ``ProjectedGradientDescent``, which dispatches to ``ProjectedGradientDescentTensorFlowV2``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .art_compat import input_gradient_classifier_class
from .progress import progress_bar


def _is_torch_module(model) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(model, torch.nn.Module)


def as_art_classifier(
    model,
    *,
    input_shape: tuple[int, ...],
    nb_classes: int,
    clip_values: tuple[float, float] = (0.0, 1.0),
    device=None,
    from_logits: bool = True,
    preprocessing_defences=None,
    postprocessing_defences=None,
):
    """Wrap ``model`` (a torch ``nn.Module`` or a Keras model) as an ART classifier.

    Torch models take NCHW inputs; Keras models NHWC. ``from_logits`` says whether the model
    outputs logits (True) or probabilities, which decides the loss ART differentiates.
    """
    if _is_torch_module(model):
        import torch

        device = torch.device(device) if device is not None else next(model.parameters()).device
        model.eval()
        loss = torch.nn.CrossEntropyLoss() if from_logits else _nll_of_probabilities()
        return input_gradient_classifier_class()(
            model=model,
            loss=loss,
            input_shape=tuple(input_shape),
            nb_classes=nb_classes,
            clip_values=clip_values,
            preprocessing_defences=preprocessing_defences,
            postprocessing_defences=postprocessing_defences,
            device_type="gpu" if device.type == "cuda" else "cpu",
        )
    tf = sys.modules.get("tensorflow")  # a Keras model means TensorFlow is already imported
    if tf is None or not isinstance(model, tf.keras.Model):
        raise TypeError(f"cannot wrap {type(model).__name__}: expected a torch nn.Module or a keras.Model")
    from art.estimators.classification import TensorFlowV2Classifier

    return TensorFlowV2Classifier(
        model=model,
        nb_classes=nb_classes,
        input_shape=tuple(input_shape),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        clip_values=clip_values,
        preprocessing_defences=preprocessing_defences,
        postprocessing_defences=postprocessing_defences,
    )


def _nll_of_probabilities():
    import torch

    class NLLOfProbabilities(torch.nn.Module):
        """Cross-entropy for a model whose outputs are already probabilities."""

        def forward(self, probabilities, target):
            if target.ndim == 2:  # ART passes one-hot labels to some losses
                target = target.argmax(1)
            return torch.nn.functional.nll_loss(torch.log(probabilities.clamp_min(1e-12)), target)

    return NLLOfProbabilities()



@dataclass(frozen=True)
class AttackSpec:
    """How to build one attack: the ART class and the defaults we think are sane for it."""

    title: str
    build: Callable[..., Any]
    uses_eps: bool


def _fgsm(classifier, eps, batch_size, **kwargs):
    from art.attacks.evasion import FastGradientMethod

    return FastGradientMethod(classifier, eps=eps, eps_step=eps, batch_size=batch_size, **kwargs)


def _bim(classifier, eps, batch_size, max_iter=10, eps_step=None, **kwargs):
    from art.attacks.evasion import BasicIterativeMethod

    eps_step = eps_step if eps_step is not None else eps / 4
    return BasicIterativeMethod(classifier, eps=eps, eps_step=eps_step, max_iter=max_iter, batch_size=batch_size, verbose=False, **kwargs)


def _pgd(classifier, eps, batch_size, max_iter=10, eps_step=None, num_random_init=1, **kwargs):
    from art.attacks.evasion import ProjectedGradientDescent

    from .torch_pgd import is_torch_native_case, torch_native_pgd_class

    # Madry et al.'s recipe: a random start and a step of 2.5 * eps / iterations.
    eps_step = eps_step if eps_step is not None else 2.5 * eps / max_iter
    # For a PyTorch classifier ART would pick ProjectedGradientDescentPyTorch; ours is that class with a
    # leaner loop for the plain case (helpers/torch_pgd.py says why, with the benchmark).
    attack_class = torch_native_pgd_class() if is_torch_native_case(classifier) else ProjectedGradientDescent
    return attack_class(
        classifier, eps=eps, eps_step=eps_step, max_iter=max_iter, num_random_init=num_random_init,
        batch_size=batch_size, verbose=False, **kwargs,
    )


def _deepfool(classifier, eps, batch_size, max_iter=50, epsilon=0.02, nb_grads=10, **kwargs):
    from art.attacks.evasion import DeepFool

    # ``epsilon`` is DeepFool's overshoot, not a budget: DeepFool is a minimal-perturbation attack.
    return DeepFool(classifier, max_iter=max_iter, epsilon=epsilon, nb_grads=nb_grads, batch_size=batch_size, verbose=False, **kwargs)


def _jsma(classifier, eps, batch_size, theta=1.0, gamma=0.1, **kwargs):
    from art.attacks.evasion import SaliencyMapMethod

    return SaliencyMapMethod(classifier, theta=theta, gamma=gamma, batch_size=batch_size, verbose=False, **kwargs)


def _cw(classifier, eps, batch_size, norm="2", **kwargs):
    from art.attacks.evasion import CarliniL2Method, CarliniLInfMethod

    if str(norm) in ("inf", "linf", "np.inf"):
        options = {"max_iter": 10, **kwargs}
        return CarliniLInfMethod(classifier, batch_size=batch_size, verbose=False, **options)
    # ART's initial constant (0.01) and step (0.01) are too timid for ten iterations on a small
    # network: nothing succeeds. These find adversarials for most MNIST digits in that budget.
    options = {"max_iter": 10, "binary_search_steps": 5, "learning_rate": 0.1, "initial_const": 1.0, **kwargs}
    return CarliniL2Method(classifier, batch_size=batch_size, verbose=False, **options)


def _autoattack(classifier, eps, batch_size, eps_step=None, **kwargs):
    from art.attacks.evasion import AutoAttack

    eps_step = eps_step if eps_step is not None else eps / 4
    return AutoAttack(classifier, norm=np.inf, eps=eps, eps_step=eps_step, batch_size=batch_size, **kwargs)


ATTACKS: dict[str, AttackSpec] = {
    "fgsm": AttackSpec("FGSM", _fgsm, uses_eps=True),
    "bim": AttackSpec("BIM", _bim, uses_eps=True),
    "pgd": AttackSpec("PGD", _pgd, uses_eps=True),
    "deepfool": AttackSpec("DeepFool", _deepfool, uses_eps=False),
    "jsma": AttackSpec("JSMA", _jsma, uses_eps=False),
    "cw": AttackSpec("C&W", _cw, uses_eps=False),
    "autoattack": AttackSpec("AutoAttack", _autoattack, uses_eps=True),
}


# ART attacks whose ``y`` means target classes rather than true labels.
_LABELS_ARE_TARGETS = {"SaliencyMapMethod"}


def attack_title(name: str, eps: float | None = None) -> str:
    spec = ATTACKS[name.lower()]
    return f"{spec.title} eps={eps:g}" if spec.uses_eps and eps is not None else spec.title


def make_attack(name: str, classifier, *, eps: float | None = None, batch_size: int = 128, **options):
    """Build an ART evasion attack by name: fgsm, bim, pgd, deepfool, jsma, cw, autoattack.

    ``eps`` is the L-infinity budget for the attacks that have one (fgsm, bim, pgd, autoattack);
    ``options`` go to the ART class (``max_iter``, ``eps_step``, ``theta``, ``gamma``, ...).
    """
    key = name.lower().replace("-", "").replace("&", "")
    if key not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    spec = ATTACKS[key]
    if spec.uses_eps and (eps is None or eps < 0):
        raise ValueError(f"{spec.title} needs a budget eps >= 0, got {eps!r}")
    return spec.build(classifier, eps, batch_size, **options)


def generate(attack, x: np.ndarray, y: np.ndarray | None = None, *, desc: str | None = None, chunk: int | None = None) -> np.ndarray:
    """Run ``attack.generate`` over ``x`` in chunks with one tqdm bar; returns float32 adversarials.

    Passing the true labels ``y`` avoids label leaking (attacking the model's own prediction).
    JSMA is targeted by design: ART reads its ``y`` as *target* classes, so the true labels are not
    passed to it and ART draws a random wrong target for each image.
    """
    x = np.asarray(x, dtype=np.float32)
    if type(attack).__name__ in _LABELS_ARE_TARGETS:
        y = None
    chunk = chunk or max(getattr(attack, "batch_size", 128), 1) * 4
    pieces = []
    with progress_bar(total=len(x), desc=desc or type(attack).__name__, unit="img") as progress:
        for start in range(0, len(x), chunk):
            stop = start + chunk
            labels = None if y is None else np.asarray(y)[start:stop]
            pieces.append(attack.generate(x[start:stop], y=labels).astype(np.float32))
            progress.update(len(pieces[-1]))
    return np.concatenate(pieces) if pieces else x.copy()
