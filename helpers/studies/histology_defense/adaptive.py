"""An attacker who knows the defense: PGD through the pre-processor, with ART's BPDA gradient estimate.

The defended classifier is ART's ``PyTorchClassifier`` with the chosen pre-processor as a
``preprocessing_defences`` entry and the model's softmax as output. ART's NumPy pre-processors are
not differentiable; when ART computes a loss gradient it runs the pre-processor forward and passes
the gradient through ``estimate_gradient``, the identity for all four (BPDA, Athalye et al. 2018).
So PGD optimises against what the model sees *after* smoothing / compression, instead of against the
bare model. LightGBM, a tree ensemble, has no gradient: the attacker optimises the CNN's loss through
the pre-processor and the result is scored through the whole defense (pre-processor, CNN, LightGBM).
"""
from __future__ import annotations

import numpy as np

from helpers import attacks
from helpers.metrics import accuracy
from .model import WithSoftmax
from .preprocessors import preprocessed_probabilities


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
