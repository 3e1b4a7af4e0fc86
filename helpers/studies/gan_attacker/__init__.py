"""Study 4: a generative attacker network against MNIST classifiers.

One module per concept:

- ``networks``    the classifier C and the attacker A (output clamped to [-t, t] or tanh scaled by t)
- ``training``    per-epoch evaluation, classifier pre-training (cached), consecutive and alternating modes
- ``ensemble``    an attacker trained against the average loss of several classifiers, tested on an unseen one
- ``comparison``  PGD (through ART) with the same L-infinity budget: white box on C1, transfer to C2
- ``figures``     the study's figures 2 to 6 and the PGD comparison
- ``study``       parameters, the study's approximate reference values, orchestration and summaries
"""
