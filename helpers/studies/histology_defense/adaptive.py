"""An attacker who knows the defense: PGD through the pre-processor (ART's BPDA gradient estimate), and
PGD through the whole defense with a differentiable surrogate of LightGBM.

The defended classifier is ART's ``PyTorchClassifier`` with the chosen pre-processor as a
``preprocessing_defences`` entry and the model's softmax as output. ART's NumPy pre-processors are
not differentiable; when ART computes a loss gradient it runs the pre-processor forward and passes
the gradient through ``estimate_gradient``, the identity for all four (BPDA, Athalye et al. 2018).
So PGD optimises against what the model sees *after* smoothing / compression, instead of against the
bare model. LightGBM, a tree ensemble, has no gradient: the attacker optimises the CNN's loss through
the pre-processor and the result is scored through the whole defense (pre-processor, CNN, LightGBM).

The end-to-end attacker (``end_to_end_classifier``) replaces LightGBM's missing gradient by that of a
small network trained to reproduce it (``surrogate.py``): PGD runs on pre-processor (BPDA) -> CNN ->
softmax -> surrogate, and every result is scored on the real pipeline, pre-processor -> CNN -> LightGBM.
"""
from __future__ import annotations

import numpy as np

from helpers import attacks
from helpers.metrics import accuracy
from .model import WithSoftmax
from .preprocessors import preprocessed_probabilities
from .surrogate import Surrogate, ThroughSurrogate, agreement, build_surrogate


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


def adaptive_comparison(model, x: np.ndarray, y: np.ndarray, *, preprocessor, postprocessor, eps: float, steps: int,
                        image_size: int, device="cpu", batch_size: int = 128) -> dict:
    """Accuracy on ``x`` (clean tiles the model gets right) under plain PGD and under BPDA-PGD through the pre-processor.

    Returns accuracies of the undefended model, the pre-processed model and the whole defense (pre + post)
    on: the clean tiles, plain PGD examples (made against the bare model: what the defense was tuned on),
    and adaptive PGD examples (made through the pre-processor), plus the adversarial examples.
    """
    bare = defended_classifier(model, image_size=image_size, device=device, logits=True)
    through_pre = defended_classifier(model, image_size=image_size, preprocessor=preprocessor, device=device, logits=True)
    plain = attacks.generate(attacks.make_attack("pgd", bare, eps=eps, max_iter=steps, batch_size=batch_size), x, y,
                             desc=f"plain PGD eps={eps:g}")
    adaptive = attacks.generate(attacks.make_attack("pgd", through_pre, eps=eps, max_iter=steps, batch_size=batch_size), x, y,
                                desc=f"adaptive BPDA-PGD eps={eps:g}")
    result = {"images": len(y), "eps": eps, "steps": steps, "x_plain": plain, "x_adaptive": adaptive}
    for name, images in (("clean", x), ("plain", plain), ("adaptive", adaptive)):
        raw = preprocessed_probabilities(model, None, images, device=device, desc=f"scoring {name}")
        pre = preprocessed_probabilities(model, preprocessor, images, device=device, desc=f"scoring {name}")
        result[name] = {
            "undefended": accuracy(raw, y),
            "pre-processor": accuracy(pre, y),
            "defense": accuracy(postprocessor(pre), y),
        }
    return result


def end_to_end_classifier(model, surrogate_net, *, image_size: int, preprocessor=None, device="cpu"):
    """ART classifier on the surrogate's logits: ``preprocessor`` (BPDA) -> model -> softmax -> surrogate of LightGBM."""
    import torch

    surrogate_net.to(torch.device(device) if device is not None else next(model.parameters()).device)
    return attacks.as_art_classifier(
        ThroughSurrogate(model, surrogate_net), input_shape=(3, image_size, image_size), nb_classes=4, device=device,
        from_logits=True, preprocessing_defences=[preprocessor] if preprocessor is not None else None,
    )


def pgd(classifier, x: np.ndarray, y: np.ndarray, *, eps: float, steps: int, batch_size: int = 128, desc: str | None = None) -> np.ndarray:
    """PGD (a random start, ``steps`` steps) at L-infinity budget ``eps`` against ``classifier``, with the true labels."""
    return attacks.generate(attacks.make_attack("pgd", classifier, eps=eps, max_iter=steps, batch_size=batch_size), x, y, desc=desc)


def end_to_end_pgd(model, surrogate_net, x: np.ndarray, y: np.ndarray, *, preprocessor, eps: float, steps: int, image_size: int,
                   device="cpu", batch_size: int = 128, desc: str | None = None) -> np.ndarray:
    """PGD through pre-processor (BPDA), CNN and the surrogate of LightGBM."""
    classifier = end_to_end_classifier(model, surrogate_net, image_size=image_size, preprocessor=preprocessor, device=device)
    return pgd(classifier, x, y, eps=eps, steps=steps, batch_size=batch_size, desc=desc or f"end-to-end PGD eps={eps:g}")


def bpda_pgd(model, x: np.ndarray, y: np.ndarray, *, preprocessor, eps: float, steps: int, image_size: int, device="cpu",
             batch_size: int = 128, desc: str | None = None) -> np.ndarray:
    """PGD through the pre-processor (BPDA) and the CNN's logits, ignoring any post-processor."""
    classifier = defended_classifier(model, image_size=image_size, preprocessor=preprocessor, device=device, logits=True)
    return pgd(classifier, x, y, eps=eps, steps=steps, batch_size=batch_size, desc=desc or f"adaptive BPDA-PGD eps={eps:g}")


def end_to_end_rounds(model, lightgbm, x: np.ndarray, y: np.ndarray, *, preprocessor, train_probs: np.ndarray,
                      held_out_probs: np.ndarray, rounds: int, samples: int, hidden: int, surrogate_steps: int, eps: float,
                      steps: int, image_size: int, seed: int = 0, device="cpu", batch_size: int = 128,
                      desc: str = "end-to-end PGD") -> tuple[np.ndarray, Surrogate]:
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
        x_round = end_to_end_pgd(model, surrogate.net, x, y, preprocessor=preprocessor, eps=eps, steps=steps, image_size=image_size,
                                 device=device, batch_size=batch_size, desc=f"{desc} (round {round_ + 1} of {rounds})")
        probs = preprocessed_probabilities(model, preprocessor, x_round, device=device, desc="scoring the round on the real pipeline")
        surrogate.agreement_attack, surrogate.attack_inputs = agreement(surrogate.net, lightgbm, probs), len(y)
        x_best[~fooled] = x_round[~fooled]
        fooled |= np.asarray(lightgbm(probs)).argmax(1) != y
        seen = np.concatenate([seen, probs.astype(np.float32)])
    surrogate.rounds = rounds
    return x_best, surrogate
