"""Workarounds for ART 1.20.1 behaviour that the studies would otherwise each patch on their own, and the one
place where this collection leans on ART's private attributes (``PRIVATE_ATTRIBUTES``; ``tests/test_art_compat.py``
fails loudly when an ART release renames one of them).

- Several NumPy pre-processors (feature squeezing, JPEG compression, spatial smoothing, ...) return
  float64 for float32 input under NumPy 2's promotion rules (a division by a NumPy float64 scalar),
  and PyTorch models then reject the batch. ``keep_dtype`` subclasses a pre-processor so its output
  keeps the input's dtype; its gradient estimate (identity, i.e. BPDA) is inherited unchanged.
"""
from __future__ import annotations

import functools

import numpy as np

#: ART's private names used here, by class: instance attributes of ``PyTorchClassifier`` read by
#: ``input_gradient_classifier_class`` and the target-label helper of its PGD used by ``pgd_targets``.
PRIVATE_ATTRIBUTES = {
    "art.estimators.classification.PyTorchClassifier": ("_use_amp", "_device", "_model", "_loss", "_apply_preprocessing"),
    "art.attacks.evasion.ProjectedGradientDescentPyTorch": ("_set_targets",),
}


def pgd_targets(attack, x, y):
    """The one-hot labels ART's PGD attacks (the model's own predictions when ``y`` is None)."""
    return attack._set_targets(x, y)


def keep_dtype(preprocessor_class):
    """A subclass of an ART pre-processor whose output has the input's dtype (float32 stays float32)."""

    class KeepDtype(preprocessor_class):
        def __call__(self, x, y=None):
            processed, y = super().__call__(x, y)
            return np.asarray(processed).astype(np.asarray(x).dtype, copy=False), y

    KeepDtype.__name__ = KeepDtype.__qualname__ = preprocessor_class.__name__
    return KeepDtype


@functools.cache
def input_gradient_classifier_class():
    """ART's ``PyTorchClassifier`` whose ``loss_gradient`` differentiates with respect to the input only.

    ART computes the loss gradient with ``loss.backward()``, which also fills every weight's ``.grad`` (and
    zeroes them first): work an attack never uses. This subclass takes ``torch.autograd.grad(loss, x)``
    instead, the same number (the gradient of the loss with respect to ``x``) through the same estimator
    interface, and falls back to ART's method where ART does more (RNNs, AMP, non-framework preprocessing).
    Measured with ``make bench`` (PGD-40, quickstart CNN, 512 MNIST images, batch 128, CPU, one thread): ART's
    method ran at 0.74x torchattacks' images per second, the input-only gradient at 0.92x (0.86x for PGD-10 on
    the CIFAR MobileNetV3). The rest was ART's PGD loop around the gradient: see ``helpers/torch_pgd.py``.
    """
    import torch
    from art.estimators.classification import PyTorchClassifier

    class InputGradientPyTorchClassifier(PyTorchClassifier):
        def loss_gradient(self, x, y, training_mode: bool = False, **kwargs):
            if self.is_rnn or self._use_amp or not self.all_framework_preprocessing:
                return super().loss_gradient(x, y, training_mode=training_mode, **kwargs)
            self._model.train(mode=training_mode)
            is_tensor = isinstance(x, torch.Tensor)
            x_grad = (x.detach() if is_tensor else torch.from_numpy(np.asarray(x))).to(self._device).requires_grad_(True)
            y_t = y.detach() if isinstance(y, torch.Tensor) else torch.from_numpy(np.asarray(y))
            inputs_t, y_preprocessed = self._apply_preprocessing(x_grad, y=y_t.to(self._device), fit=False, no_grad=False)
            labels_t = self.reduce_labels(y_preprocessed)
            if isinstance(labels_t, np.ndarray):
                labels_t = torch.from_numpy(labels_t).to(self._device)
            loss = self._loss(self._model(inputs_t)[-1], labels_t)
            (grads,) = torch.autograd.grad(loss, x_grad)
            return grads if is_tensor else grads.cpu().numpy().copy()

    return InputGradientPyTorchClassifier
