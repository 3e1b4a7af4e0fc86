"""Study 4: a generative attacker network against MNIST classifiers.

The common study modules (``helpers/studies/__init__.py``): ``parameters``, ``reference`` (the study's
approximate values, labelled as such, never mixed with measured numbers), ``study`` (the stages the
notebook calls), ``report`` (tables, prose, headline) and ``figures`` (the study's figures 2 to 6 and the
PGD comparison). The study's own methods, one module per concept:

- ``networks``    the classifier C and the attacker A (output clamped to [-t, t] or tanh scaled by t)
- ``training``    per-epoch evaluation, classifier pre-training (cached), consecutive and alternating modes
- ``ensemble``    an attacker trained against the average loss of several classifiers, tested on an unseen one
- ``comparison``  PGD (through ART) with the same L-infinity budget: white box on C1, transfer to C2
"""
