"""Importing TensorFlow safely next to PyTorch.

With tensorflow-cpu 2.21 and torch 2.13 / torchvision 0.28 on Linux x86_64, importing torchvision
*after* TensorFlow kills the process with a segmentation fault, while the other order works
(checked with ``python -c "import tensorflow; import torchvision"``). Every helper that needs
TensorFlow imports it through ``import_tensorflow()``, which loads torchvision first; notebooks that
use Keras should do the same instead of a bare ``import tensorflow``.
"""
from __future__ import annotations


def import_tensorflow():
    """Return the ``tensorflow`` module, imported after torchvision (see the module docstring)."""
    import os

    # TensorFlow's C++ start-up lines (oneDNN, CPU features) would land in every report's output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import torchvision  # noqa: F401  (import order matters, see above)
    except ImportError:
        pass
    import tensorflow

    return tensorflow


def describe_tensorflow_device() -> str:
    """``GPU (1)`` or ``cpu (2 cores)``: what TensorFlow will run on."""
    import os

    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ({len(gpus)})" if gpus else f"cpu ({os.cpu_count()} cores)"
