"""The private ART names this collection relies on still exist: an ART release that renames one fails here,
by name, instead of deep inside a study's attack."""
from __future__ import annotations

import importlib

import pytest
import torch

from helpers.art_compat import PRIVATE_ATTRIBUTES
from helpers.attacks import as_art_classifier


def _tiny_classifier():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    return as_art_classifier(model, input_shape=(1, 2, 2), nb_classes=2)


@pytest.mark.parametrize("path", sorted(PRIVATE_ATTRIBUTES))
def test_art_still_has_the_private_names_we_use(path):
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    instance = _tiny_classifier() if name == "PyTorchClassifier" else None
    for attribute in PRIVATE_ATTRIBUTES[path]:
        owner = instance if instance is not None else cls
        assert hasattr(owner, attribute), f"ART's {name} no longer has {attribute}: update helpers/art_compat.py"


def test_input_gradient_matches_arts_own_loss_gradient():
    from art.estimators.classification import PyTorchClassifier

    ours = _tiny_classifier()
    theirs = PyTorchClassifier(model=ours.model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 2, 2), nb_classes=2,
                               clip_values=(0.0, 1.0))
    x = torch.rand(8, 1, 2, 2, generator=torch.Generator().manual_seed(0)).numpy()
    y = torch.nn.functional.one_hot(torch.arange(8) % 2, 2).float().numpy()  # ART passes one-hot labels
    assert abs(ours.loss_gradient(x, y) - theirs.loss_gradient(x, y)).max() < 1e-6
