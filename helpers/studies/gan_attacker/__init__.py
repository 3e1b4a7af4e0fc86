"""Study 4: a generative attacker network against MNIST classifiers.

The common study modules (``helpers/studies/__init__.py``): ``parameters``, ``reference`` (the study's
approximate values, labelled as such, never mixed with measured numbers), ``study`` (the stages the
notebook calls), ``report`` (tables, prose, headline) and ``figures`` (the study's figures 2 to 6 and the
ceilings figure). The study's own methods, one module per concept:

- ``networks``    the classifier C and the attacker A (output clamped to [-t, t] or tanh scaled by t)
- ``training``    classifier pre-training (cached), the attacker step (profiled), consecutive and alternating
                  modes with evaluations during each epoch and the attacker's training throughput
- ``ceilings``    the two attacks every learned-attacker number stands between: the universal perturbation and
                  converged white-box PGD; and the PGD-trained (robust) C1
- ``ensemble``    an attacker trained against the average loss of several classifiers, tested on an unseen one
- ``comparison``  the generator's speed: one forward pass of A against PGD on the same digits
"""
