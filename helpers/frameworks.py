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
    try:
        import torchvision  # noqa: F401  (import order matters, see above)
    except ImportError:
        pass
    import tensorflow

    return tensorflow
