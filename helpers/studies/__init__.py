"""One subpackage per study, all of the same shape (``tests/test_study_contract.py`` checks it):

- ``parameters.py``  ``PARAMETERS`` (the schema of the notebook's parameters cell) and
  ``check_combinations(params)`` (checks across parameters, raising ``ParameterError``)
- ``reference.py``   ``SOURCE`` (the study being reproduced) and ``REFERENCE`` (its own numbers,
  keyed like our headline metrics, each with where in the study it comes from)
- ``study.py``       ``STUDY`` (the id, also the notebook stem and report folder), ``TITLE`` and the
  stage functions the notebook calls, returning plain results
- ``report.py``      tables, prose written from the measured numbers, and ``headline(...)``: the list of
  ``helpers.headline.Metric`` the run reports
- ``figures.py``     every plot of the study; ``KEY_FIGURE`` names the one the index shows

plus modules for the study's own methods. Notebooks import ``helpers.notebook`` and their own study;
a study imports core modules only, never the runner or another study.
"""

STUDY_IDS = (
    "quickstart",
    "histology_defense",
    "cifar_robust_training",
    "mnist_uncertainty_detection",
    "gan_attacker",
    "flickr_transfer_attacks",
)
