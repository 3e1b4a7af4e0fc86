"""Study 1: defending a fixed histology CNN with ART pre- and post-processors (harmonic-mean objective).

A fixed CNN classifies colorectal tissue tiles into four groups (artifacts, cancer, normal, other).
Only input pre-processing and output post-processing are allowed; the score is the harmonic mean of
the accuracy on clean tiles (ones the model gets right) and on adversarial tiles (ones it gets wrong).
The study's common modules (see ``helpers.studies``): ``parameters``, ``reference`` (the source study's
numbers and claims), ``study`` (the stages and ``METHODS``), ``report`` (tables, prose, findings, headline)
and ``figures``. Its methods, one module per concept:

- ``model``: the small CNN and its recipe (one-cycle learning rate, random flips and turns), trained once and
  cached, then frozen; or a user's TorchScript / state_dict file;
- ``adversarial_set``: the clean set and a configurable mix of FGSM / PGD / DeepFool adversarials;
- ``preprocessors``: the four ART pre-processors (spatial smoothing's medians from a selection network), the
  readable ``median_filter`` and the coarse-to-fine hyperparameter search;
- ``postprocessors``: the five ART post-processors, the readable ``reverse_sigmoid``, LightGBM on softmax outputs,
  its grid search and the split-ratio study, with tile-grouped splits so held-out scores are honest;
- ``adaptive``: every attack as ``helpers.gradient_attacks.pgd`` with a gradient function: the bare CNN's
  (transfer), BPDA through the pre-processor, and the end-to-end attack through a surrogate of LightGBM, refit over rounds;
- ``surrogate``: the small network that reproduces LightGBM's class probabilities, and its agreement with LightGBM;
- ``decision_attack``: ART's HopSkipJump on the whole real pipeline, wrapped as a ``BlackBoxClassifier``;
- ``jpeg_history``: clean accuracy per tissue class with and without JPEG (is JPEG confounded by the tiles' history?).
"""
