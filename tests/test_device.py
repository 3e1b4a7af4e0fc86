import random

import numpy as np
import pytest
import torch

from helpers.device import describe_device, pick_device, seed_everything


def test_pick_device_auto_and_forced_cpu():
    assert pick_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else None
    device = pick_device("auto")
    if expected:
        assert device.type == expected
    assert device.type in ("cuda", "mps", "cpu")
    assert "cpu" in describe_device(torch.device("cpu"))


def test_pick_device_rejects_unknown_and_unavailable():
    with pytest.raises(ValueError, match="one of"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            pick_device("cuda")


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_seed_everything_seeds_tensorflow_when_asked():
    from helpers.frameworks import import_tensorflow

    tf = import_tensorflow()
    seed_everything(7, tensorflow=True)
    a = tf.random.uniform((2,)).numpy()
    seed_everything(7, tensorflow=True)
    assert np.array_equal(a, tf.random.uniform((2,)).numpy())


def test_seed_rejects_negative():
    with pytest.raises(ValueError):
        seed_everything(-1)
