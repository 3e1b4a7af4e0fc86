"""Study 3: detecting adversarial MNIST digits with MC-dropout uncertainty and crop-and-resize voting.

A reproduction of Lu Wang and Shuo Zhang's reproduction of Alshemali, Graham and Kalita, "Toward robust image
classification" (2019), one module per concept:

- ``model``: LeNet with dropout (0.5) in its dense head, trained and cached;
- ``uncertainty``: MC dropout, readable (``mc_dropout``) and vectorized over the N passes; provisional class
  and uncertainty (mean over classes of the standard deviation of the softmax outputs);
- ``crops``: five overlapping crops (four corners and the centre) resized back, and their votes, readable
  (``crop_vote``) and batched;
- ``thresholds``: the information-gain threshold and the search for H, L and C;
- ``detector``: the hybrid rule, its baselines and the study's three measures;
- ``bim``: FGSM, BIM-A and BIM-B through ``helpers.gradient_attacks``;
- ``adaptive``: an attacker that knows the detector, BIM on a margin loss over the dropout passes, readable
  (``margin_attack``) and fast;
- ``robust``: a PGD-adversarially-trained LeNet as a robust reference;

and the contract's modules: ``parameters`` (schema and checks), ``reference`` (the study's and the paper's
numbers, and the findings), ``study`` (the stages the notebook calls and ``METHODS``), ``report`` (tables,
prose, findings, headline) and ``figures``.
"""
