"""Study 3: detecting adversarial MNIST digits with MC-dropout uncertainty and crop-and-resize voting.

A reproduction of Alshemali, Graham and Kalita, "Toward robust image classification" (2019), one module
per concept:

- ``model``: LeNet with dropout (0.5) in its dense head, trained and cached;
- ``uncertainty``: N stochastic forward passes, vectorized over the passes; provisional class and
  uncertainty (mean over classes of the standard deviation of the softmax outputs);
- ``crops``: five overlapping crops (four corners and the centre) resized back, and their votes;
- ``thresholds``: the information-gain threshold and the search for H, L and C;
- ``detector``: the hybrid rule, its baselines and the study's three measures;
- ``adaptive``: an attacker that knows the detector (EOT over dropout masks, uncertainty penalty);

and the contract's modules: ``parameters`` (schema and checks), ``reference`` (the study's and the paper's
numbers), ``study`` (the stages the notebook calls), ``report`` (tables, prose, headline) and ``figures``.
"""
