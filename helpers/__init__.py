"""advlab helpers: the shared code behind the adversarial-robustness notebooks.

Core modules, one concept each, that know no study (import what you need; frameworks load lazily):

- ``helpers.paths``      where data, caches and reports live (``ADVLAB_DATA`` and friends)
- ``helpers.device``     device choice (cuda / mps / cpu) and seeding of every framework
- ``helpers.data``       dataset loaders: MNIST, CIFAR-10, histology tiles, photo sets
- ``helpers.models``     small reference architectures used by several studies
- ``helpers.training``   a fit / evaluate loop and ``fit_or_load``, the one cached-training path
- ``helpers.cache``      content-addressed, atomic model cache
- ``helpers.attacks``    ART classifier wrapping and attacks built by name
- ``helpers.metrics``    accuracy, harmonic mean, detection counts, SSIM
- ``helpers.plots``      one figure style; figures saved beside the report as PNG and SVG
- ``helpers.params``     parameter validation; ``helpers.headline`` headline metrics beside the study's values
- ``helpers.results``    stage timing and ``metrics.json``; ``helpers.formatting`` how numbers read
- ``helpers.progress``   progress bars; ``helpers.tables`` Markdown tables
- ``helpers.frameworks`` importing TensorFlow safely next to torchvision; ``helpers.art_compat`` ART fixes

``helpers.notebook`` is the lifecycle every notebook opens and closes; ``helpers.studies.<id>`` holds
one study each, all of the same shape; ``helpers.runner`` is the batch runner, report index and
benchmarks (``python -m helpers.run``).
"""
import warnings as _warnings

# ART imports tqdm.auto, which warns when ipywidgets is missing; our bars are plain text on purpose.
_warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"
