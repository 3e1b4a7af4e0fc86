"""advlab helpers: the shared code behind the adversarial-robustness notebooks.

Modules, one concept each (import what you need; heavy frameworks load lazily):

- ``helpers.paths``     where data, caches and reports live (``ADVLAB_DATA`` and friends)
- ``helpers.device``    device choice (cuda / mps / cpu) and seeding of every framework
- ``helpers.data``      dataset loaders: MNIST, CIFAR-10, histology tiles, photo sets
- ``helpers.models``    small reference architectures used by several studies
- ``helpers.training``  a fit / evaluate loop with progress bars
- ``helpers.cache``     content-addressed, atomic model cache
- ``helpers.attacks``   ART classifier wrapping and attacks built by name
- ``helpers.metrics``   accuracy, harmonic mean, detection counts, SSIM
- ``helpers.plots``     one figure style; figures saved beside the report
- ``helpers.params``    parameter validation for notebooks
- ``helpers.results``   stage timing and ``metrics.json``
- ``helpers.run``       the papermill batch runner (``python -m helpers.run``); ``studies``, ``report_index``
- ``helpers.progress``  progress bars; ``helpers.tables`` Markdown tables; ``helpers.bench`` ``make bench``
- ``helpers.frameworks`` importing TensorFlow safely next to torchvision; ``helpers.art_compat`` ART fixes

One module or subpackage per study holds that study's logic (the notebooks stay thin):
``quickstart``, ``histology_defense``, ``cifar_robust``, ``mnist_detection``, ``gan_attacker``,
``flickr_transfer``.
"""

__version__ = "0.1.0"
